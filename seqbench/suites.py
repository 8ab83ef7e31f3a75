"""Named suites (``tasks/suites/NAME.yaml``): which tasks ``seqbench run`` takes by default."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from seqbench import paths
from seqbench.errors import SeqbenchError
from seqbench.registry import did_you_mean
from seqbench.yamlfile import load_yaml


@dataclass(frozen=True)
class Suite:
    """Tasks run together, and per family how many examples profiles with effects re-score."""

    name: str
    description: str
    tasks: tuple[str, ...]
    effects_limit: dict[str, int] = field(default_factory=dict)
    # Per task, external test sets its models are also scored on (``local:PATH``).
    test_sets: dict[str, list[str]] = field(default_factory=dict)


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
    if not isinstance(tasks, list) or not all(isinstance(t, str) and t for t in tasks):
        raise SeqbenchError(
            f"suite {path}: tasks must be a list of task names, got {tasks!r}",
            "write e.g. `tasks: [scan, scan:length]`",
        )
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
        tasks=tuple(tasks),
        effects_limit={str(k): v for k, v in limits.items()},
        test_sets={str(k): list(v) for k, v in test_sets.items()},
    )
