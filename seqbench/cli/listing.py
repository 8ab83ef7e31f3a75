"""``seqbench list tasks|models|accels``.

Models (torch) and profiles are imported inside the listings that need them, so that
``seqbench --help`` and ``seqbench list tasks`` stay instant.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from seqbench.config import discover_tasks, load_task_spec


def render(what: str, console: Console) -> None:
    RENDERERS[what](console)


def _tasks(console: Console) -> None:
    table = Table("task", "family", "source", "size", "subsets", "models", "description")
    for name, path in discover_tasks().items():
        spec = load_task_spec(path)
        table.add_row(
            name,
            spec.family,
            spec.source.describe(),
            spec.size or "—",
            ", ".join(spec.subsets) or "—",
            ", ".join(spec.models),
            spec.description,
        )
    console.print(table)


def _models(console: Console) -> None:
    from seqbench.models import MODEL_REGISTRY

    table = Table("model", "family", "description")
    for name in MODEL_REGISTRY.names():
        entry = MODEL_REGISTRY.get(name)
        table.add_row(name, entry.family, entry.description)
    console.print(table)


def _accels(console: Console) -> None:
    from seqbench.cli.accels import render_profile_list

    render_profile_list(console)


RENDERERS = {"tasks": _tasks, "models": _models, "accels": _accels}
