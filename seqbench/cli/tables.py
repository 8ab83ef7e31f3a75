"""Rich tables the commands print."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from seqbench.report.tables import (
    on_chip_text,
    on_subset,
    plural,
    runs_nothing,
    workload_rows,
)


def _fmt(value: Any, spec: str = "{:.4g}") -> str:
    return "—" if value is None else spec.format(value)


def _host_same_n(record: dict[str, Any], primary: str) -> str:
    """The host's primary metric on the examples this row was scored on: the whole split's
    for a whole-split row, the same subset's for a row re-scored on the first n."""
    if not on_subset(record):
        host = record.get("quality_host") or record["quality"]
        return _fmt(host["metrics"].get(primary), "{:.2f}")
    same = record.get("quality_host_same_n") or {}
    return _fmt((same.get("metrics") or {}).get(primary), "{:.2f}")


def eval_table(records: list[dict[str, Any]]) -> Table:
    """One row per profile: n, quality (with effects) beside the host's on the same n,
    latency, throughput, energy, TOPS/W."""
    first = records[0]
    unit = first["host"]["unit"]
    primary = first["quality"]["primary"]
    metrics = [primary] + [m for m in first["quality"]["metrics"] if m != primary][:3]
    host = first["host"]
    title = (
        f"{first['task']} / {first['split']} / {first['model']} — "
        f"host {host['units_per_s']:,.1f} {plural(unit)}/s measured on "
        f"{host.get('cpu_model') or host.get('processor')} ({host['threads']} threads)"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("profile")
    table.add_column("n", justify="right")
    table.add_column(primary, justify="right")
    table.add_column(f"host {primary}, same n", justify="right")
    for metric in metrics[1:]:
        table.add_column(metric, justify="right")
    for header in ("latency ms/sample", f"{plural(unit)}/s", f"µJ/{unit}", "power W", "TOPS/W"):
        table.add_column(header, justify="right")
    for record in records:
        sim = record["simulated"]
        quality = record["quality"]["metrics"]
        scores = [_fmt(quality.get(m), "{:.2f}") for m in metrics]
        n = _fmt(record["quality"].get("samples"), "{:,}")
        scores = [n, scores[0], _host_same_n(record, primary), *scores[1:]]
        if runs_nothing(record):
            # not a copy of the host's row: this profile runs none of the model's operators
            table.add_row(record["profile"], *scores, on_chip_text(record), *["—"] * 4)
            continue
        table.add_row(
            record["profile"],
            *scores,
            _fmt(sim.get("latency_s_per_sample") and sim["latency_s_per_sample"] * 1e3),
            _fmt(sim.get("throughput_units_per_s"), "{:,.4g}"),
            _fmt(sim.get("energy_J_per_unit") and sim["energy_J_per_unit"] * 1e6),
            _fmt(sim.get("power_W")),
            _fmt(sim.get("tops_per_w")),
        )
    subset = [r for r in records if on_subset(r)]
    if subset:
        whole = first["quality_host"]
        table.caption = (
            f"{', '.join(r['profile'] for r in subset)}: effects re-scored on the first "
            f"{subset[0]['quality']['samples']:,} of {whole['samples']:,} examples, beside the "
            f"host on the same ones; the host on the whole split: "
            f"{whole['metrics'][primary]:.2f} {primary}"
        )
        table.caption_justify = "left"
    return table


def detail_lines(records: list[dict[str, Any]]) -> list[str]:
    """Per profile, what the table has no room for: each sparsity mechanism's energy saving
    (with the others on) and, for generation traces, the prefill and decode phases."""
    lines = []
    for record in records:
        sim = record["simulated"]
        mechanisms = sim.get("mechanisms") or {}
        if mechanisms:
            parts = ", ".join(
                f"{name} {m['fraction']:.1%}" for name, m in mechanisms.items() if name != "all"
            )
            total = mechanisms.get("all", {}).get("fraction")
            lines.append(
                f"{record['profile']}: energy saved by {parts}"
                + (f"; all together {total:.1%}" if total is not None else "")
            )
        for phase, cost in ({} if runs_nothing(record) else sim.get("phases") or {}).items():
            lines.append(
                f"{record['profile']} {phase}: {cost['throughput_units_per_s']:,.4g} tokens/s, "
                f"{cost['energy_J_per_unit'] * 1e6:.4g} µJ/token ({cost['units']} tokens traced)"
            )
    return lines


def workloads_table(records: list[dict[str, Any]]) -> Table | None:
    """The extra workloads (faces: the gallery search by size): host-measured searches/s,
    then each profile's simulated searches/s and energy per search; None when there are none."""
    rows = records[0].get("workloads") or []
    if not rows:
        return None
    table = Table(
        title="gallery search by size (exact top-10, host-run; profiles simulated)",
        title_justify="left",
    )
    for header in ("gallery", "vectors", "dim", "INT8 MB", "host searches/s", "rank-1"):
        table.add_column(header, justify="right")
    for record in records:
        table.add_column(f"{record['profile']} searches/s", justify="right")
        table.add_column(f"{record['profile']} µJ/search", justify="right")
    for i, row in enumerate(rows):
        if row.get("skipped"):
            cells = ["—"] * (4 + 2 * len(records))
            cells[2] = f"skipped ({row['why']})"
            table.add_row(row["name"], f"{row['vectors']:,}", *cells)
            continue
        cells = [
            row["name"],
            f"{row['vectors']:,}",
            str(row["dim"]),
            f"{row['bytes_int8'] / 1e6:.4g}",
            _fmt(row["host_searches_per_s"], "{:,.4g}"),
            _fmt(100 * row["rank1"], "{:.1f}"),
        ]
        for record in records:
            work = workload_rows(record)[i]  # "none: all on cpu" where it runs none of it
            if isinstance(work.get("on chip"), str):
                cells += [work["on chip"], "—"]
                continue
            cells.append(_fmt(work.get("sim searches/s"), "{:,.4g}"))
            cells.append(_fmt(work.get("µJ/search")))
        table.add_row(*cells)
    return table
