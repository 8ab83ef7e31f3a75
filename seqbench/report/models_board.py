"""The ``models`` board: cost-only records of ``seqbench price`` (any PyTorch model).

One row per (model, shapes, profile): simulated latency, throughput, energy, power and
TOPS/W; below the table, each model's energy by op class and its per-layer time and energy on
every profile, so a breakdown reads like the model (``encoder.layer.3``...).
"""

from __future__ import annotations

from typing import Any

from seqbench.report.tables import BOARDS, Board, Column, Table, cost_columns, plural

MODEL_COLUMNS = [
    Column("model", lambda r: r["model"]),
    Column("source", lambda r: _source(r)),
    Column("params", lambda r: r["checkpoint"]["parameters"], "{:,}"),
    Column("shape", lambda r: r["data_fingerprint"]),
    Column(
        "GMACs/sample", lambda r: r["trace"]["macs_total"] / r["host"]["samples"] / 1e9, "{:.4g}"
    ),
    Column("profile", lambda r: r["profile"]),
]


def _source(record: dict[str, Any]) -> str:
    source = record.get("source") or {}
    weights = " (random weights)" if source.get("random_weights") else ""
    return f"{source.get('kind', '?')}: {source.get('name', '?')}{weights}"


def columns(records: list[dict[str, Any]]) -> list[Column]:
    unit = records[0]["host"]["unit"] if records else "unit"
    units = plural(unit)
    cost = [c for c in cost_columns(unit) if c.header != f"host {units}/s"]
    return MODEL_COLUMNS + cost


def breakdown_lines(table: Table) -> list[str]:
    """Per model: energy by op class and time/energy per layer on every profile."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in table.rows:
        groups.setdefault((record["model"], record["data_fingerprint"]), []).append(record)
    lines = [
        "",
        "Cost records (`seqbench price`): no quality is measured; a model built from its "
        "configuration has random weights, so its sparsity statistics (and the cost of "
        "profiles that exploit sparsity) describe random weights, not the trained model.",
    ]
    for (model, shape), records in sorted(groups.items()):
        records = sorted(records, key=lambda r: r["profile"])
        lines += ["", f"## {model} ({shape})", ""] + _unknown_line(records[0])
        lines += _class_table(records) + [""] + _layer_table(records)
    return lines


def _unknown_line(record: dict[str, Any]) -> list[str]:
    unknown = (record["trace"].get("meta") or {}).get("unknown_ops") or {}
    if not unknown:
        return []
    listed = ", ".join(f"`{k}` x{v}" for k, v in sorted(unknown.items()))
    return [f"Ops the tracer does not know, priced on the host: {listed}.", ""]


def _class_table(records: list[dict[str, Any]]) -> list[str]:
    unit = records[0]["host"]["unit"]
    categories = sorted({c for r in records for c in r["simulated"]["breakdown"]})
    lines = [
        f"Energy by op class, µJ per {unit}:",
        "",
        "| profile | " + " | ".join(categories) + " |",
        "|---|" + "---|" * len(categories),
    ]
    for r in records:
        sim = r["simulated"]
        per_unit = r["host"]["samples"] / r["host"]["units"]
        cells = [
            f"{sim['breakdown'][c]['energy_J'] * per_unit * 1e6:.4g}"
            if c in sim["breakdown"]
            else "—"
            for c in categories
        ]
        lines.append(f"| {r['profile']} | " + " | ".join(cells) + " |")
    return lines


def _layer_table(records: list[dict[str, Any]]) -> list[str]:
    found = records[0]["simulated"].get("stages") or {}
    stages = sorted(found, key=lambda name: found[name].get("order", 0))  # the model's order
    if not stages:
        return []
    lines = [
        "Per layer, per sample: GMACs, then each profile's time (µs, ops in sequence before "
        "pipelining) / energy (µJ):",
        "",
        "| layer | GMACs | " + " | ".join(r["profile"] for r in records) + " |",
        "|---|---|" + "---|" * len(records),
    ]
    for stage in stages:
        macs = records[0]["simulated"]["stages"][stage]["macs"]
        cells = []
        for r in records:
            s = r["simulated"]["stages"].get(stage)
            cells.append(
                "—" if s is None else f"{s['time_s'] * 1e6:.4g} / {s['energy_J'] * 1e6:.4g}"
            )
        lines.append(f"| {stage} | {macs / 1e9:.4g} | " + " | ".join(cells) + " |")
    return lines


BOARDS["models"] = Board(columns, breakdown_lines)
