"""How long a whole suite takes: `seqbench run --preset P` from a fresh home, timed.

    python -m bench.suite_time --preset quick                      # the README's demo, ~5 min
    python -m bench.suite_time --preset full --jobs 2              # the leaderboard, ~90 min
    python -m bench.suite_time --home /tmp/sbh-full --wall-s 5123  # read a finished home

The run goes to a temporary `$SEQBENCH_HOME` (nothing cached is reused) as a subprocess, the
way a user types it. The table has one row per trained (task, model) cell: its training
seconds (from the checkpoint), epochs run and best dev score, and the host test score of its
record, then the suite's wall time, the sum of the cells' training seconds, the core count
and the load average before and after. Wall time includes prepare, evaluation, tracing,
every profile's pricing and effects re-scoring, and the report.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def trained_cells(home: Path) -> list[dict[str, Any]]:
    """Every finished checkpoint under ``home``: task, model, preset, training seconds."""
    cells = []
    for config in sorted((home / "runs").glob("*/*/*/config.json")):
        info = json.loads(config.read_text())
        if not info.get("complete"):
            continue
        cells.append(
            {
                "task": info["task"],
                "model": info["model"],
                "preset": info["preset"],
                "train_s": float(info["train_seconds"]),
                "epochs": info.get("epochs_run"),
                "dev": (info.get("best_dev") or {}).get("value"),
                "dev_metric": (info.get("best_dev") or {}).get("metric"),
                "threads": info.get("threads"),
            }
        )
    return cells


def host_scores(home: Path) -> dict[tuple[str, str], str]:
    """(task, model) -> the primary host test score of its whole-split `cpu` record."""
    scores: dict[tuple[str, str], str] = {}
    for path in (home / "results").rglob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("profile") != "cpu" or record.get("split") != "test":
            continue
        if record.get("test_set"):
            continue
        quality = record.get("quality_host") or record.get("quality") or {}
        metric = quality.get("primary")
        value = (quality.get("metrics") or {}).get(metric) if metric else None
        if value is not None:
            scores[(record["task"], record["model"])] = f"{metric} {value:.2f}"
    return scores


def run_suite(preset: str, jobs: int, home: Path) -> float:
    """Wall seconds of `seqbench run --preset PRESET` into ``home``."""
    command = [sys.executable, "-c", "from seqbench.cli.main import main; main()"]
    command += ["run", "--preset", preset]
    if jobs > 1:
        command += ["--executor", "processes", "--jobs", str(jobs)]
    env = {**os.environ, "SEQBENCH_HOME": str(home), "SEQBENCH_QUIET": "1"}
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def table(home: Path, wall_s: float | None, jobs: int, loads: tuple[str, str]) -> str:
    """Markdown: one row per trained cell, then the totals."""
    cells = trained_cells(home)
    scores = host_scores(home)
    lines = [
        "| task | model | preset | train s | epochs | best dev | host test |",
        "|---|---|---|---|---|---|---|",
    ]
    for cell in sorted(cells, key=lambda c: -c["train_s"]):
        dev = "—" if cell["dev"] is None else f"{cell['dev_metric']} {cell['dev']:.2f}"
        lines.append(
            f"| {cell['task']} | {cell['model']} | {cell['preset']} | {cell['train_s']:.0f} | "
            f"{cell['epochs']} | {dev} | {scores.get((cell['task'], cell['model']), '—')} |"
        )
    total = sum(c["train_s"] for c in cells)
    lines.append("")
    lines.append(f"- cells trained: {len(cells)}; sum of training seconds: {total:.0f}")
    if wall_s is not None:
        lines.append(
            f"- suite wall time: {wall_s:.0f} s ({wall_s / 60:.1f} min) with {jobs} "
            f"worker(s) on {os.cpu_count()} cores, 1 torch thread each"
        )
    lines.append(f"- load average (1 min) before / after: {loads[0]} / {loads[1]}")
    return "\n".join(lines)


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="quick", help="suite to run (default: quick)")
    parser.add_argument("--jobs", type=int, default=1, help="workers (>1: --executor processes)")
    parser.add_argument("--home", type=Path, help="report a finished home instead of running")
    parser.add_argument("--wall-s", type=float, help="with --home: the measured wall seconds")
    args = parser.parse_args(argv)
    before = _load()
    if args.home is not None:
        print(table(args.home, args.wall_s, args.jobs, (before, _load())))
        return
    with tempfile.TemporaryDirectory(prefix="seqbench-suite-") as scratch:
        home = Path(scratch)
        wall = run_suite(args.preset, args.jobs, home)
        print(table(home, wall, args.jobs, (before, _load())))


if __name__ == "__main__":
    main()
