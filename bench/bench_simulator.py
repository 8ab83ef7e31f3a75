"""How fast is the simulator itself? Transformer-base (6+6 layers, d_model 512, sequence 128)
on every profile in accelerators/.

    .venv/bin/python bench/bench_simulator.py [--repeats 20]

Profile loading and the one-off host micro-benchmark (cached in $SEQBENCH_HOME) happen
before timing; the table reports the cost model alone, per profile, median of the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

from rich.console import Console
from rich.table import Table

from seqbench.accel import workloads
from seqbench.accel.cost import simulate
from seqbench.accel.profile import resolve_profiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    start = time.perf_counter()
    trace = workloads.transformer()  # 6+6 layers, d_model 512, heads 8, d_ff 2048, seq 128
    build_s = time.perf_counter() - start
    profiles = resolve_profiles("all")
    for p in profiles:  # warm-up: fallback profile, measured host roofline
        simulate(trace, p)

    table = Table(
        title=f"simulating Transformer-base ({len(trace.records)} trace records, "
        f"{trace.summary()['macs_total'] / 1e9:.2f} GMAC/sample)",
        title_justify="left",
    )
    for col in ("profile", "median ms", "min ms", "latency ms/sample", "µJ/token", "TOPS/W"):
        table.add_column(col, justify="right" if col != "profile" else "left")
    total = 0.0
    for p in profiles:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            sim = simulate(trace, p)
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        total += median
        table.add_row(
            p.name,
            f"{median * 1e3:.2f}",
            f"{min(times) * 1e3:.2f}",
            f"{sim.latency_s_per_sample * 1e3:.3g}",
            f"{sim.energy_J_per_unit * 1e6:.3g}",
            f"{sim.tops_per_w:.3g}",
        )
    table.add_row("all five", f"{total * 1e3:.2f}", "", "", "", "", style="bold")
    console = Console()
    console.print(table)
    console.print(
        f"trace built analytically in {build_s * 1e3:.1f} ms; target: all five well under 1 s"
    )


if __name__ == "__main__":
    main()
