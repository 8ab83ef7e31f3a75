"""seqbench's own speed in one table: training, decoding, data preparation, the simulator.

    .venv/bin/python -m bench.run [--quick] [--threads N] [--only train,decode]
    .venv/bin/python bench/run.py ...

Every row is a rate (higher = faster); ``ratio`` = seqbench / reference, so above 1 means
seqbench is faster. See bench/README.md for what each row measures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import (  # noqa: E402
    allocator_speed,
    compile_speed,
    decode_speed,
    device_speed,
    effects_rescore,
    optimizer_speed,
    prepare_speed,
    train_throughput,
)
from bench.bench_simulator import time_simulations, transformer_base_trace  # noqa: E402
from bench.common import Measurement, Skipped  # noqa: E402
from seqbench.accel.profile import resolve_profiles  # noqa: E402
from seqbench.allocator import keep_freed_memory  # noqa: E402


def simulator(quick: bool) -> list[Measurement]:
    """Traces/s of the cost model on the Transformer-base trace, per profile and for all."""
    trace = transformer_base_trace()
    timings = time_simulations(trace, resolve_profiles("all"), 2 if quick else 20)
    medians = {name: statistics.median(times) for name, (times, _) in timings.items()}
    note = f"Transformer-base trace, {len(trace.records)} records; median of the repeats"
    rows = [
        Measurement(f"simulate: {name}", 1 / s, None, "traces/s", note)
        for name, s in medians.items()
    ]
    rows.append(
        Measurement(f"simulate: all {len(medians)}", 1 / sum(medians.values()), None, "traces/s")
    )
    return rows


def train_multi30k(quick: bool) -> list[Measurement]:
    """The training rows at the committed Multi30k board's sizes (its source bound first)."""
    if quick:
        raise Skipped("not in --quick: Multi30k's full-preset batches take minutes")
    return train_throughput.measure(train_throughput.MULTI30K)


def compile_multi30k(quick: bool) -> list[Measurement]:
    """Compiled vs eager at the Multi30k board's transformer size (its source bound first)."""
    if quick:
        raise Skipped("not in --quick: a cold compilation takes minutes")
    return compile_speed.measure(compile_speed.MULTI30K)


BENCHMARKS: dict[str, Callable[[bool], list[Measurement]]] = {
    "train": lambda quick: train_throughput.measure(
        train_throughput.QUICK if quick else train_throughput.FULL
    ),
    "train-multi30k": train_multi30k,
    "optimizer": lambda quick: optimizer_speed.measure(
        optimizer_speed.QUICK if quick else optimizer_speed.FULL
    ),
    "compile": lambda quick: compile_speed.measure(
        compile_speed.QUICK if quick else compile_speed.FULL
    ),
    "compile-multi30k": compile_multi30k,
    "device": lambda quick: device_speed.measure(
        device_speed.QUICK if quick else device_speed.FULL
    ),
    "decode": lambda quick: decode_speed.measure(
        decode_speed.QUICK if quick else decode_speed.FULL
    ),
    "effects": lambda quick: effects_rescore.measure(
        effects_rescore.QUICK if quick else effects_rescore.FULL
    ),
    "allocator": lambda quick: allocator_speed.measure(
        allocator_speed.QUICK if quick else allocator_speed.FULL
    ),
    "prepare": lambda quick: prepare_speed.measure(
        prepare_speed.QUICK if quick else prepare_speed.FULL
    ),
    "simulator": simulator,
}


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _times(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


# Columns only training rows fill: shown when some row has them. (header, cell of a row)
TRAINING_COLUMNS: list[tuple[str, str, Callable[[Measurement], str]]] = [
    (
        "flops_per_s",
        "GFLOP/s",
        lambda r: _number(None if r.flops_per_s is None else r.flops_per_s / 1e9),
    ),
    ("mfu", "MFU", lambda r: _percent(r.mfu)),
    ("reference_mfu", "ref MFU", lambda r: _percent(r.reference_mfu)),
    ("speedup", "vs fp32", lambda r: _times(r.speedup)),
]


def render(rows: list[Measurement], title: str) -> tuple[Table, list[str]]:
    """The results table and its footnotes (each row's note, numbered)."""
    table = Table(title=title, title_justify="left")
    table.add_column("benchmark")
    for column in ("seqbench", "reference", "ratio"):
        table.add_column(column, justify="right")
    table.add_column("unit")
    extra = [c for c in TRAINING_COLUMNS if any(getattr(r, c[0]) is not None for r in rows)]
    for _, header, _ in extra:
        table.add_column(header, justify="right")
    notes: list[str] = []
    for row in rows:
        label = row.benchmark
        if row.note:
            if row.note not in notes:
                notes.append(row.note)
            label += f" [{notes.index(row.note) + 1}]"
        table.add_row(
            label,
            _number(row.seqbench),
            _number(row.reference),
            _times(row.ratio),
            row.unit,
            *(cell(row) for _, _, cell in extra),
        )
    return table, [f"[{i}] {note}" for i, note in enumerate(notes, 1)]


def main(argv: list[str] | None = None) -> list[Measurement]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, seconds")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1)")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated, of: {', '.join(BENCHMARKS)}"
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")

    torch.set_num_threads(args.threads)
    # as the seqbench CLI and its workers run (both sides of every row alike); the allocator
    # rows compare it with glibc's default in fresh processes
    kept = keep_freed_memory()
    console = Console(width=None if Console().is_terminal else 160)  # like the seqbench CLI
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    console.print(
        f"machine: {os.cpu_count()} cores, load average {load}; torch {torch.__version__} "
        f"with {torch.get_num_threads()} thread(s); {'quick' if args.quick else 'full'} run; "
        f"freed memory {'kept' if kept else 'handed back'} (seqbench/allocator.py)"
    )
    rows: list[Measurement] = []
    skipped: list[str] = []
    started = time.perf_counter()
    for name in chosen:
        with console.status(f"benchmark: {name}"):
            try:
                rows += BENCHMARKS[name](args.quick)
            except Skipped as why:
                skipped.append(f"skipped {name}: {why}")
    table, notes = render(rows, "seqbench speed (higher is faster; ratio = seqbench / reference)")
    console.print(table)
    for note in notes + skipped:
        console.print(note, highlight=False)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    console.print(f"took {time.perf_counter() - started:.0f} s; load average at the end {load}")
    return rows


if __name__ == "__main__":
    main()
