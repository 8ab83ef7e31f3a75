"""Your task folder, ``$SEQBENCH_HOME/tasks/``: task specs that take the place of the bundled
ones of the same name, in every stage (prepare, train, eval, run, suites, report).

``seqbench prepare multi30k --source local:DIR`` writes ``$SEQBENCH_HOME/tasks/multi30k.yaml``::

    include: multi30k                 # the bundled spec; the keys below replace its keys
    source: {local: /abs/DIR, fields: {src: de, tgt: en}, splits: {...}}

and says so. From then on ``train``, ``eval`` and ``run`` read DIR too, as lm-eval-harness reads
task YAMLs (with ``include:``) from ``--include_path``. Add keys to the file to change more
(presets, tokenizer); delete it to go back to the bundled spec. Nothing else is remembered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from seqbench import paths
from seqbench.atomic import write_text
from seqbench.config import SourceSpec, TaskSpec

HEADER = (
    "# Written by `seqbench prepare {name} --source {source}`: every stage (prepare, train,\n"
    "# eval, run) reads this spec instead of the bundled one; delete it to go back.\n"
)


def user_tasks_dir() -> Path:
    """``$SEQBENCH_HOME/tasks``: specs here win over the bundled ones of the same name."""
    return paths.home() / "tasks"


def _source_raw(source: SourceSpec) -> dict[str, Any]:
    """The ``source:`` mapping of a task spec for ``source`` (local paths made absolute)."""
    raw: dict[str, Any] = {}
    if source.local:
        located = source.local
        # "a.de+a.en" pairs and PREFIX forms are kept as typed, but anchored to where we are.
        parts = [str(Path(p).expanduser().resolve()) for p in located.split("+")]
        raw["local"] = "+".join(parts)
        if source.format:
            raw["format"] = source.format
    elif source.hub:
        raw["hub"] = source.hub
        if source.hub_config:
            raw["config"] = source.hub_config
    else:
        raw["generator"] = source.generator
    for key in ("fields", "splits", "options"):
        value = getattr(source, key)
        if value:
            raw[key] = dict(value)
    return raw


def bind_source(spec: TaskSpec, source: SourceSpec, typed: str) -> Path:
    """Write the user's copy of ``spec`` with ``source`` as its data source; returns its path."""
    raw = {"include": spec.name, "source": _source_raw(source)}
    target = user_tasks_dir() / f"{spec.name}.yaml"
    text = HEADER.format(name=spec.name, source=typed) + yaml.safe_dump(
        raw, sort_keys=False, allow_unicode=True
    )
    write_text(target, text)
    return target


def bound_spec(name: str) -> Path | None:
    """The user's copy of task ``name`` when one takes the bundled spec's place (a source bound
    with ``prepare --source``, or a spec placed there by hand), else None."""
    path = user_tasks_dir() / f"{name}.yaml"
    return path if path.is_file() else None
