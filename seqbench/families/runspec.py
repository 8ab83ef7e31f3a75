"""One run specification: (task spec, subset, preset, model, seed) resolved once.

:func:`resolve` is the only reader of a spec's raw preset (``TaskSpec.preset``): it merges the
preset's ``model``/``train`` blocks with the model's ``model_overrides``/``train_overrides``,
checks every training option against the loop's table and the family's declared options
(one-line error naming file, key and range), and returns a frozen :class:`RunSpec` that the
stages, the training loop, the evaluator, the suites and the sweep carry. Nothing downstream
looks a preset up again, so an option is read from one place or not at all.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from seqbench.config import TaskSpec, task_key
from seqbench.dropout import MASK_KINDS
from seqbench.errors import SeqbenchError

# The training loop's own options and their defaults (what an unset option means).
DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 64,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "warmup_steps": 100,
    "clip_norm": 1.0,
    "patience": 3,
    "eval_limit": 500,
    "min_lr_ratio": 0.1,
}

# A numeric option's rule: (type, lowest, highest); None for no bound.
Range = tuple[type, float | None, float | None]
# A family-declared option's rule: a Range, or None for a free-form value the family checks.
Rule = Range | None

LOOP_RANGES: dict[str, Range] = {
    "epochs": (int, 1, None),
    "batch_size": (int, 1, None),
    "lr": (float, 0.0, None),
    "weight_decay": (float, 0.0, None),
    "warmup_steps": (int, 0, None),
    "clip_norm": (float, 0.0, None),
    "patience": (int, 1, None),
    "eval_limit": (int, 1, None),
    "min_lr_ratio": (float, 0.0, 1.0),
}
# Training options that take one of a few words: the words allowed, the first being what an
# unset option means. Not in DEFAULTS: a run's identity (its checkpoint folder) holds the
# options it was given, so a spec that sets ``precision`` opts in and older runs keep theirs.
# ``dropout_masks``: how dropout draws its masks (seqbench.dropout).
CHOICE_OPTIONS: dict[str, tuple[str, ...]] = {
    "precision": ("fp32", "bf16", "auto"),
    "dropout_masks": MASK_KINDS,
}
# Training options that are on or off (false when unset; like CHOICE_OPTIONS, only a spec that
# sets one has it in its identity). ``compile``: the model's forward and backward compiled by
# torch.compile (inductor) and a fused AdamW step; ``fused_optimizer``: the fused AdamW step
# alone (the same update, other last-place bits than torch's default).
FLAG_OPTIONS: tuple[str, ...] = ("compile", "fused_optimizer")


class FamilyOptions(Protocol):
    """What the resolver needs of a task family (``TaskFamily`` fulfils it)."""

    name: str
    # Training options the family's batches or loss read, with their rule.
    train_option_rules: Mapping[str, Rule]
    # Preset options read at evaluation (an evaluation stride, a scaling table).
    preset_option_keys: tuple[str, ...]

    def data_options(
        self, spec: TaskSpec, preset: str, raw: Mapping[str, Any]
    ) -> dict[str, Any]: ...


def check_options(
    opts: dict[str, Any], where: str, family_rules: Mapping[str, Rule] | None = None
) -> dict[str, Any]:
    """Type- and range-check training options; one-line error naming file, key and range.

    ``family_rules``: the options the task's family declares beyond the loop's own.
    """
    rules: dict[str, Rule] = {**LOOP_RANGES, **(family_rules or {})}
    for key, value in opts.items():
        if key in CHOICE_OPTIONS:
            allowed = ", ".join(CHOICE_OPTIONS[key])
            if value not in CHOICE_OPTIONS[key]:
                raise SeqbenchError(
                    f"{where}: training option {key} = {value!r} is not one of {allowed}",
                    f"set {key} to one of: {allowed}",
                )
            continue
        if key in FLAG_OPTIONS:
            if not isinstance(value, bool):
                raise SeqbenchError(
                    f"{where}: training option {key} = {value!r} is not true or false",
                    f"set {key} to true or false",
                )
            continue
        if key not in rules:
            known = sorted([*rules, *CHOICE_OPTIONS, *FLAG_OPTIONS])
            raise SeqbenchError(
                f"{where}: unknown training option {key!r}", f"known options: {', '.join(known)}"
            )
        rule = rules[key]
        if rule is None:  # free form: the family reading it checks its shape
            continue
        kind, low, high = rule
        wrong_type = isinstance(value, bool) or not isinstance(value, (int, float))
        if kind is int and not wrong_type and not float(value).is_integer():
            wrong_type = True
        span = f">= {low}" if high is None else f"in [{low}, {high}]"
        if wrong_type or not math.isfinite(value):
            raise SeqbenchError(
                f"{where}: training option {key} = {value!r} is not a finite "
                f"{'whole number' if kind is int else 'number'}",
                f"set {key} to a {kind.__name__} {span}",
            )
        if (low is not None and value < low) or (high is not None and value > high):
            raise SeqbenchError(
                f"{where}: training option {key} = {value!r} is out of range",
                f"set {key} to a value {span}",
            )
    return opts


@dataclass(frozen=True)
class TrainOptions:
    """A run's checked training options (the preset's ``train:`` with the model's
    ``train_overrides:`` merged over the loop's defaults).

    Values keep the type the spec wrote (``lr: 1`` stays an int) because the checkpoint
    identity hashes them as written. ``family`` holds the options the family declared
    (``label_smoothing``, ``questions_per_image``, ``curriculum``), ``precision``,
    ``dropout_masks``, ``compile`` and ``fused_optimizer``, only where the spec sets them.
    """

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_steps: int
    clip_norm: float
    patience: int
    eval_limit: int
    min_lr_ratio: float
    family: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, opts: Mapping[str, Any]) -> TrainOptions:
        loop = {key: opts[key] for key in DEFAULTS}
        return cls(**loop, family={k: v for k, v in opts.items() if k not in DEFAULTS})

    def to_dict(self) -> dict[str, Any]:
        """The options as the checkpoint identity and ``config.json`` record them."""
        return {**{key: getattr(self, key) for key in DEFAULTS}, **self.family}

    def get(self, key: str, default: Any = None) -> Any:
        """A family-declared option (or ``precision``), ``default`` when the spec omits it."""
        return self.family.get(key, default)

    @property
    def precision(self) -> str:
        return str(self.family.get("precision", CHOICE_OPTIONS["precision"][0]))

    @property
    def compile(self) -> bool:
        """Whether the training step runs compiled (torch.compile) with a fused AdamW."""
        return bool(self.family.get("compile", False))

    @property
    def fused_optimizer(self) -> bool:
        """Whether AdamW runs as one fused kernel per step (always so when compiled)."""
        return self.compile or bool(self.family.get("fused_optimizer", False))

    @property
    def dropout_masks(self) -> str:
        """How dropout draws its masks: ``bernoulli`` (torch's) or ``packed``."""
        return str(self.family.get("dropout_masks", CHOICE_OPTIONS["dropout_masks"][0]))


@dataclass(frozen=True)
class RunSpec:
    """Everything one run reads of its task spec and preset, resolved and checked once.

    ``model`` is None for what does not depend on a model (prepare, a suite's task row):
    then ``model_options`` are the preset's shared ones and ``train`` has no overrides.
    """

    spec: TaskSpec
    subset: str | None
    preset: str
    model: str | None
    seed: int
    data: Mapping[str, Any]  # data options, as the family normalises them (fingerprinted)
    tokenizer: Mapping[str, Any]  # the spec's tokenizer with the preset's merged over it
    model_options: Mapping[str, Any]  # the preset's ``model`` with the model's overrides
    train: TrainOptions
    models: tuple[str, ...]  # the models the preset runs (its ``models`` or the spec's)
    test_limit: int | None = None  # the unit-test preset scores this many test examples
    eval_options: Mapping[str, Any] = field(default_factory=dict)  # family preset options
    # Where training and scoring run (``auto``, ``cpu``, ``cuda``, ``mps``): not part of the
    # run's identity (the record says where it ran), so it is no preset key.
    device: str = "auto"
    family: FamilyOptions | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        return task_key(self.spec, self.subset)

    @property
    def where(self) -> str:
        """How errors name this run's configuration: the spec file and preset."""
        return where(self.spec, self.preset)

    def on(self, device: str) -> RunSpec:
        """The same run on ``device`` (the same identity: the device is not part of it)."""
        return dataclasses.replace(self, device=device)

    def with_model(self, model: str, seed: int | None = None) -> RunSpec:
        """The same task and preset resolved for ``model`` (and ``seed``)."""
        assert self.family is not None, "a RunSpec is built by resolve()"
        seed = self.seed if seed is None else seed
        return resolve(
            self.family, self.spec, self.subset, self.preset, model, seed, device=self.device
        )


def where(spec: TaskSpec, preset: str) -> str:
    """How errors name a preset of a spec: ``task spec FILE (preset NAME)``."""
    return f"task spec {spec.path.name if spec.path else spec.name} (preset {preset})"


def resolve(
    family: FamilyOptions,
    spec: TaskSpec,
    subset: str | None,
    preset: str,
    model: str | None = None,
    seed: int = 0,
    *,
    device: str = "auto",
) -> RunSpec:
    """The one place a preset is read: ``spec``'s ``preset`` for ``model`` and ``seed``,
    run on ``device``."""
    raw = spec.preset(preset)
    run_model = {**raw.get("model", {})}
    train = {**DEFAULTS, **raw.get("train", {})}
    if model is not None:
        run_model.update(raw.get("model_overrides", {}).get(model, {}))
        train.update(raw.get("train_overrides", {}).get(model, {}))
    check_options(train, where(spec, preset), family.train_option_rules)
    test_limit = raw.get("test_limit")
    return RunSpec(
        spec=spec,
        subset=subset,
        preset=preset,
        model=model,
        seed=seed,
        data=family.data_options(spec, preset, raw),
        tokenizer={**spec.tokenizer, **raw.get("tokenizer", {})},
        model_options=run_model,
        train=TrainOptions.from_dict(train),
        models=tuple(raw.get("models", spec.models)),
        test_limit=int(test_limit) if test_limit else None,
        eval_options={k: raw[k] for k in family.preset_option_keys if k in raw},
        device=device,
        family=family,
    )
