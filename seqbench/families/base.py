"""The contract every task family (translation, vqa, retrieval, ...) fulfils, and the shared
prepare skeleton.

The generic stages (``prepare``, ``train``, ``eval``, tracing, accelerator effects) only call
these methods; everything family-specific (data layout, batching, loss, metrics) lives in the
family's own package ``seqbench/families/<name>/`` whose ``family.py`` registers an instance
with ``FAMILY_REGISTRY.add("<name>", ...)``.

:meth:`TaskFamily.prepare` is written once here: it reads the preset's data options, merges
the tokenizer settings, applies ``--source``, fingerprints (family, source identity,
tokenizer, data options) and builds the cache folder on a miss. A family fills in the steps,
each one abstract method with one signature: :meth:`~TaskFamily.tokenizer_settings`,
:meth:`~TaskFamily.source_identity`, :meth:`~TaskFamily.build_cache`,
:meth:`~TaskFamily.read_split`, :meth:`~TaskFamily.model_inputs`, :meth:`~TaskFamily.batches`,
:meth:`~TaskFamily.loss` and :meth:`~TaskFamily.evaluate`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from seqbench.config import SourceSpec, TaskSpec, task_key
from seqbench.data import cache
from seqbench.data.generators import generator_version
from seqbench.data.splits import SPLITS
from seqbench.data.tokenize import PAD_ID
from seqbench.errors import SeqbenchError
from seqbench.families import discover
from seqbench.families.runspec import Rule, RunSpec, resolve
from seqbench.metrics.signature import Signature
from seqbench.progress import console
from seqbench.registry import Registry, did_you_mean

# Samples traced per (checkpoint, split) unless a family says otherwise: enough for stable
# statistics, cheap to simulate.
TRACE_SAMPLES = 32


@dataclass
class Prepared:
    """A prepared task: its cache folder and manifest (splits, tokenizer files, sizes), and
    the run spec (no model) it was prepared under."""

    run: RunSpec
    directory: Path
    manifest: dict[str, Any]

    @property
    def spec(self) -> TaskSpec:
        return self.run.spec

    @property
    def subset(self) -> str | None:
        return self.run.subset

    @property
    def preset(self) -> str:
        return self.run.preset

    @property
    def key(self) -> str:
        return task_key(self.spec, self.subset)

    @property
    def fingerprint(self) -> str:
        return str(self.manifest["fingerprint"])

    def split_names(self) -> list[str]:
        return list(self.manifest.get("splits", {}))

    def require_split(self, split: str) -> None:
        if split not in self.manifest.get("splits", {}):
            raise SeqbenchError(
                f"task {self.key!r} has no split {split!r}",
                f"choose one of: {', '.join(self.split_names())}",
            )


@dataclass
class EvalOutcome:
    """What evaluating a model on one split measured.

    ``units`` counts what throughput is expressed in (target tokens for translation,
    samples for VQA, queries for retrieval); ``unit`` names it.
    """

    metrics: dict[str, float]
    primary: str
    signature: Signature
    samples: int
    units: int
    unit: str
    wall_s: float
    breakdown: dict[str, Any] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    lower_is_better: bool = False  # perplexity: training keeps the lowest dev score

    @property
    def score(self) -> float:
        return float(self.metrics[self.primary])

    @property
    def gain(self) -> float:
        """The score oriented so that higher is better (what model selection maximises)."""
        return -self.score if self.lower_is_better else self.score


class TaskFamily(ABC):
    """One family of tasks; a stateless interpreter of task specs.

    Class attributes are the family's data, not code: ``data_option_keys`` (preset options
    that change the prepared data, so part of the fingerprint), ``source_override_keeps``
    (what of the spec's source a ``--source`` override keeps), ``subset_in_fingerprint``
    and ``trace_limit`` (samples traced per checkpoint and split; None traces the whole
    split).
    """

    name: str = ""
    data_option_keys: tuple[str, ...] = ("max_train", "max_eval", "seed")
    # Preset options the family reads beyond the data options and PRESET_KEYS (e.g. an
    # evaluation's stride): a preset key in neither is a typo and is refused. The run spec
    # carries their values as ``eval_options``.
    preset_option_keys: tuple[str, ...] = ()
    # Training options the family's batches or loss read beyond the loop's own, each with its
    # (type, lowest, highest) or None (free form, checked by the family): the run spec checks
    # them with the loop's, and refuses any other key with the file and the key.
    train_option_rules: dict[str, Rule] = {}
    source_override_keeps: tuple[str, ...] = ("fields", "splits")
    subset_in_fingerprint: bool = False
    trace_limit: int | None = TRACE_SAMPLES

    # --- prepare: the shared skeleton ----------------------------------------------------

    def prepare(
        self,
        spec: TaskSpec,
        subset: str | None,
        preset: str,
        *,
        source_override: str | None = None,
        force: bool = False,
    ) -> tuple[Prepared, bool]:
        """:meth:`prepare_run` of the preset's run spec; returns (prepared, was_cached)."""
        run = resolve(self, spec, subset, preset)
        return self.prepare_run(run, source_override=source_override, force=force)

    def prepare_run(
        self, run: RunSpec, *, source_override: str | None = None, force: bool = False
    ) -> tuple[Prepared, bool]:
        """Build (or find in the cache) the prepared data; returns (prepared, was_cached)."""
        data = dict(run.data)
        tokenizer = self.tokenizer_settings(dict(run.tokenizer))
        source = self.effective_source(run.spec.source, source_override)
        parts: dict[str, Any] = {"family": self.name}
        if self.subset_in_fingerprint:
            parts["subset"] = run.subset
        parts.update(
            source=self.source_identity(source, run.subset, data), tokenizer=tokenizer, data=data
        )

        def build(tmp: Path) -> dict[str, Any]:
            return self.build_cache(tmp, source, run.subset, data, tokenizer)

        return cached_prepare(run, parts, build, force=force)

    def data_options(self, spec: TaskSpec, preset: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The preset options that change the prepared data (part of the fingerprint), read
        by the run spec's resolver from ``raw``, the options of ``spec``'s ``preset``.

        A family that normalises more of them extends this (``super().data_options``).
        """
        out = {k: raw.get(k) for k in self.data_option_keys}
        out["seed"] = int(out.get("seed") or 0)
        return out

    def effective_source(self, spec_source: SourceSpec, override: str | None) -> SourceSpec:
        """The spec's source, or ``--source`` keeping the spec's ``source_override_keeps``."""
        if not override:
            return spec_source
        parsed = SourceSpec.from_cli(override)
        kept = {key: dict(getattr(spec_source, key)) for key in self.source_override_keeps}
        return dataclasses.replace(parsed, **kept)

    # The family's own modules, whose functions fill the steps it does not write itself:
    # ``steps`` (its prepare.py: ``tokenizer_settings(raw)``, ``build_cache(tmp, source,
    # data, tokenizer)``), ``store`` (``read_split(directory, split)``) and ``test_sets``
    # (``build(tmp, source, model_data, model_manifest)``).
    steps: ModuleType | None = None
    store: ModuleType | None = None
    test_sets: ModuleType | None = None

    def _module(self, role: str) -> ModuleType:
        module = getattr(self, role)
        if module is None:  # a contract error of the family's code, not a user's
            raise NotImplementedError(f"the {self.name} family names no {role} module")
        return module

    def tokenizer_settings(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Normalised settings from the spec's ``tokenizer:`` merged with the preset's."""
        return self._module("steps").tokenizer_settings(raw)

    # What the shared source_identity hashes of a source beyond its kind and description,
    # and version numbers of generator inputs besides the generator's own (binding's sounds).
    source_fields: tuple[str, ...] = ("options",)
    generator_versions: dict[str, int] = {}
    # Whether a non-generated source's test split was once cut (see WHOLE_TEST_MARKER).
    marks_whole_test: bool = True

    def source_identity(
        self, source: SourceSpec, subset: str | None, data: dict[str, Any]
    ) -> dict[str, Any]:
        """What the fingerprint hashes about ``source``, without reading the data: by
        default :func:`source_identity_of` with the class's ``source_fields``,
        ``generator_versions`` and ``marks_whole_test``, and its files by
        :meth:`local_files`. A family whose sources say more (an opened hub dataset's
        revision) writes its own."""
        return source_identity_of(
            source,
            self.source_fields,
            generator_versions=self.generator_versions,
            files=self.local_files,
            whole_test=self.marks_whole_test,
        )

    def local_files(self, path: Path) -> Any:
        """What a local source's fingerprint hashes of its files (:func:`local_files_identity`)."""
        return local_files_identity(path)

    def build_cache(
        self,
        tmp: Path,
        source: SourceSpec,
        subset: str | None,
        data: dict[str, Any],
        tokenizer: dict[str, Any],
    ) -> dict[str, Any]:
        """Read, split, cap, tokenize and write every split into ``tmp``; returns the manifest."""
        return self._module("steps").build_cache(tmp, source, data, tokenizer)

    # --- reading prepared data ----------------------------------------------------------

    def read_split(self, directory: Path, split: str) -> Any:
        """One split of a prepared cache folder, in memory."""
        return self._module("store").read_split(directory, split)

    def split_data(self, prepared: Prepared, split: str) -> Any:
        """One prepared split, memoised per process (keyed by the files' hashes)."""
        prepared.require_split(split)
        files = json.dumps(prepared.manifest.get("files", {}), sort_keys=True)
        key = hashlib.sha256(files.encode()).hexdigest()
        return _read_split_cached(self, str(prepared.directory), split, key)

    # --- models, training, evaluation ---------------------------------------------------

    # Whether :meth:`evaluate` places its inputs on the model's device (a GPU run scores
    # there); a family without it is scored on the CPU, the model moved there for it.
    evaluates_on_device: bool = False

    def model_config(self, run: RunSpec, prepared: Prepared) -> dict[str, Any]:
        """The config dict the model factory gets: the run's model options (the preset's
        ``model`` with the model's ``model_overrides``), then the sizes the data fixes."""
        return {**run.model_options, **self.model_inputs(prepared)}

    @abstractmethod
    def model_inputs(self, prepared: Prepared) -> dict[str, Any]:
        """The model config the data fixes (vocabulary sizes, image size, pad id...)."""

    @abstractmethod
    def batches(
        self,
        prepared: Prepared,
        split: str,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        epoch: int = 0,
        run: RunSpec | None = None,
    ) -> Iterator[Any]:
        """Training batches of ``split`` for ``epoch``; ``run``: the model's run spec (its
        training options), the prepared data's own (no model) when not given."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any) -> Tensor:
        """Mean training loss of ``batch`` (a scalar tensor)."""

    @abstractmethod
    def evaluate(
        self,
        model: nn.Module,
        prepared: Prepared,
        split: str,
        *,
        limit: int | None = None,
        beam: int = 1,
        batch_size: int = 64,
        progress: bool = True,
    ) -> EvalOutcome:
        """Score ``model`` on ``split`` (the first ``limit`` examples when given).

        Every model op must go through ``seqbench.ops`` so that tracing and accelerator
        effects, installed by the caller with ``ops.hooks``, see the real inference work.
        """

    def steps_per_epoch(self, run: RunSpec, prepared: Prepared, batch_size: int) -> int:
        """Training batches per epoch (sets the learning-rate schedule's length): one per
        ``batch_size`` train examples unless a family cuts its batches otherwise."""
        entry = prepared.manifest.get("splits", {}).get("train", 0)
        if isinstance(entry, dict):
            entry = entry.get("size", entry.get("examples", 0))
        return max(1, -(-int(entry) // batch_size))

    def trace_phases(self, model: nn.Module, prepared: Prepared, split: str) -> dict[str, int]:
        """Extra traced work run inside ``ops.phase`` blocks (generation: ``prefill`` and
        ``decode``), called under the tracer after :meth:`evaluate`; returns the units
        (tokens) each phase produced. Families without phases keep this empty default."""
        return {}

    def extra_workloads(
        self, model: nn.Module, prepared: Prepared, split: str
    ) -> list[tuple[dict[str, Any], Any]]:
        """Workloads measured beside the split's own (faces: the gallery search at ICE's
        data-set sizes), each ``(facts, trace)``; the eval stage prices every trace on every
        profile (a ``None`` trace is listed unpriced). Most families have none."""
        return []

    def prepare_test_set(
        self,
        run: RunSpec,
        source: SourceSpec,
        model_data: Path,
        model_manifest: dict[str, Any],
        *,
        force: bool = False,
    ) -> Prepared:
        """``source`` read whole as a ``test`` split, encoded as the checkpoint's data was
        (``model_data``: its tokenizer files, ``model_manifest``: its prepared manifest).

        Written once like :meth:`prepare_run`: cached under ``NAME@FOLDER`` by
        :meth:`test_set_identity`, built by :meth:`build_test_set`.
        """
        prepared, _ = cached_prepare(
            dataclasses.replace(run, spec=test_set_spec(run.spec, source), subset=None),
            self.test_set_identity(source, model_data, model_manifest),
            lambda tmp: self.build_test_set(tmp, source, model_data, model_manifest),
            force=force,
        )
        return prepared

    def test_set_identity(
        self, source: SourceSpec, model_data: Path, model_manifest: dict[str, Any]
    ) -> dict[str, Any]:
        """What an external test set's fingerprint hashes: the source and the checkpoint's
        tokenizer files. A family without external test sets keeps this refusal."""
        raise SeqbenchError(
            f"the {self.name} family cannot read an external test set yet",
            "evaluate on the task's own test split (drop --test-set)",
        )

    def build_test_set(
        self, tmp: Path, source: SourceSpec, model_data: Path, model_manifest: dict[str, Any]
    ) -> dict[str, Any]:
        """Write ``source`` as the ``test`` split into ``tmp``; returns the manifest.
        Reached only after :meth:`test_set_identity` accepted the source."""
        return self._module("test_sets").build(tmp, source, model_data, model_manifest)


@functools.lru_cache(maxsize=8)
def _read_split_cached(family: TaskFamily, directory: str, split: str, files_key: str) -> Any:
    return family.read_split(Path(directory), split)


# --- helpers every family's prepare and batching share ------------------------------------


def split_caps(data: dict[str, Any]) -> dict[str, int | None]:
    """Per-split size caps from the data options: ``max_train`` (train), ``max_eval`` (dev).

    A test split is never capped: its scores must compare with published ones, so it is
    prepared whole and only ``eval --limit`` (recorded as partial) scores fewer.
    """
    return {"train": data["max_train"], "dev": data["max_eval"], "test": None}


# Until max_eval stopped capping test splits, a preset with max_eval set prepared a capped
# test split (and a real retrieval/binding source's test split was cut to images.test): such
# presets and sources hash this marker too, so their old caches miss instead of serving a
# capped test split. Presets without max_eval prepared the same data before and keep theirs.
WHOLE_TEST_MARKER = {"test_split": "whole"}


def mark_whole_test(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` plus :data:`WHOLE_TEST_MARKER` where ``max_eval`` is set (see there)."""
    return {**data, **WHOLE_TEST_MARKER} if data.get("max_eval") is not None else data


def local_files_identity(path: Path) -> list[tuple[str, int, int]]:
    """(absolute path, size, mtime ns) of a local source's file, or of every file under its
    folder: what a fingerprint hashes so that an edited file rebuilds the cache."""
    path = path.expanduser()
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    return [
        (str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.is_file()
    ]


def source_identity_of(
    source: SourceSpec,
    fields: tuple[str, ...] = ("options",),
    *,
    generator_versions: dict[str, int] | None = None,
    files: Callable[[Path], Any] = local_files_identity,
    whole_test: bool = True,
) -> dict[str, Any]:
    """A source's kind, description and ``fields``, plus the generator's version (and
    ``generator_versions``) or the local files (``files``); a non-generated source also
    hashes :data:`WHOLE_TEST_MARKER` when ``whole_test``."""
    identity: dict[str, Any] = {"kind": source.kind, "describe": source.describe()}
    identity.update({name: getattr(source, name) for name in fields})
    if source.kind == "generator":
        identity["version"] = generator_version(str(source.generator))
        identity.update(generator_versions or {})
    elif source.kind == "local":
        identity["files"] = files(Path(str(source.local)))
    if whole_test and source.kind != "generator":
        # a source's own test split is read whole now (it was cut to images.test before)
        identity.update(WHOLE_TEST_MARKER)
    return identity


def capped_split_sizes(data: dict[str, Any]) -> dict[str, int | None]:
    """Examples per split of an image-based family (retrieval, binding): the preset's
    ``images`` per split, capped by ``max_train``/``max_eval`` (dev). ``images.test`` is the
    size of a generated or carved test split; a source's own test split is read whole."""
    caps = split_caps(data)
    sizes = {}
    for split in SPLITS:
        given = [int(v) for v in (data["images"].get(split), caps[split]) if v is not None]
        sizes[split] = min(given) if given else None
    return sizes


def pad_ids(rows: list[list[int]]) -> Tensor:
    """Right-pad token id lists with ``PAD_ID`` into a LongTensor [B, max(len, 1)]."""
    out = torch.full((len(rows), max([1, *map(len, rows)])), PAD_ID, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


FAMILY_REGISTRY: Registry[TaskFamily] = Registry("family")


# Preset options every family reads (the model, training and tokenizer settings).
PRESET_KEYS = (
    "models",
    "model",
    "model_overrides",
    "train",
    "train_overrides",
    "tokenizer",
    "test_limit",
)


def family_for(spec: TaskSpec) -> TaskFamily:
    """The family object interpreting ``spec`` (imports the family packages on first use).

    The spec's preset keys are checked against what that family reads, so a typo fails here
    with the file and key instead of being silently ignored.
    """
    family = family_named(spec.family)
    check_preset_keys(spec, family)
    return family


def check_preset_keys(spec: TaskSpec, family: TaskFamily) -> None:
    """Refuse a preset key that neither the family nor the shared stages read."""
    known = {*PRESET_KEYS, *family.data_option_keys, *family.preset_option_keys}
    where = f"task spec {spec.path.name}" if spec.path else f"task {spec.name!r}"
    for preset, options in spec.presets.items():
        for key in sorted(set(options) - known):
            raise SeqbenchError(
                f"{where}: presets.{preset} has unknown key {key!r};{did_you_mean(key, known)}",
                f"keys the {family.name} family reads: {', '.join(sorted(known))}",
            )


def run_spec(
    spec: TaskSpec, subset: str | None, preset: str, model: str | None = None, seed: int = 0
) -> RunSpec:
    """The run spec of ``model`` (None: the preset's shared options) on the task (device
    ``auto``; :meth:`RunSpec.on` names another)."""
    return resolve(family_for(spec), spec, subset, preset, model, seed)


def family_named(name: str) -> TaskFamily:
    """The registered family ``name``; unknown names fail with the known ones."""
    discover()
    return FAMILY_REGISTRY.get(name)


def cached_prepare(
    run: RunSpec,
    parts: dict[str, Any],
    build: Callable[[Path], dict[str, Any]],
    *,
    force: bool = False,
) -> tuple[Prepared, bool]:
    """The verified cache folder for ``parts`` (the fingerprinted inputs), or a new one.

    ``build(tmp_dir) -> manifest`` writes the data into a temp folder that is published
    atomically; a folder that fails verification (killed run, tampering) is rebuilt.
    Returns (prepared, was_cached).
    """
    fp = cache.fingerprint(parts)
    key = run.key
    directory = cache.task_cache_dir(key, fp)
    manifest = cache.verify(directory)
    if manifest is not None and not force:
        return Prepared(run, directory, manifest), True
    # One builder per entry: a second prepare waits, then finds the first one's result.
    with cache.building(directory, say=console):
        manifest = cache.verify(directory)
        if manifest is not None and not force:
            return Prepared(run, directory, manifest), True
        if manifest is None and directory.exists():
            console.print(
                f"[yellow]warning:[/] cache {directory} is incomplete or corrupt; rebuilding it"
            )

        def writer(tmp: Path) -> dict[str, Any]:
            return {"task": key, "fingerprint": fp, **build(tmp)}

        manifest = cache.build(directory, writer)
    return Prepared(run, directory, manifest), False


def test_set_spec(spec: TaskSpec, source: SourceSpec) -> TaskSpec:
    """The task spec an external test set is filed under: ``NAME@FOLDER`` (its own row)."""
    where = Path(str(source.local or source.hub or "external")).expanduser()
    label = where.name.removesuffix(".gz").split(".")[0] if where.suffix else where.name
    return dataclasses.replace(spec, name=f"{spec.name}@{label}", source=source)


def split_data(prepared: Prepared, split: str) -> Any:
    """One split of ``prepared``, read by the family that prepared it."""
    return family_for(prepared.spec).split_data(prepared, split)
