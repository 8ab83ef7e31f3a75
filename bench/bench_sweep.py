"""One sweep of >= 16 cells in-process, in worker processes and on a local Ray: wall clock,
ratios, Ray's start-up, and the three executors' records compared for equality.

    python bench/bench_sweep.py                 # 16 cells, tiny SCAN transformer, 2 workers
    python bench/bench_sweep.py --limit 20 --jobs 2

It uses a scratch $SEQBENCH_HOME (one checkpoint, trained and traced once, shared by the three
runs; each run has its own sweep state, so each evaluates every cell itself). The load average
is printed at start and end: on a shared machine the ratios move with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GRID = ["adc.bits=4,6,7,8", "crossbar.rows=64,128", "adc.energy=1.67,3.0"]  # 16 cells


def comparable(record: dict) -> tuple:
    """What must not depend on where a cell ran."""
    return (
        record["cell_id"],
        record["profile_hash"],
        tuple(sorted(record["quality"]["metrics"].items())),
        record["simulated"]["energy_J_per_unit"],
        record["simulated"]["latency_s_per_sample"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=10, help="test examples per cell")
    parser.add_argument("--jobs", type=int, default=2, help="workers (processes and Ray)")
    args = parser.parse_args(argv)
    os.environ.setdefault("SEQBENCH_HOME", tempfile.mkdtemp(prefix="sbh-bench-sweep-"))
    os.environ["SEQBENCH_QUIET"] = "1"
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import torch

    torch.set_num_threads(1)
    from seqbench.sweep import driver

    print(
        f"cores {os.cpu_count()}, load at start {os.getloadavg()}, "
        f"home {os.environ['SEQBENCH_HOME']}"
    )

    def plan(name: str) -> driver.Sweep:
        return driver.plan(
            "scan",
            "transformer",
            "retransformer",
            GRID,
            preset="tiny",
            name=name,
            effects_limit=args.limit,
        )

    start = time.perf_counter()
    driver.host_quality(plan("setup"))
    print(f"setup (train tiny + trace + host eval): {time.perf_counter() - start:.1f} s")
    import ray

    start = time.perf_counter()
    ray.init(
        num_cpus=args.jobs,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={
            "env_vars": {"SEQBENCH_HOME": os.environ["SEQBENCH_HOME"], "SEQBENCH_QUIET": "1"}
        },
    )
    ray.get(ray.remote(lambda: None).remote())
    ray_start = time.perf_counter() - start
    walls: dict[str, float] = {}
    records: dict[str, list[tuple]] = {}
    for executor in ("inprocess", "processes", "ray"):
        sweep = plan(f"bench-{executor}")
        driver.host_quality(sweep)  # each state's host score, as `seqbench sweep` does first
        start = time.perf_counter()
        ran = driver.execute(sweep, executor=executor, jobs=args.jobs)
        walls[executor] = time.perf_counter() - start
        records[executor] = sorted(comparable(r) for r in driver.load_records(sweep))
        print(f"{executor}: {ran} cells in {walls[executor]:.1f} s")
    ray.shutdown()
    same = records["inprocess"] == records["processes"] == records["ray"]
    print()
    print("| executor | cells | wall s | speed-up vs in-process |")
    print("|---|---|---|---|")
    for executor, wall in walls.items():
        print(
            f"| {executor} | {len(records[executor])} | {wall:.1f} | "
            f"{walls['inprocess'] / wall:.2f}x |"
        )
    print(
        f"\nRay start-up (init + first no-op task, {args.jobs} CPUs): {ray_start:.1f} s "
        "(not in the Ray row above, which reuses the started instance)"
    )
    print(f"records equal across the three executors: {same}")
    print(f"load at end {os.getloadavg()}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
