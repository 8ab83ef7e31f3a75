"""Training steps/s with seqbench's AdamW (:class:`seqbench.optim.FlatAdamW`) against torch's
default AdamW, on the suite's models at their full presets, and whether they end bit-identical.

Both sides are ``seqbench.train``'s whole step (forward and loss under the run's precision,
backward, its clipping, the optimizer) on the same real batches from the same initial weights;
only the optimizer differs. Each side gets ``warmup`` untimed steps, then ``rounds``
interleaved passes over ``steps`` batches (the fastest counts). Every pass seeds torch's
generator alike, so dropout draws the same masks on both sides, and after the last pass the
two models' weights are compared bit for bit: the row's note says whether they are equal.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bench.common import FreshTraining, Measurement, best_seconds, fresh_training
from seqbench import train as seqbench_train
from seqbench.optim import FlatAdamW


@dataclass(frozen=True)
class OptimizerSettings:
    """``cells``: (task, model) pairs trained at ``preset``; the rest count batches."""

    cells: tuple[tuple[str, str], ...]
    preset: str = "full"
    warmup: int = 3
    steps: int = 20
    rounds: int = 3


# The suite's cells where the optimizer is a visible share of the step (bench/README.md):
# the Sort-of-CLEVR models (150-180 small tensors), SCAN's transformer and gru-attn, clip.
FULL = OptimizerSettings(
    cells=(
        ("sort-of-clevr", "vl-dual"),
        ("sort-of-clevr", "rn"),
        ("sort-of-clevr", "vl-transformer"),
        ("sort-of-clevr", "cnn-lstm"),
        ("scan:simple", "transformer"),
        ("scan:simple", "gru-attn"),
        ("shapes-captions", "clip"),
    )
)
QUICK = OptimizerSettings(
    cells=(("scan:simple", "transformer"),), preset="tiny", warmup=1, steps=2, rounds=1
)


@dataclass
class _Side:
    """One side of a row: its model, its optimizer and how often it has been called."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    calls: int = 0


def _stepper(
    fresh: FreshTraining, side: _Side, batches: list[Any], precision: str
) -> Callable[[], None]:
    """A closure running ``seqbench.train``'s step on each batch at ``precision``, for one
    side."""
    opts, cpu = fresh.run.train, torch.device("cpu")

    def run() -> None:
        torch.manual_seed(side.calls)  # both sides' k-th call draws the same dropout masks
        side.calls += 1
        for batch in batches:
            seqbench_train.train_step(
                fresh.family, side.model, batch, side.optimizer, opts, precision, cpu
            )

    return run


def measure(settings: OptimizerSettings = FULL) -> list[Measurement]:
    """One row per cell: steps/s with FlatAdamW against torch's AdamW."""
    rows = []
    for task, name in settings.cells:
        fresh = fresh_training(task, name, settings.preset, torch.device("cpu"))
        opts = fresh.run.train
        precision = seqbench_train.resolve_precision(opts.precision, torch.device("cpu"))
        batches = list(itertools.islice(fresh.batches, settings.warmup + settings.steps))
        warmup, timed = batches[: settings.warmup], batches[settings.warmup :]
        lr, decay = float(opts.lr), float(opts.weight_decay)
        theirs = copy.deepcopy(fresh.model)
        sides = {
            "seqbench": _Side(fresh.model, FlatAdamW(fresh.model.parameters(), lr, decay)),
            "torch": _Side(theirs, torch.optim.AdamW(theirs.parameters(), lr, weight_decay=decay)),
        }
        for side in sides.values():
            side.model.train()
            _stepper(fresh, side, warmup, precision)()
        candidates = {key: _stepper(fresh, side, timed, precision) for key, side in sides.items()}
        seconds = best_seconds(candidates, settings.rounds)
        same = all(
            torch.equal(a, b)
            for a, b in zip(
                fresh.model.state_dict().values(), theirs.state_dict().values(), strict=True
            )
        )
        tensors = sum(1 for p in fresh.model.parameters() if p.requires_grad)
        rows.append(
            Measurement(
                f"optimizer {name} ({task})",
                len(timed) / seconds["seqbench"],
                len(timed) / seconds["torch"],
                "steps/s",
                f"whole training steps ({precision}, batch {opts.batch_size}, {tensors} trained"
                f" tensors), FlatAdamW vs torch.optim.AdamW's default; {settings.preset} preset,"
                f" {len(timed)} steps after {len(warmup)}, best of {settings.rounds};"
                f" weights bit-identical after {len(warmup) + settings.rounds * len(timed)}"
                f" steps: {'yes' if same else 'NO'}",
            )
        )
    return rows
