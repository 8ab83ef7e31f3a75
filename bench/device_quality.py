"""Quality on an accelerator against the CPU: one model trained and scored on each.

    python -m bench.device_quality                      # every accelerator here, SCAN quick
    python -m bench.device_quality --device cuda --task scan:simple --model gru-attn

Each device trains and scores the same run (task, model, preset, seed) through ``seqbench``'s
own train and eval stages, in its own scratch ``$SEQBENCH_HOME``: the device is not part of a
run's identity, so one home would hand the device the CPU's checkpoint. A device runs its
floating-point sums in another order than the CPU, and training carries such differences
forward the way a change of seed does, so the tolerance is measured, not assumed: the CPU
trains the run at every seed of ``--seeds`` (default 0, 1, 2), and a device passes when its
score at the first seed differs from the CPU's at that seed by no more than the CPU's own
spread over the seeds (max - min). That check is loose where the seed spread is wide, so a
tight one follows: the run's first ``FIRST_STEPS`` training steps in fp32 from the same
weights on the same batches, whose losses must agree within ``STEP_TOLERANCE`` (relative)
before training has had time to diverge. The table gives every score, the spread, the
difference and the verdicts; the exit status is 1 when a device falls outside either.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import environment, fresh_training  # noqa: E402
from bench.device_speed import accelerators  # noqa: E402
from seqbench import stages  # noqa: E402
from seqbench import train as seqbench_train  # noqa: E402
from seqbench.device import resolve_device, to_device  # noqa: E402
from seqbench.errors import SeqbenchError  # noqa: E402

# The first steps' losses in fp32 may differ by this much (relative) between devices. Another
# order of fp32 sums moved them far less: 1 against 2 CPU threads, the SCAN full transformer's
# first 5 losses by 7.6e-8 (gru-attn's not at all); a wrong kernel or a lost mask moves them
# by far more.
STEP_TOLERANCE = 1e-4
FIRST_STEPS = 5


@dataclass(frozen=True)
class Score:
    """One device's run at one seed: its test score (the family's primary metric)."""

    device: str
    seed: int
    metric: str
    value: float
    seconds: float


@contextlib.contextmanager
def scratch_home(parent: Path, name: str) -> Iterator[Path]:
    """``$SEQBENCH_HOME`` set to the folder ``name`` under ``parent`` while the block runs."""
    home = parent / name
    with environment(SEQBENCH_HOME=str(home)):
        yield home


def score(task: str, model: str, preset: str, seed: int, device: str, parent: Path) -> Score:
    """Train and score ``model`` on ``task`` on ``device`` in a scratch home; the host
    record's primary metric on the test split."""
    started = time.perf_counter()
    with scratch_home(parent, f"{device}-seed{seed}"):
        records = stages.eval_task(task, model, preset, seed=seed, accels="cpu", device=device)
    quality = records[0]["quality"]
    metric = str(quality["primary"])
    value = float(quality["metrics"][metric])
    return Score(device, seed, metric, value, time.perf_counter() - started)


def first_losses(task: str, model: str, preset: str, device: str, steps: int) -> list[float]:
    """The losses of the run's first ``steps`` training steps on ``device`` in fp32 (TF32
    off on CUDA, for products and convolutions), from the seeded initial weights (drawn on
    the CPU, so the same on every device) on the same batches, through ``seqbench.train``'s
    step. Dropout is off (the model in eval mode): each device draws its masks from its own
    generator."""
    where = torch.device(device)
    fresh = fresh_training(task, model, preset, where)
    fresh.model.eval()
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # convs too
    try:
        return [
            seqbench_train.train_step(
                fresh.family,
                fresh.model,
                to_device(batch, where),
                fresh.optimizer,
                fresh.run.train,
                "fp32",
                where,
            ).item()
            for _, batch in zip(range(steps), fresh.batches, strict=False)
        ]
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32


def step_difference(reference: list[float], other: list[float]) -> float:
    """The largest relative difference between two runs' losses, step by step."""
    return max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(reference, other, strict=True))


def compare(
    task: str, model: str, preset: str, seeds: list[int], devices: list[str], parent: Path
) -> tuple[list[Score], float, dict[str, bool]]:
    """The CPU at every seed, each device at the first; returns the scores, the CPU's spread
    and per device whether its difference to the CPU is within that spread."""
    cpu = [score(task, model, preset, seed, "cpu", parent) for seed in seeds]
    spread = max(s.value for s in cpu) - min(s.value for s in cpu)
    others = [score(task, model, preset, seeds[0], device, parent) for device in devices]
    verdicts = {s.device: abs(s.value - cpu[0].value) <= spread for s in others}
    return cpu + others, spread, verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", action="append", help="cuda or mps (default: every one here)")
    parser.add_argument("--task", default="scan:simple")
    parser.add_argument("--model", default="transformer")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--seeds", default="0,1,2", help="the CPU's seeds; devices run the first")
    args = parser.parse_args(argv)
    console = Console(width=None if Console().is_terminal else 160)
    devices = args.device or accelerators()
    if not devices:
        console.print("no CUDA or MPS device here: nothing to compare with the CPU")
        return 0
    try:
        for device in devices:
            resolve_device(device)  # an absent or unknown one: one line, before any training
    except SeqbenchError as error:
        console.print(f"error: {error}", highlight=False)
        return 2
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory(prefix="seqbench-device-quality-") as parent:
        scores, spread, verdicts = compare(
            args.task, args.model, args.preset, seeds, devices, Path(parent)
        )
    reference = scores[0]
    compared = len(seeds)  # rows from here on are the devices' (the CPU's seeds before)
    table = Table(title=f"{args.model} on {args.task} ({args.preset}): test {reference.metric}")
    for column in ("device", "seed", reference.metric, "vs CPU seed " + str(seeds[0]), "s"):
        table.add_column(column, justify="right")
    table.add_column("within the CPU's seed spread")
    for i, s in enumerate(scores):
        verdict = "" if i < compared else ("yes" if verdicts[s.device] else "NO")
        table.add_row(
            s.device,
            str(s.seed),
            f"{s.value:.2f}",
            f"{s.value - reference.value:+.2f}",
            f"{s.seconds:.0f}",
            verdict,
        )
    console.print(table)
    console.print(f"the CPU's spread over seeds {args.seeds}: {spread:.2f} (the tolerance)")
    with tempfile.TemporaryDirectory(prefix="seqbench-device-steps-") as parent:
        with scratch_home(Path(parent), "steps"):
            losses = {
                device: first_losses(args.task, args.model, args.preset, device, FIRST_STEPS)
                for device in ["cpu", *devices]
            }
    for device in devices:
        gap = step_difference(losses["cpu"], losses[device])
        verdicts[f"{device} steps"] = gap <= STEP_TOLERANCE
        console.print(
            f"{device}: the first {FIRST_STEPS} fp32 training losses differ from the CPU's by"
            f" at most {gap:.2e} relative (tolerance {STEP_TOLERANCE:.0e}):"
            f" {'yes' if gap <= STEP_TOLERANCE else 'NO'}",
            highlight=False,
        )
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
