"""How long a whole suite takes: `seqbench run --preset P` from a fresh home, timed.

    python -m bench.suite_time --preset quick                      # the README's demo, ~5 min
    python -m bench.suite_time --preset full --jobs 2 \
        --bind multi30k=local:../shared/data/multi30k              # every board: hours
    python -m bench.suite_time --home /tmp/sbh-full                # read a finished home

The run goes to a temporary `$SEQBENCH_HOME` (nothing cached is reused) as a subprocess, the
way a user types it; `--bind TASK=SOURCE` first binds a task's source there (`seqbench
prepare TASK --source SOURCE`), as a user does before the full suite takes Multi30k.

The first table has one row per board (the family's leaderboard), from the run's log
(`$SEQBENCH_HOME/logs/run-*.json`, the newest unless `--log` names one): cells run, its
wall time (first cell start to last cell end, whatever else ran beside it), the cells' own
seconds summed, and when it finished after the run started. The second has one row per
trained (task, model) cell: its training seconds (from the checkpoint), epochs run, best dev
score, the host test score of its record and its cell seconds (train + evaluation on every
profile and split, from the log). Then the suite's wall time, the core count and the load
average before and after. Wall time includes prepare, evaluation, tracing, every profile's
pricing and effects re-scoring, and the report.
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
                "sha256": info.get("weights_sha256"),
            }
        )
    return cells


def read_records(home: Path) -> list[dict[str, Any]]:
    """Every readable record under ``home/results`` (read once for the whole table)."""
    records = []
    for path in (home / "results").rglob("*.json"):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return records


def scored_weights(records: list[dict[str, Any]]) -> set[str]:
    """The weights (sha256) that some of ``records`` scored."""
    found = set()
    for record in records:
        try:
            found.add(record["checkpoint"]["sha256"])
        except (KeyError, TypeError):
            continue
    return found


def host_scores(records: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(task, model) -> the primary host test score of its whole-split `cpu` record."""
    scores: dict[tuple[str, str], str] = {}
    for record in records:
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


def run_log(home: Path, path: Path | None = None) -> dict[str, Any] | None:
    """The run's log (``path``, else the newest under ``home/logs``); None when there is none."""
    if path is None:
        logs = sorted((home / "logs").glob("run-*.json"), key=lambda p: p.stat().st_mtime)
        if not logs:
            return None
        path = logs[-1]
    return dict(json.loads(path.read_text(encoding="utf-8")))


def board_times(log: dict[str, Any]) -> list[dict[str, Any]]:
    """Per board, from a run's log: cells run and skipped, wall seconds from its first cell's
    start to its last cell's end, the cells' own seconds summed, and its end after the run's
    start. Boards in the order they finished."""
    boards: dict[str, dict[str, Any]] = {}
    for cell, ran in [(c, True) for c in log["cells"]] + [(c, False) for c in log["skipped"]]:
        name = cell["board"]
        board = boards.setdefault(name, {"board": name, "cells": [], "skipped": 0})
        if ran:
            board["cells"].append(cell)
        else:
            board["skipped"] += 1
    out = []
    for board in boards.values():
        cells = board.pop("cells")
        board["ran"] = len(cells)
        if cells:
            first, last = min(c["started"] for c in cells), max(c["ended"] for c in cells)
            board["wall_s"] = last - first
            board["cell_s"] = sum(c["seconds"] for c in cells)
            board["done_after_s"] = last - log["started"]
            board["tasks"] = sorted({c["task"] for c in cells})
        out.append(board)
    return sorted(out, key=lambda b: b.get("done_after_s", -1.0))


def cell_seconds(log: dict[str, Any] | None) -> dict[tuple[str, str], float]:
    """(task, model) -> its cells' seconds in the log (every split it was scored on)."""
    seconds: dict[tuple[str, str], float] = {}
    for cell in (log or {}).get("cells", []):
        key = (cell["task"], cell["model"])
        seconds[key] = seconds.get(key, 0.0) + float(cell["seconds"])
    return seconds


def run_suite(preset: str, jobs: int, home: Path, binds: list[str] | None = None) -> float:
    """Wall seconds of `seqbench run --preset PRESET` into ``home`` (after binding each
    ``TASK=SOURCE`` of ``binds`` there, untimed)."""
    command = [sys.executable, "-c", "from seqbench.cli.main import main; main()"]
    env = {**os.environ, "SEQBENCH_HOME": str(home), "SEQBENCH_QUIET": "1"}
    for bind in binds or []:
        task, _, source = bind.partition("=")
        prepare = [*command, "prepare", task, "--preset", preset, "--source", source]
        subprocess.run(prepare, env=env, check=True, stdout=subprocess.DEVNULL)
    command += ["run", "--preset", preset]
    if jobs > 1:
        command += ["--executor", "processes", "--jobs", str(jobs)]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def board_table(log: dict[str, Any]) -> list[str]:
    """Markdown lines: one row per board of the run's log."""
    lines = [
        "| board | tasks | cells run | skipped | wall s | cells' s | done after s |",
        "|---|---|---|---|---|---|---|",
    ]
    for board in board_times(log):
        if not board["ran"]:
            lines.append(f"| {board['board']} | — | 0 | {board['skipped']} | — | — | — |")
            continue
        lines.append(
            f"| {board['board']} | {', '.join(board['tasks'])} | {board['ran']} | "
            f"{board['skipped']} | {board['wall_s']:.0f} | {board['cell_s']:.0f} | "
            f"{board['done_after_s']:.0f} |"
        )
    return lines


def table(
    home: Path,
    wall_s: float | None,
    jobs: int,
    loads: tuple[str, str] | None,
    log: dict[str, Any] | None = None,
) -> str:
    """Markdown: one row per board (from the run's log), one per trained cell, the totals;
    ``loads`` (before, after) when this process timed the run (None: a finished home, whose
    load while it ran is not known here)."""
    cells = trained_cells(home)
    # A cell retrained under a new identity leaves its old checkpoint in runs/: a home with
    # records counts only the checkpoints they scored (the boards' rows), and names the rest.
    records = read_records(home)
    scored = scored_weights(records)
    unscored = [c for c in cells if scored and c["sha256"] not in scored]
    cells = [c for c in cells if c not in unscored]
    scores = host_scores(records)
    seconds = cell_seconds(log)
    lines: list[str] = []
    if log is not None:
        lines += [*board_table(log), ""]
        if wall_s is None and log.get("ended"):
            wall_s = float(log["ended"]) - float(log["started"])
            jobs = int(log.get("jobs") or jobs)
    else:
        lines += [f"- no run log under {home / 'logs'}: no per-board times (runs before it)", ""]
    lines += [
        "| task | model | preset | train s | epochs | best dev | host test | cell s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cell in sorted(cells, key=lambda c: -c["train_s"]):
        dev = "—" if cell["dev"] is None else f"{cell['dev_metric']} {cell['dev']:.2f}"
        key = (cell["task"], cell["model"])
        spent = f"{seconds[key]:.0f}" if key in seconds else "—"
        lines.append(
            f"| {cell['task']} | {cell['model']} | {cell['preset']} | {cell['train_s']:.0f} | "
            f"{cell['epochs']} | {dev} | {scores.get(key, '—')} | {spent} |"
        )
    total = sum(c["train_s"] for c in cells)
    lines.append("")
    lines.append(f"- cells trained: {len(cells)}; sum of training seconds: {total:.0f}")
    if unscored:
        names = ", ".join(f"{c['task']} / {c['model']} ({c['train_s']:.0f} s)" for c in unscored)
        lines.append(f"- checkpoints no record scores (superseded), not counted: {names}")
    if wall_s is not None:
        # the run's own machine where its log says (a finished home may come from another)
        host = (log or {}).get("host") or {}
        cores = host.get("cpu_count") or os.cpu_count()
        cpu = f" ({host['cpu_model']})" if host.get("cpu_model") else ""
        lines.append(
            f"- suite wall time: {wall_s:.0f} s ({wall_s / 60:.1f} min) with {jobs} "
            f"worker(s) on {cores} cores{cpu}, 1 torch thread each"
        )
    if loads is not None:
        lines.append(f"- load average (1 min) before / after: {loads[0]} / {loads[1]}")
    return "\n".join(lines)


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="quick", help="suite to run (default: quick)")
    parser.add_argument("--jobs", type=int, default=1, help="workers (>1: --executor processes)")
    parser.add_argument("--home", type=Path, help="report a finished home instead of running")
    parser.add_argument(
        "--wall-s", type=float, help="with --home: the measured wall seconds (default: its log's)"
    )
    parser.add_argument("--log", type=Path, help="with --home: this run log, not the newest")
    parser.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="TASK=SOURCE",
        help="bind a task's source in the fresh home first (e.g. multi30k=local:DIR)",
    )
    args = parser.parse_args(argv)
    for bind in args.bind:
        if "=" not in bind:
            parser.error(f"--bind {bind!r}: write TASK=SOURCE, e.g. multi30k=local:DIR")
    if args.home is not None:
        log = run_log(args.home, args.log)
        print(table(args.home, args.wall_s, args.jobs, None, log))
        return
    before = _load()
    with tempfile.TemporaryDirectory(prefix="seqbench-suite-") as scratch:
        home = Path(scratch)
        wall = run_suite(args.preset, args.jobs, home, args.bind)
        print(table(home, wall, args.jobs, (before, _load()), run_log(home)))


if __name__ == "__main__":
    main()
