"""A sweep's outputs: ``sweeps/NAME.md`` and ``.csv``, the quality-vs-energy plot with its
Pareto front, one effect plot per parameter, and the best point per objective."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqbench.accel import functional
from seqbench.atomic import atomic_path, write_text
from seqbench.errors import SeqbenchError
from seqbench.sweep import grid
from seqbench.sweep.driver import Sweep


@dataclass
class Point:
    """One design point: its overrides and its repeats' figures."""

    values: dict[str, float]
    qualities: list[float]
    energy: float  # J per unit (token for text)
    latency: float  # s per sample
    throughput: float  # units per s
    profile_hash: str
    weights_fit: bool | None
    reused: int  # cells whose quality came from the cache (cost-only changes)

    @property
    def quality(self) -> float:
        return statistics.fmean(self.qualities)

    @property
    def spread(self) -> float:
        return statistics.pstdev(self.qualities) if len(self.qualities) > 1 else 0.0


def collect(records: list[dict[str, Any]], metric: str) -> list[Point]:
    """Design points from cell records (repeats of one point grouped)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for record in records:
        # Records written before the one scoring path kept the cell's facts at the top level.
        facts = record.get("sweep") or record
        groups.setdefault(tuple(sorted(facts["overrides"].items())), []).append(record)
    out = []
    for key, group in groups.items():
        metrics = group[0]["quality"]["metrics"]
        if metric not in metrics:
            raise SeqbenchError(
                f"--metric {metric!r} is not among this task's metrics",
                f"one of {', '.join(sorted(metrics))}",
            )
        sim = group[0]["simulated"]
        out.append(
            Point(
                values=dict(key),
                qualities=[float(r["quality"]["metrics"][metric]) for r in group],
                energy=float(sim["energy_J_per_unit"]),
                latency=float(sim["latency_s_per_sample"]),
                throughput=float(sim["throughput_units_per_s"]),
                profile_hash=group[0]["profile_hash"],
                weights_fit=(sim.get("chip") or {}).get("weights_fit"),
                reused=sum(bool((r.get("sweep") or r).get("quality_reused")) for r in group),
            )
        )
    return out


def pareto(points: list[Point]) -> list[Point]:
    """Points no other point beats on both quality (higher) and energy (lower)."""
    front = [
        p
        for p in points
        if not any(
            (q.quality >= p.quality and q.energy <= p.energy)
            and (q.quality > p.quality or q.energy < p.energy)
            for q in points
        )
    ]
    return sorted(front, key=lambda p: p.energy)


def parse_floor(text: str | None, host: float) -> float | None:
    """``0.95x`` (of the quality without effects) or an absolute value -> the floor."""
    if not text:
        return None
    relative = text.endswith("x")
    try:
        value = float(text[:-1] if relative else text)
    except ValueError:
        raise SeqbenchError(
            f"--min-quality {text!r} is not a number or a fraction like 0.95x",
            "e.g. --min-quality 0.95x (95% of the quality without effects) or 80",
        ) from None
    return value * host if relative else value


def best_points(points: list[Point], floor: float | None) -> list[tuple[str, Point | None]]:
    """The best point per objective, and the lowest-energy one at or above the floor."""
    rows: list[tuple[str, Point | None]] = [
        ("highest quality", max(points, key=lambda p: (p.quality, -p.energy))),
        ("lowest energy per unit", min(points, key=lambda p: (p.energy, -p.quality))),
        ("lowest latency per sample", min(points, key=lambda p: (p.latency, -p.quality))),
        ("highest throughput", max(points, key=lambda p: (p.throughput, p.quality))),
    ]
    if floor is not None:
        ok = [p for p in points if p.quality >= floor]
        rows.append(
            (
                f"lowest energy with quality >= {floor:.4g}",
                min(ok, key=lambda p: p.energy) if ok else None,
            )
        )
    return rows


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _point(p: Point) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in p.values.items())


def write_outputs(
    sweep: Sweep,
    records: list[dict[str, Any]],
    host: dict[str, Any],
    out_dir: Path,
    *,
    metric: str | None = None,
    min_quality: str | None = None,
    command: str = "",
) -> list[Path]:
    """Write NAME.md, NAME.csv and the plots under ``out_dir/sweeps``; returns the paths."""
    metric = metric or host["primary"]
    points = collect(records, metric)
    if not points:
        raise SeqbenchError(f"sweep {sweep.name} has no records yet", "run the sweep first")
    host_q = float(host["metrics"][metric])
    floor = parse_floor(min_quality, host_q)
    folder = out_dir / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    names = [a.path for a in sweep.axes]
    unit = records[0]["simulated"]["unit"]
    written = [
        folder / f"{sweep.name}.csv",
        folder / f"{sweep.name}.md",
    ]
    front = pareto(points)
    lines = [
        ",".join(
            [
                *names,
                f"{metric}_mean",
                f"{metric}_std",
                "repeats",
                f"energy_J_per_{unit}",
                "latency_s_per_sample",
                f"throughput_{unit}_per_s",
                "weights_fit",
                "pareto",
                "profile_hash",
            ]
        )
    ]
    for p in sorted(points, key=lambda p: [p.values[n] for n in names]):
        lines.append(
            ",".join(
                [
                    *(f"{p.values[n]:g}" for n in names),
                    f"{p.quality:.6g}",
                    f"{p.spread:.6g}",
                    str(len(p.qualities)),
                    f"{p.energy:.6g}",
                    f"{p.latency:.6g}",
                    f"{p.throughput:.6g}",
                    str(p.weights_fit),
                    str(p in front),
                    p.profile_hash,
                ]
            )
        )
    write_text(written[0], "\n".join(lines) + "\n")
    plots = _plots(sweep, points, front, host_q, metric, unit, folder)
    written += plots
    read = functional.functional_paths(sweep.base) if sweep.base else set()
    examples = "" if sweep.effects_limit is None else f", first {sweep.effects_limit} examples"
    md = [
        f"# Sweep {sweep.name}",
        "",
        f"`{command}`" if command else "",
        "",
        f"{sweep.task} / {sweep.model} (preset {sweep.preset}, seed {sweep.seed}, split "
        f"{sweep.split}{examples}) "
        f"on derived `{sweep.accel}` profiles; quality is `{metric}` measured with the "
        f"profile's functional effects on; without effects (host) it is {_fmt(host_q)}.",
        "",
        "| parameter | values | base | kind |",
        "|---|---|---|---|",
    ]
    bases = grid.base_values(sweep.base, sweep.axes) if sweep.base else {}
    for axis in sweep.axes:
        kind = "functional (re-evaluated)" if axis.path in read else "cost-only (cached quality)"
        if axis.path in functional.NOISE_PARAMETERS:
            kind += f", noise: {sweep.repeats} seeded repeats when > 0"
        md.append(
            f"| `{axis.path}` | {', '.join(f'{v:g}' for v in axis.values)} | "
            f"{bases.get(axis.path, '')} | {kind} |"
        )
    md += [
        "",
        f"{len(records)} cells, {len(points)} design points, {len(front)} on the Pareto front "
        f"(higher {metric}, lower energy per {unit}). Spread: the population standard deviation "
        "over noise repeats.",
        "",
        "## Best points",
        "",
        "| objective | point | " + metric + f" | energy J/{unit} | latency s/sample |",
        "|---|---|---|---|---|",
    ]
    for label, p in best_points(points, floor):
        if p is None:
            md.append(f"| {label} | none reaches it | | | |")
        else:
            md.append(
                f"| {label} | {_point(p)} | {_fmt(p.quality)} ± {_fmt(p.spread)} | "
                f"{_fmt(p.energy)} | {_fmt(p.latency)} |"
            )
    md += [
        "",
        "## All points",
        "",
        f"| {' | '.join(names)} | {metric} (± spread, n) | energy J/{unit} | latency s | "
        "weights fit | Pareto |",
        "|" + "---|" * (len(names) + 5),
    ]
    for p in sorted(points, key=lambda p: [p.values[n] for n in names]):
        md.append(
            f"| {' | '.join(f'{p.values[n]:g}' for n in names)} | {_fmt(p.quality)} ± "
            f"{_fmt(p.spread)} ({len(p.qualities)}) | {_fmt(p.energy)} | "
            f"{_fmt(p.latency)} | {p.weights_fit} | {'yes' if p in front else ''} |"
        )
    md += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    write_text(written[1], "\n".join(md) + "\n")
    return written


def _plots(
    sweep: Sweep,
    points: list[Point],
    front: list[Point],
    host_q: float,
    metric: str,
    unit: str,
    folder: Path,
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.errorbar(
        [p.energy for p in points],
        [p.quality for p in points],
        yerr=[p.spread for p in points],
        fmt="o",
        color="tab:blue",
        alpha=0.6,
        label="design points",
    )
    ax.plot(
        [p.energy for p in front],
        [p.quality for p in front],
        "-s",
        color="tab:red",
        label="Pareto front",
    )
    ax.axhline(host_q, ls="--", color="grey", label="no effects (host)")
    ax.set_xscale("log")
    ax.set_xlabel(f"simulated energy per {unit} (J)")
    ax.set_ylabel(metric)
    ax.set_title(f"{sweep.name}: quality vs energy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = folder / f"{sweep.name}-pareto.png"
    _save(fig, path)
    out.append(path)
    bases = grid.base_values(sweep.base, sweep.axes) if sweep.base else {}
    axes = sweep.axes
    fig, grid_axes = plt.subplots(2, len(axes), figsize=(3.6 * len(axes), 5.6), squeeze=False)
    for i, axis in enumerate(axes):
        others = {k: v for k, v in bases.items() if k != axis.path}
        line = sorted(
            (p for p in points if all(math.isclose(p.values[k], v) for k, v in others.items())),
            key=lambda p: p.values[axis.path],
        )
        xs = [p.values[axis.path] for p in line]
        grid_axes[0][i].errorbar(
            xs, [p.quality for p in line], yerr=[p.spread for p in line], fmt="o-"
        )
        grid_axes[0][i].set_ylabel(metric)
        grid_axes[1][i].plot(xs, [p.energy for p in line], "o-", color="tab:orange")
        grid_axes[1][i].set_ylabel(f"J per {unit}")
        grid_axes[1][i].set_xlabel(axis.path)
        fixed = ", ".join(f"{k}={v:g}" for k, v in others.items())
        grid_axes[0][i].set_title(fixed or "", fontsize=7)
    fig.suptitle(f"{sweep.name}: each parameter, others at base")
    fig.tight_layout()
    path = folder / f"{sweep.name}-effects.png"
    _save(fig, path)
    out.append(path)
    return out


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
