"""seqbench's training step with the C allocator keeping freed blocks, against glibc's default.

The allocator's settings hold for a whole process and cannot be undone, so each side runs in
a fresh child process (``python -m bench.allocator_speed --child ...``): the seqbench side as
the CLI and its workers run (``seqbench.allocator.keep_freed_memory``), the reference with
``SEQBENCH_MALLOC=system`` (glibc's own thresholds). Each child builds the task's model at the
preset, trains ``warmup`` steps untimed, then ``steps`` timed steps of ``seqbench.train``'s
step (autocast at the row's precision, clipping as the preset sets it) on the same real batches
from the same weights, and reports seconds per step, minor page faults per step, peak resident
memory and the last loss. The sides alternate over ``rounds``; the fastest pass of each
counts. The note says whether the two sides' losses were bitwise equal.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Measurement

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class AllocatorSettings:
    """``rows``: (task, model, precision) trained at ``preset``."""

    preset: str = "full"
    rows: tuple[tuple[str, str, str], ...] = (
        ("sort-of-clevr", "rn", "fp32"),
        ("sort-of-clevr", "rn", "bf16"),
        ("synth-faces", "face-embed", "fp32"),
        ("pydoc-lm", "lstm-lm", "fp32"),
    )
    warmup: int = 3
    steps: int = 30
    rounds: int = 2


FULL = AllocatorSettings()
QUICK = AllocatorSettings(
    preset="tiny", rows=(("sort-of-clevr", "rn", "fp32"),), warmup=1, steps=3, rounds=1
)


def child(task: str, model_name: str, precision: str, preset: str, warmup: int, steps: int) -> dict:
    """Time ``steps`` training steps in this process (run by the parent in a fresh one)."""
    from seqbench.allocator import keep_freed_memory

    applied = keep_freed_memory()
    import torch

    from bench.common import fresh_training
    from seqbench import train as seqbench_train

    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    fresh = fresh_training(task, model_name, preset, cpu)
    batches = [batch for _, batch in zip(range(warmup + steps), fresh.batches, strict=False)]
    fresh.model.train()

    def step(batch: Any) -> float:
        return seqbench_train.train_step(
            fresh.family, fresh.model, batch, fresh.optimizer, fresh.run.train, precision, cpu
        ).item()

    for batch in batches[:warmup]:
        step(batch)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    losses = [step(batch) for batch in batches[warmup:]]
    seconds = time.perf_counter() - start
    timed = max(1, len(losses))
    return {
        "applied": applied,
        "s_per_step": seconds / timed,
        "faults_per_step": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / timed,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "last_loss": repr(losses[-1]) if losses else "",
    }


def _spawn(row: tuple[str, str, str], settings: AllocatorSettings, keep: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SEQBENCH_MALLOC"}
    env["SEQBENCH_QUIET"] = "1"
    if not keep:
        env["SEQBENCH_MALLOC"] = "system"
    args = [*row, settings.preset, str(settings.warmup), str(settings.steps)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.allocator_speed", "--child", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"allocator bench child {' '.join(row)} failed: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(settings: AllocatorSettings = FULL) -> list[Measurement]:
    """One row per (task, model, precision): steps/s kept vs glibc's default."""
    rows = []
    for row in settings.rows:
        best: dict[bool, dict] = {}
        for r in range(settings.rounds):
            for keep in (True, False) if r % 2 == 0 else (False, True):
                result = _spawn(row, settings, keep)
                if keep not in best or result["s_per_step"] < best[keep]["s_per_step"]:
                    best[keep] = result
        kept, system = best[True], best[False]
        same = "bitwise-equal" if kept["last_loss"] == system["last_loss"] else "DIFFERENT"
        note = (
            f"{settings.preset} preset, {settings.steps} steps after {settings.warmup}, 1 thread; "
            f"page faults/step {system['faults_per_step']:,.0f} -> {kept['faults_per_step']:,.0f}, "
            f"peak RSS {system['peak_mib']:,.0f} -> {kept['peak_mib']:,.0f} MiB, "
            f"last losses {same}" + ("" if kept["applied"] else "; NOT APPLIED on this C library")
        )
        task, model, precision = row
        rows.append(
            Measurement(
                f"allocator: {model} {precision} ({task})",
                1 / kept["s_per_step"],
                1 / system["s_per_step"],
                "steps/s",
                note,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=6, metavar=("TASK", "MODEL", "PREC", "PRESET", "W", "N"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.child:
        task, model, precision, preset, warmup, steps = args.child
        print(json.dumps(child(task, model, precision, preset, int(warmup), int(steps))))
        return
    for row in measure(QUICK if args.quick else FULL):
        print(
            f"{row.benchmark}: {row.seqbench:.3g} vs {row.reference:.3g} {row.unit} "
            f"({row.ratio:.2f}x); {row.note}"
        )


if __name__ == "__main__":
    main()
