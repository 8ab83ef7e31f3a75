"""The steps every family's ``evaluate`` starts with, written once: how many examples are
scored, the progress bar, and the wall-clock time spent in the model."""

from __future__ import annotations

import time
from types import TracebackType

from rich.progress import Progress

from seqbench.errors import SeqbenchError
from seqbench.progress import make_progress


def scored_count(key: str, split: str, size: int, limit: int | None) -> int:
    """Examples of a ``size``-example split that are scored (the first ``limit``); refuses
    an evaluation that would score none."""
    n = size if limit is None else min(int(limit), size)
    if n <= 0:
        raise SeqbenchError(f"nothing to evaluate in {key} {split}", "raise --limit")
    return n


def eval_bar(progress: bool) -> Progress:
    """A progress bar for an evaluation, hidden when ``progress`` is off (training's dev
    scores, traces)."""
    bar = make_progress()
    bar.disable = bar.disable or not progress  # before entering: start() reads it
    return bar


class Stopwatch:
    """Seconds spent inside its ``with`` blocks, summed: the model's share of an evaluation
    (the host throughput a record reports), without batching and scoring around it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._began = 0.0

    def __enter__(self) -> Stopwatch:
        self._began = time.perf_counter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.seconds += time.perf_counter() - self._began
