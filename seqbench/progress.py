"""Rich progress bars for every long step; silenced with ``SEQBENCH_QUIET=1``."""

from __future__ import annotations

import os

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


def quiet() -> bool:
    return os.environ.get("SEQBENCH_QUIET", "") not in ("", "0")


def make_progress(transient: bool = True) -> Progress:
    """A progress display on stderr (disabled when quiet)."""
    return Progress(
        TextColumn("[bold blue]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        # Off when quiet or when stderr is no terminal (logs, CI): bars there are noise.
        disable=quiet() or not console.is_terminal,
    )
