"""What every benchmark shares: a result row, a load-fair timer, the data they run on."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

from seqbench import paths
from seqbench.config import load_task, load_task_spec
from seqbench.families.base import Prepared
from seqbench.families.translation.family import TranslationFamily
from seqbench.user_tasks import bound_spec


class Skipped(Exception):
    """A benchmark that cannot run here; its message says why and what would let it."""


@dataclass(frozen=True)
class Measurement:
    """One table row: seqbench's rate against a reference's, both in ``unit`` (higher = faster).

    ``reference`` is None where there is nothing to compare against; ``note`` is a footnote.
    Training rows also carry seqbench's achieved model FLOP/s, its MFU and the reference's
    (fractions of the measured peak matmul FLOP/s at the row's dtype and thread count) and,
    on bf16 rows, ``speedup``: seqbench's rate over its own fp32 row (end to end).
    """

    benchmark: str
    seqbench: float
    reference: float | None
    unit: str
    note: str = ""
    flops_per_s: float | None = None
    mfu: float | None = None
    reference_mfu: float | None = None
    speedup: float | None = None

    @property
    def ratio(self) -> float | None:
        """seqbench / reference: above 1 means seqbench is faster."""
        return None if self.reference is None else self.seqbench / self.reference


def best_seconds(candidates: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Seconds of the fastest of ``rounds`` calls of each candidate.

    The calls are interleaved (a b, b a, a b, ...) so that a change in background load on a
    shared machine hits every candidate alike; the minimum is the least-disturbed run. The
    garbage collector is off while a call is timed, as in :mod:`timeit`.
    """
    names = list(candidates)
    best = dict.fromkeys(names, float("inf"))
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                candidates[name]()
                best[name] = min(best[name], time.perf_counter() - start)
            finally:
                gc.enable()
    return best


def scan(preset: str) -> tuple[TranslationFamily, Prepared]:
    """SCAN (``simple`` split) prepared with ``preset``: reused from the cache when present."""
    spec = load_task_spec(paths.tasks_dir() / "scan.yaml")
    family = TranslationFamily()
    prepared, _ = family.prepare(spec, "simple", preset)
    return family, prepared


def bound_translation_task(name: str, preset: str) -> tuple[TranslationFamily, Prepared]:
    """Translation task ``name`` prepared with ``preset``, from the source its user bound in
    ``$SEQBENCH_HOME`` (``seqbench prepare NAME --source ...``); the bench never downloads."""
    if bound_spec(name) is None:
        raise Skipped(
            f"{name} has no source bound in $SEQBENCH_HOME: run `seqbench prepare {name}"
            f" --preset {preset} --source local:FOLDER` (or a hub id) first"
        )
    spec, subset = load_task(name)
    family = TranslationFamily()
    prepared, _ = family.prepare(spec, subset, preset)
    return family, prepared


def translation_data(task: str, preset: str) -> tuple[TranslationFamily, Prepared]:
    """``scan`` (embedded, its ``simple`` split) or a bound translation task, with ``preset``."""
    if task == "scan":
        return scan(preset)
    return bound_translation_task(task, preset)
