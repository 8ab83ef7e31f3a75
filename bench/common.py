"""What every benchmark shares: a result row, a load-fair timer, the data they run on."""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from seqbench import paths
from seqbench import train as seqbench_train
from seqbench.config import load_task, load_task_spec
from seqbench.families.base import Prepared, TaskFamily, family_for
from seqbench.families.runspec import RunSpec, resolve
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


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """The environment variables ``values`` set while the block runs, restored after it (an
    unset one unset again)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class FreshTraining:
    """A run as ``seqbench train`` starts it: the seeded untrained model and its optimiser on
    a device, and the first epoch's training batches (lazily, in the training order)."""

    family: TaskFamily
    run: RunSpec
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    batches: Iterator[Any]


def fresh_training(task: str, model: str, preset: str, device: torch.device) -> FreshTraining:
    """``model`` on ``task`` at ``preset`` (seed 0), its data prepared into ``$SEQBENCH_HOME``
    when not cached yet; the weights are drawn on the CPU, so every device starts alike."""
    spec, subset = load_task(task)
    family = family_for(spec)
    run = resolve(family, spec, subset, preset).with_model(model)
    prepared, _ = family.prepare_run(run)
    plan = seqbench_train.plan_run(run, prepared)
    network, optimizer = seqbench_train._fresh(plan, device)  # seeded with the run's seed
    batches = family.batches(
        prepared, "train", int(run.train.batch_size), shuffle=True, seed=run.seed, epoch=0, run=run
    )
    return FreshTraining(family, run, network, optimizer, batches)
