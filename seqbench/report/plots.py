"""Leaderboard plots (PNG + SVG): quality vs energy with the Pareto front, energy breakdown by
op class, and each profile's speed-up and energy saving relative to ``cpu``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqbench.atomic import atomic_path

# Stacking order of the simulator's breakdown categories (others follow by name).
CATEGORY_ORDER = [
    "matmul_static",
    "matmul_dynamic",
    "writes",
    "softmax",
    "normalization",
    "elementwise",
    "data_movement",
    "chip_io",
    "search",
    "host_fallback",
]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates, by ascending cost.

    A point is ``(cost, quality)``: lower cost and higher quality are better; a point is
    dominated when another is at least as good on both and strictly better on one.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best_quality = float("-inf")
    for i in order:
        if points[i][1] > best_quality:
            front.append(i)
            best_quality = points[i][1]
    return front


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Fixed metadata so the same records give byte-identical SVGs.
    plt.rcParams["svg.hashsalt"] = "seqbench"
    return plt


def _save(fig: Any, out_dir: Path, name: str) -> list[Path]:
    written = []
    for ext in ("png", "svg"):
        path = out_dir / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(
                tmp,
                format=ext,
                dpi=110,
                bbox_inches="tight",
                metadata={"Date": None} if ext == "svg" else None,
            )
        written.append(path)
    return written


def _energy(record: dict[str, Any]) -> float | None:
    value = record.get("simulated", {}).get("energy_J_per_unit")
    return None if value in (None, 0) else float(value)


def plot_quality_vs_energy(
    family: str, rows: list[dict[str, Any]], metric: str, out_dir: Path
) -> list[Path]:
    """Scatter of quality against simulated energy per unit, one colour per profile."""
    plt = _pyplot()
    points = [(r, _energy(r), r["quality"]["metrics"].get(metric)) for r in rows]
    points = [(r, e, q) for r, e, q in points if e is not None and q is not None]
    if not points:
        return []
    unit = points[0][0]["host"]["unit"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for profile in sorted({r["profile"] for r, _, _ in points}):
        mine = [(e, q) for r, e, q in points if r["profile"] == profile]
        ax.scatter([e * 1e6 for e, _ in mine], [q for _, q in mine], label=profile, s=36)
    front = pareto_front([(e, q) for _, e, q in points])
    ax.plot(
        [points[i][1] * 1e6 for i in front],
        [points[i][2] for i in front],
        "k--",
        linewidth=1,
        label="Pareto front",
    )
    for i in front:
        r = points[i][0]
        ax.annotate(
            f"{r['model']}",
            (points[i][1] * 1e6, points[i][2]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_xlabel(f"simulated energy per {unit} (µJ, log scale)")
    ax.set_ylabel(metric)
    ax.set_title(f"{family}: {metric} vs energy")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    try:
        return _save(fig, out_dir, f"{family}_quality_vs_energy")
    finally:
        plt.close(fig)


def _label(record: dict[str, Any]) -> str:
    return f"{record['task']} {record['model']} @ {record['profile']}"


def plot_energy_breakdown(family: str, rows: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """100%-stacked bars: each op class's share of the energy, one bar per (task, model,
    profile), with the total energy per unit written above the bar.

    Shares rather than absolute stacks: totals span orders of magnitude across profiles, and a
    log-scaled stack would misstate every segment but the first.
    """
    plt = _pyplot()
    rows = [r for r in rows if r.get("simulated", {}).get("breakdown")]
    if not rows:
        return []
    seen = {c for r in rows for c in r["simulated"]["breakdown"]}
    categories = [c for c in CATEGORY_ORDER if c in seen] + sorted(seen - set(CATEGORY_ORDER))
    totals = [
        sum(v.get("energy_J", 0.0) for v in r["simulated"]["breakdown"].values()) or 1.0
        for r in rows
    ]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(rows) + 2), 4.8))
    bottoms = [0.0] * len(rows)
    for category in categories:
        shares = [
            100 * r["simulated"]["breakdown"].get(category, {}).get("energy_J", 0.0) / total
            for r, total in zip(rows, totals, strict=True)
        ]
        ax.bar(range(len(rows)), shares, bottom=bottoms, label=category)
        bottoms = [b + h for b, h in zip(bottoms, shares, strict=True)]
    unit = rows[0]["host"]["unit"]
    for x, r in enumerate(rows):
        energy = _energy(r)
        if energy is not None:
            ax.text(
                x, 101, f"{energy * 1e6:.3g}", ha="center", va="bottom", fontsize=6, rotation=90
            )
    ax.set_xticks(range(len(rows)), [_label(r) for r in rows], rotation=70, ha="right", fontsize=6)
    ax.set_ylabel("share of simulated energy (%)")
    ax.set_ylim(0, 118)
    ax.set_title(f"{family}: energy by op class (µJ per {unit} above each bar)")
    ax.legend(fontsize=6, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.45))
    try:
        return _save(fig, out_dir, f"{family}_energy_breakdown")
    finally:
        plt.close(fig)


def relative_to_cpu(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per non-cpu record: speed-up (cpu latency / latency) and energy saving vs ``cpu``."""
    cpu = {
        (r["task"], r["split"], r["model"]): r["simulated"] for r in rows if r["profile"] == "cpu"
    }
    out = []
    for r in rows:
        base = cpu.get((r["task"], r["split"], r["model"]))
        sim = r.get("simulated", {})
        if r["profile"] == "cpu" or base is None:
            continue
        try:
            out.append(
                {
                    "label": _label(r),
                    "profile": r["profile"],
                    "speedup": base["latency_s_per_sample"] / sim["latency_s_per_sample"],
                    "energy_saving": base["energy_J_per_unit"] / sim["energy_J_per_unit"],
                }
            )
        except (KeyError, TypeError, ZeroDivisionError):
            continue
    return out


def plot_relative_to_cpu(family: str, rows: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Grouped bars: speed-up and energy saving of each profile relative to ``cpu`` (log)."""
    plt = _pyplot()
    ratios = relative_to_cpu(rows)
    if not ratios:
        return []
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(ratios) + 2), 4.5))
    xs = range(len(ratios))
    ax.bar([x - 0.2 for x in xs], [r["speedup"] for r in ratios], width=0.4, label="speed-up")
    ax.bar(
        [x + 0.2 for x in xs],
        [r["energy_saving"] for r in ratios],
        width=0.4,
        label="energy saving",
    )
    ax.axhline(1.0, color="k", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(list(xs), [r["label"] for r in ratios], rotation=70, ha="right", fontsize=6)
    ax.set_ylabel("× relative to cpu (log scale)")
    ax.set_title(f"{family}: each profile relative to cpu")
    ax.legend(fontsize=7)
    try:
        return _save(fig, out_dir, f"{family}_relative_to_cpu")
    finally:
        plt.close(fig)


def write_plots(family: str, rows: list[dict[str, Any]], metric: str, out_dir: Path) -> list[Path]:
    """Every plot of one family's leaderboard into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return (
        plot_quality_vs_energy(family, rows, metric, out_dir)
        + plot_energy_breakdown(family, rows, out_dir)
        + plot_relative_to_cpu(family, rows, out_dir)
    )
