"""The ``models`` board: cost-only records of ``seqbench price`` (any PyTorch model).

One row per (model, input shape, profile), with the model's source and MACs beside the usual
key and cost columns (no quality: none is measured); below the table, each model's energy by
op class and its per-layer time and energy on every profile, so a breakdown reads like the
model (``encoder.layer.3``...). The rows carry those breakdowns (``op_class_energy_uJ``,
``layers``, ``unknown_ops``), so a published board renders again from its JSON alone.
"""

from __future__ import annotations

from typing import Any

from seqbench.report.tables import BOARDS, Board, Column, Table, _sim, on_chip_text

COLUMNS = [
    Column("source", lambda r: _source(r)),
    Column(
        "GMACs/sample", lambda r: r["trace"]["macs_total"] / r["host"]["samples"] / 1e9, "{:.4g}"
    ),
]


# Models priced per token and per image share one board: its cost columns are per sample
# (the breakdowns below the table give energy per each model's own unit).
COST = [
    Column("on chip %", on_chip_text, "{:.0f}"),
    Column("host samples/s", lambda r: _host_samples_per_s(r), "{:,.1f}", True),
    Column("latency ms/sample", _sim("latency_s_per_sample", 1e3), "{:.4g}", False),
    Column("sim samples/s", _sim("throughput_samples_per_s"), "{:,.4g}", True),
    Column("µJ/sample", _sim("energy_J_per_sample", 1e6), "{:.4g}", False),
    Column("power W", _sim("power_W"), "{:.4g}", None),
    Column("TOPS/W", _sim("tops_per_w"), "{:.4g}", True),
]


def _host_samples_per_s(record: dict[str, Any]) -> float | None:
    host = record["host"]
    if not host.get("units_per_s") or not host.get("wall_s"):
        return None  # shapes only: nothing ran
    return host["samples"] / host["wall_s"]


def _source(record: dict[str, Any]) -> str:
    source = record.get("source") or {}
    weights = " (random weights)" if source.get("random_weights") else ""
    return f"{source.get('kind', '?')}: {source.get('name', '?')}{weights}"


def row_fields(record: dict[str, Any]) -> dict[str, Any]:
    """What the breakdown tables need: energy by op class per unit (µJ), per-layer figures
    per sample, and the ops the tracer did not know."""
    sim = record["simulated"]
    per_unit = record["host"]["samples"] / record["host"]["units"]
    return {
        "unit": "sample",  # the board's cost columns are per sample
        "model_unit": record["host"]["unit"],
        "op_class_energy_uJ": {
            c: v["energy_J"] * per_unit * 1e6 for c, v in (sim.get("breakdown") or {}).items()
        },
        "layers": sim.get("stages") or {},
        "unknown_ops": (record["trace"].get("meta") or {}).get("unknown_ops") or {},
    }


def breakdown_lines(table: Table) -> list[str]:
    """Per model and input shape: energy by op class, then time and energy per layer."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in table.rows:
        groups.setdefault((str(row["model"]), str(row["data"])), []).append(row)
    lines = [
        "",
        "Cost records (`seqbench price`): no quality is measured; a model built from its "
        "configuration has random weights, so its sparsity statistics (and the cost on "
        "profiles that exploit sparsity) describe random weights, not the trained model.",
    ]
    for (model, shape), rows in sorted(groups.items()):
        rows = sorted(rows, key=lambda r: str(r["profile"]))
        lines += ["", f"## {model} ({shape} {rows[0].get('model_unit', 'unit')}s)", ""]
        lines += _unknown_line(rows[0]) + _class_table(rows) + [""] + _layer_table(rows)
    return lines


def _unknown_line(row: dict[str, Any]) -> list[str]:
    unknown = row.get("unknown_ops") or {}
    if not unknown:
        return []
    listed = ", ".join(f"`{k}` x{v}" for k, v in sorted(unknown.items()))
    return [f"Ops the tracer does not know, priced on the host: {listed}.", ""]


def _class_table(rows: list[dict[str, Any]]) -> list[str]:
    categories = sorted({c for r in rows for c in r.get("op_class_energy_uJ") or {}})
    lines = [
        f"Energy by op class, µJ per {rows[0].get('model_unit', 'unit')}:",
        "",
        "| profile | " + " | ".join(categories) + " |",
        "|---|" + "---|" * len(categories),
    ]
    for r in rows:
        energy = r.get("op_class_energy_uJ") or {}
        cells = [f"{energy[c]:.4g}" if c in energy else "—" for c in categories]
        lines.append(f"| {r['profile']} | " + " | ".join(cells) + " |")
    return lines


def _layer_table(rows: list[dict[str, Any]]) -> list[str]:
    found = rows[0].get("layers") or {}
    if not found:
        return []
    stages = sorted(found, key=lambda name: found[name].get("order", 0))  # the model's order
    lines = [
        "Per layer, per sample: GMACs, then each profile's time (µs, the layer's ops in "
        "sequence, before pipelining) / energy (µJ):",
        "",
        "| layer | GMACs | " + " | ".join(str(r["profile"]) for r in rows) + " |",
        "|---|---|" + "---|" * len(rows),
    ]
    for stage in stages:
        cells = []
        for r in rows:
            s = (r.get("layers") or {}).get(stage)
            cells.append(
                "—" if s is None else f"{s['time_s'] * 1e6:.4g} / {s['energy_J'] * 1e6:.4g}"
            )
        macs = found[stage]["macs"] / 1e9
        lines.append(f"| {stage} | {macs:.4g} | " + " | ".join(cells) + " |")
    return lines


BOARDS["models"] = Board(COLUMNS, row_fields, breakdown_lines, COST)
