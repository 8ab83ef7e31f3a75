"""How fast is the simulator itself? Transformer-base (6+6 layers, d_model 512, sequence 128)
on every profile in accelerators/.

    .venv/bin/python bench/bench_simulator.py [--repeats 20]

Profile loading and the one-off host micro-benchmark (cached in $SEQBENCH_HOME) happen
before timing; the table reports the cost model alone, per profile, median of the repeats.
``bench/run.py`` imports :func:`transformer_base_trace` and :func:`time_simulations`.
"""

from __future__ import annotations

import argparse
import statistics
import time

from rich.console import Console
from rich.table import Table

from seqbench.accel import workloads
from seqbench.accel.cost import Simulation, simulate
from seqbench.accel.profile import Profile, resolve_profiles
from seqbench.trace import Trace


def transformer_base_trace() -> Trace:
    """The analytic Transformer-base trace: 6+6 layers, d_model 512, heads 8, d_ff 2048, seq 128."""
    return workloads.transformer()


def time_simulations(
    trace: Trace, profiles: list[Profile], repeats: int
) -> dict[str, tuple[list[float], Simulation]]:
    """Per profile name: the seconds of each of ``repeats`` ``simulate`` calls, and the result.

    Every profile is simulated once untimed first (loads the fallback profile).
    """
    for p in profiles:
        simulate(trace, p)
    timings = {}
    for p in profiles:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            sim = simulate(trace, p)
            times.append(time.perf_counter() - t0)
        timings[p.name] = (times, sim)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    start = time.perf_counter()
    trace = transformer_base_trace()
    build_s = time.perf_counter() - start
    timings = time_simulations(trace, resolve_profiles("all"), args.repeats)

    table = Table(
        title=f"simulating Transformer-base ({len(trace.records)} trace records, "
        f"{trace.summary()['macs_total'] / 1e9:.2f} GMAC/sample)",
        title_justify="left",
    )
    for col in ("profile", "median ms", "min ms", "latency ms/sample", "µJ/token", "TOPS/W"):
        table.add_column(col, justify="right" if col != "profile" else "left")
    total = 0.0
    for name, (times, sim) in timings.items():
        median = statistics.median(times)
        total += median
        table.add_row(
            name,
            f"{median * 1e3:.2f}",
            f"{min(times) * 1e3:.2f}",
            f"{sim.latency_s_per_sample * 1e3:.3g}",
            f"{sim.energy_J_per_unit * 1e6:.3g}",
            f"{sim.tops_per_w:.3g}",
        )
    table.add_row(f"all {len(timings)}", f"{total * 1e3:.2f}", "", "", "", "", style="bold")
    console = Console()
    console.print(table)
    console.print(
        f"trace built analytically in {build_s * 1e3:.1f} ms; target: all five well under 1 s"
    )


if __name__ == "__main__":
    main()
