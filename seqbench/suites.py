"""Named suites (``tasks/suites/NAME.yaml``): which tasks ``seqbench run`` takes by default."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from seqbench import paths
from seqbench.errors import SeqbenchError
from seqbench.registry import did_you_mean
from seqbench.yamlfile import load_yaml


@dataclass(frozen=True)
class SuiteTask:
    """One task of a suite: which of its models run, on which splits, with which beam.

    ``needs_source``: the task reads real data that is not embedded, so it runs only where a
    source is bound (``seqbench prepare NAME --source ...``, see :mod:`seqbench.user_tasks`);
    the value is the command that binds it, printed when the task is skipped.
    """

    task: str
    models: tuple[str, ...] = ()  # empty: every model the task spec names
    splits: tuple[str, ...] = ("test",)
    beam: int = 1
    needs_source: str = ""

    @classmethod
    def of(cls, entry: str | SuiteTask) -> SuiteTask:
        return entry if isinstance(entry, SuiteTask) else cls(entry)


# the keys a suite's task mapping may set: SuiteTask's fields
ENTRY_KEYS = tuple(f.name for f in fields(SuiteTask))


@dataclass(frozen=True)
class Suite:
    """Tasks run together, and per family how many examples profiles with effects re-score."""

    name: str
    description: str
    entries: tuple[SuiteTask, ...]
    effects_limit: dict[str, int] = field(default_factory=dict)
    # Per task, external test sets its models are also scored on (``local:PATH``).
    test_sets: dict[str, list[str]] = field(default_factory=dict)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The task references, in the suite's order."""
        return tuple(entry.task for entry in self.entries)


def suites_dir() -> Path:
    return paths.tasks_dir() / "suites"


def available() -> list[str]:
    return sorted(p.stem for p in suites_dir().glob("*.yaml"))


def load_suite(name: str) -> Suite:
    """Read ``tasks/suites/NAME.yaml``; one-line errors for a missing or malformed file."""
    path = suites_dir() / f"{name}.yaml"
    if not path.is_file():
        raise SeqbenchError(
            f"no suite {name!r} in {suites_dir()} (known: {', '.join(available()) or 'none'})"
            f"{did_you_mean(name, available())}",
            f"pass --task NAME, or add {path}",
        )
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"), path)
    except (yaml.YAMLError, ValueError) as err:
        raise SeqbenchError(f"suite {path} is not valid YAML: {err}", "fix the file") from err
    if not isinstance(raw, dict) or not raw.get("tasks"):
        raise SeqbenchError(f"suite {path} lists no tasks", "add `tasks: [scan, ...]`")
    unknown = sorted(set(raw) - {"description", "tasks", "effects_limit", "test_sets"})
    if unknown:
        raise SeqbenchError(
            f"suite {path} has unknown key(s) {unknown}",
            "known: description, tasks, effects_limit, test_sets",
        )
    test_sets = raw.get("test_sets") or {}
    if not isinstance(test_sets, dict) or not all(
        isinstance(v, list) and all(isinstance(t, str) and t for t in v) for v in test_sets.values()
    ):
        raise SeqbenchError(
            f"suite {path}: test_sets must map a task to a list of sources",
            "write e.g. `test_sets: {sort-of-clevr: [local:../shared/data/sort-of-clevr-ref]}`",
        )
    tasks = raw["tasks"]
    if not isinstance(tasks, list):
        raise SeqbenchError(
            f"suite {path}: tasks must be a list of task names, got {tasks!r}",
            "write e.g. `tasks: [scan, scan:length]`",
        )
    entries = tuple(_entry(item, path) for item in tasks)
    limits = raw.get("effects_limit") or {}
    if not isinstance(limits, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in limits.values()
    ):
        raise SeqbenchError(
            f"suite {path}: effects_limit must map a family to a positive count",
            "write e.g. `effects_limit: {translation: 500}`",
        )
    return Suite(
        name=name,
        description=str(raw.get("description", "")),
        entries=entries,
        effects_limit={str(k): v for k, v in limits.items()},
        test_sets={str(k): list(v) for k, v in test_sets.items()},
    )


def _names(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def _entry(item: object, path: Path) -> SuiteTask:
    """A ``tasks:`` item: a task name, or a mapping with ``task`` and the keys of
    :class:`SuiteTask`; one-line errors naming the file and the key."""
    if isinstance(item, str) and item:
        return SuiteTask(item)
    example = "e.g. `- {task: multi30k, models: [transformer], splits: [test], beam: 4}`"
    if not isinstance(item, dict) or not isinstance(item.get("task"), str) or not item["task"]:
        raise SeqbenchError(
            f"suite {path}: tasks must be a list of task names, got {item!r}",
            f"write a name or a mapping with a task, {example}",
        )
    where = f"suite {path}: task {item['task']}"
    unknown = sorted(set(item) - set(ENTRY_KEYS))
    if unknown:
        raise SeqbenchError(
            f"{where} has unknown key(s) {unknown}", f"known: {', '.join(ENTRY_KEYS)}"
        )
    for key in ("models", "splits"):
        if key in item and not _names(item[key]):
            raise SeqbenchError(f"{where}: {key} must be a list of names", example)
    beam = item.get("beam", 1)
    if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
        raise SeqbenchError(f"{where}: beam must be a whole number >= 1, got {beam!r}", example)
    needs = item.get("needs_source", "")
    if not isinstance(needs, str):
        raise SeqbenchError(
            f"{where}: needs_source must be the command that binds its source",
            f"e.g. needs_source: seqbench prepare {item['task']} --source local:FOLDER",
        )
    return SuiteTask(
        task=item["task"],
        models=tuple(item.get("models") or ()),
        splits=tuple(item.get("splits") or ("test",)),
        beam=beam,
        needs_source=needs,
    )
