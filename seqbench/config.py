"""Task specs (``tasks/*.yaml``): typed, validated on load.

A task spec is data; code only interprets it. A task may have *subsets* (SCAN's split
schemes ``simple``, ``length``, ...), addressed on the command line as ``scan:length``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seqbench import paths
from seqbench.errors import SeqbenchError
from seqbench.registry import did_you_mean
from seqbench.yamlfile import load_yaml

# Size presets every task spec may define: tiny (tests), quick (demo), full (leaderboard). The
# CLI's choices, the spec validation and the default all read these two names.
PRESETS = ("tiny", "quick", "full")
DEFAULT_PRESET = "quick"
# Seeds go to numpy's and torch's generators; numpy's legacy seed takes 32 bits.
MAX_SEED = 2**32 - 1
_FAMILIES_DIR = Path(__file__).parent / "families"


def family_names() -> list[str]:
    """The task families a spec may name: the packages ``seqbench/families/<name>/family.py``.

    Read from disk rather than by importing them (they load torch), so that validating a
    spec stays fast; each package registers under its folder's name (a test checks it).
    """
    return sorted(p.parent.name for p in _FAMILIES_DIR.glob("*/family.py"))


@dataclass(frozen=True)
class SourceSpec:
    """Where a task's data comes from: exactly one of generator / hub / local."""

    generator: str | None = None
    hub: str | None = None
    hub_config: str | None = None
    local: str | None = None
    format: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    splits: dict[str, str] = field(default_factory=dict)  # our split -> source split name
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "generator" if self.generator else "hub" if self.hub else "local"

    def describe(self) -> str:
        if self.generator:
            return f"generated ({self.generator})"
        if self.hub:
            return f"hub {self.hub}" + (f" [{self.hub_config}]" if self.hub_config else "")
        return f"local {self.local}"

    @classmethod
    def parse(cls, raw: dict[str, Any], where: str) -> SourceSpec:
        kinds = [k for k in ("generator", "hub", "local") if raw.get(k)]
        if len(kinds) != 1:
            raise SeqbenchError(
                f"{where}: source must name exactly one of generator/hub/local, "
                f"got {kinds or 'none'}",
                "e.g. `source: {generator: scan}` or `source: {hub: bentrevett/multi30k}`",
            )
        known = {"generator", "hub", "config", "local", "format", "fields", "splits", "options"}
        _reject_unknown(raw, known, f"{where}: source")
        return cls(
            generator=raw.get("generator"),
            hub=raw.get("hub"),
            hub_config=raw.get("config"),
            local=raw.get("local"),
            format=raw.get("format"),
            fields=dict(raw.get("fields") or {}),
            splits=dict(raw.get("splits") or {}),
            options=dict(raw.get("options") or {}),
        )

    @classmethod
    def from_cli(cls, text: str) -> SourceSpec:
        """Parse ``--source local:PATH[::FORMAT]`` or ``--source hub:ID[:CONFIG]``."""
        kind, _, rest = text.partition(":")
        if kind == "local" and rest:
            path, _, fmt = rest.partition("::")
            return cls(local=path, format=fmt or None)
        if kind == "hub" and rest:
            hub_id, _, config = rest.partition(":")
            return cls(hub=hub_id, hub_config=config or None)
        raise SeqbenchError(
            f"cannot read --source {text!r}",
            "use local:PATH (tsv, jsonl, parquet, or PREFIX for Moses files) or hub:ID[:CONFIG]",
        )


@dataclass(frozen=True)
class TaskSpec:
    """One task: a family, a source, splits, a tokenizer, metrics, models and size presets."""

    name: str
    family: str
    description: str
    source: SourceSpec
    tokenizer: dict[str, Any]
    metrics: list[str]
    models: list[str]
    presets: dict[str, dict[str, Any]]
    subsets: list[str] = field(default_factory=list)
    default_subset: str | None = None
    size: str = ""
    # A model distilled from another task's checkpoint names it: {task: NAME, model: MODEL}
    # (binding: the frozen clip whose embedding space the audio encoder joins).
    teacher: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def preset(self, name: str) -> dict[str, Any]:
        """The options of size preset ``name`` (train size caps, epochs, model sizes...).

        Read by one caller, :func:`seqbench.families.runspec.resolve`: everything else takes
        the run spec it resolves."""
        if name not in self.presets:
            raise SeqbenchError(
                f"task {self.name!r} has no preset {name!r}",
                f"choose one of: {', '.join(self.presets)}",
            )
        return dict(self.presets[name])

    def resolve_subset(self, subset: str | None) -> str | None:
        if not self.subsets:
            if subset:
                raise SeqbenchError(
                    f"task {self.name!r} has no subsets", f"use plain {self.name!r}"
                )
            return None
        subset = subset or self.default_subset or self.subsets[0]
        if subset not in self.subsets:
            raise SeqbenchError(
                f"task {self.name!r} has no subset {subset!r};{did_you_mean(subset, self.subsets)}",
                f"choose one of: {', '.join(self.subsets)}",
            )
        return subset


# Preset sizes every family reads the same way: a count >= 1, or null for "all".
PRESET_COUNTS = ("max_train", "max_eval", "max_length", "image_size")


def _check_preset(name: str, opts: Any, where: str) -> dict[str, Any]:
    """A preset's mapping with its sizes, seed and fractions type- and range-checked."""
    if not isinstance(opts, dict):
        raise SeqbenchError(f"{where}: preset {name!r} must be a mapping", "see tasks/scan.yaml")
    for key in PRESET_COUNTS:
        value = opts.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise SeqbenchError(
                f"{where}: presets.{name}.{key} = {value!r} is not a whole number >= 1",
                f"set {key} to a count >= 1, or null for all",
            )
    seed = opts.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise SeqbenchError(
            f"{where}: presets.{name}.seed = {seed!r} is not a whole number in [0, 2^32)",
            "e.g. seed: 0",
        )
    fraction = opts.get("dev_fraction")
    if fraction is not None and (
        isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1
    ):
        raise SeqbenchError(
            f"{where}: presets.{name}.dev_fraction = {fraction!r} is not in (0, 1)",
            "e.g. dev_fraction: 0.1",
        )
    for key in ("train", "model", "model_overrides", "train_overrides"):
        if opts.get(key) is not None and not isinstance(opts[key], dict):
            raise SeqbenchError(
                f"{where}: presets.{name}.{key} must be a mapping, got {opts[key]!r}",
                "see tasks/scan.yaml",
            )
    return dict(opts)


def check_teacher(raw: Any, where: str) -> dict[str, str]:
    """``teacher: {task: NAME, model: MODEL}`` (both names), or {} when the spec has none."""
    if raw is None:
        return {}
    hint = "e.g. `teacher: {task: shapes-captions, model: clip}`"
    if not isinstance(raw, dict):
        raise SeqbenchError(f"{where}: teacher must be a mapping, got {raw!r}", hint)
    _reject_unknown(raw, {"task", "model"}, f"{where}: teacher")
    for key in ("task", "model"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise SeqbenchError(f"{where}: teacher.{key} must be a name", hint)
    return {"task": raw["task"], "model": raw["model"]}


def _reject_unknown(raw: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SeqbenchError(f"{where} has unknown field(s) {unknown}", f"known: {sorted(known)}")


def load_task_spec(path: Path) -> TaskSpec:
    """Read and validate one task spec file."""
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"), path)
    except (OSError, ValueError, yaml.YAMLError) as err:  # ValueError: not UTF-8
        raise SeqbenchError(f"cannot read task spec {path}: {err}", "fix the YAML syntax") from err
    if not isinstance(raw, dict):
        raise SeqbenchError(f"task spec {path} is not a mapping", "see tasks/scan.yaml")
    where = f"task spec {path.name}"
    if "include" in raw:
        raw = _with_included(raw, path, where)
    required = ("name", "family", "source", "tokenizer", "metrics", "models", "presets")
    missing = [k for k in required if k not in raw]
    if missing:
        raise SeqbenchError(f"{where} lacks {missing}", "see tasks/scan.yaml for a complete spec")
    known = set(required) | {"description", "subsets", "default_subset", "size", "teacher"}
    _reject_unknown(raw, known, where)
    unknown_presets = sorted(set(raw["presets"] or {}) - set(PRESETS))
    if unknown_presets:
        raise SeqbenchError(
            f"{where}: unknown preset(s) {unknown_presets}", f"presets: {', '.join(PRESETS)}"
        )
    families = family_names()
    if raw["family"] not in families:
        raise SeqbenchError(
            f"{where}: unknown family {raw['family']!r};{did_you_mean(raw['family'], families)}",
            f"families: {', '.join(families)}",
        )
    # The name and subsets become folder names under $SEQBENCH_HOME: same check as the CLI's.
    paths.check_name(raw["name"], "name", where)
    for subset in raw.get("subsets") or []:
        paths.check_name(subset, "subset", where)
    if not isinstance(raw["presets"], dict):
        raise SeqbenchError(f"{where}: presets must be a mapping", "see tasks/scan.yaml")
    presets = {k: _check_preset(k, v or {}, where) for k, v in raw["presets"].items()}
    return TaskSpec(
        name=str(raw["name"]),
        family=raw["family"],
        description=str(raw.get("description", "")),
        source=SourceSpec.parse(raw["source"], where),
        tokenizer=dict(raw["tokenizer"] or {}),
        metrics=list(raw["metrics"]),
        models=list(raw["models"]),
        presets=presets,
        subsets=list(raw.get("subsets") or []),
        default_subset=raw.get("default_subset"),
        size=str(raw.get("size", "")),
        teacher=check_teacher(raw.get("teacher"), where),
        path=path,
        raw=raw,
    )


def _with_included(raw: dict[str, Any], path: Path, where: str) -> dict[str, Any]:
    """``include: NAME`` (as in lm-eval-harness task YAMLs): the bundled spec NAME, with this
    file's top-level keys replacing its keys (a user's spec names only what it changes)."""
    name = str(raw["include"])
    base_path = paths.tasks_dir() / f"{name}.yaml"
    if not base_path.is_file() or base_path.resolve() == path.resolve():
        raise SeqbenchError(
            f"{where}: include {name!r} names no bundled task spec",
            f"use one of: {', '.join(sorted(p.stem for p in paths.tasks_dir().glob('*.yaml')))}",
        )
    try:
        base = load_yaml(base_path.read_text(encoding="utf-8"), base_path)
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise SeqbenchError(f"cannot read task spec {base_path}: {err}", "fix the YAML") from err
    if not isinstance(base, dict) or "include" in base:
        raise SeqbenchError(
            f"{where}: include {name!r} is not a plain spec", "include a bundled one"
        )
    merged = {**base, **{k: v for k, v in raw.items() if k != "include"}}
    merged.setdefault("name", name)
    return merged


def discover_tasks(folder: Path | None = None) -> dict[str, Path]:
    """Task name -> spec path, from file names (specs are parsed only when used).

    Without ``folder``: the bundled specs (or ``$SEQBENCH_TASKS``), then the user's task
    folder ``$SEQBENCH_HOME/tasks`` whose specs replace bundled ones of the same name.
    """
    if folder is not None:
        return {p.stem: p for p in sorted(folder.glob("*.yaml"))}
    bundled, user = paths.tasks_dir(), paths.home() / "tasks"
    found = {p.stem: p for p in sorted(bundled.glob("*.yaml"))}
    found.update({p.stem: p for p in sorted(user.glob("*.yaml"))})
    if not found:  # an empty registry is an error, never an empty table
        raise SeqbenchError(
            f"no task spec (*.yaml) in {bundled} or {user}",
            "reinstall seqbench, or unset $SEQBENCH_TASKS to use the bundled specs",
        )
    return dict(sorted(found.items()))


def parse_task_ref(ref: str) -> tuple[str, str | None]:
    """Split ``scan:length`` into ``("scan", "length")``."""
    name, _, subset = ref.partition(":")
    return name, subset or None


def load_task(ref: str) -> tuple[TaskSpec, str | None]:
    """Resolve a task reference (``NAME`` or ``NAME:SUBSET``) to its spec and subset."""
    name, subset = parse_task_ref(ref)
    found = discover_tasks()
    if name not in found:
        known = sorted(found)
        raise SeqbenchError(
            f"unknown task {name!r};{did_you_mean(name, known)}",
            f"known tasks: {', '.join(known)} (see `seqbench list tasks`)",
        )
    spec = load_task_spec(found[name])
    return spec, spec.resolve_subset(subset)


def task_key(spec: TaskSpec, subset: str | None) -> str:
    """The name results and caches use: ``scan:length`` or ``multi30k``."""
    return f"{spec.name}:{subset}" if subset else spec.name
