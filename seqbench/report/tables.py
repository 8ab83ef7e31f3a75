"""Leaderboard tables: the newest whole-split result per comparable key (task, split, model,
profile, checkpoint, data, preset, decode settings), one table per family, and their markdown,
CSV and JSON renderings. "Best" is marked only among rows scored on the same data the same way;
a profile that runs none of the model's ops says so instead of repeating the host's figures."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seqbench import __version__, results
from seqbench.registry import Registry


@dataclass(frozen=True)
class Column:
    """One leaderboard column: a header, how to read it from a record, how to print it."""

    header: str
    read: Callable[[dict[str, Any]], Any]
    fmt: str = "{:.2f}"
    higher_is_better: bool | None = None  # None: not ranked

    def text(self, record: dict[str, Any]) -> str:
        value = self.value(record)
        if value is None:
            return "—"
        return self.fmt.format(value) if isinstance(value, (int, float)) else str(value)

    def value(self, record: dict[str, Any]) -> Any:
        try:
            return self.read(record)
        except (KeyError, TypeError, ZeroDivisionError):
            return None


def runs_nothing(record: dict[str, Any]) -> bool:
    """Whether the profile ran none of the model's ops: every op class of the trace fell back
    to the host (ICE on a translation model), so its cost figures are the host's."""
    ops = set((record.get("trace") or {}).get("ops") or {})
    fallback = set((record.get("simulated") or {}).get("host_fallback") or {})
    return bool(ops) and ops <= fallback


def on_chip_percent(record: dict[str, Any]) -> float | None:
    """Share (%) of the simulated energy per sample spent on the profile's own hardware."""
    sim = record["simulated"]
    total = sim.get("energy_J_per_sample")
    if runs_nothing(record):
        return 0.0
    if not total:
        return None
    host = sum(float(v.get("energy_J", 0.0)) for v in (sim.get("host_fallback") or {}).values())
    return max(0.0, 100.0 * (1.0 - host / float(total)))


def _sim(key: str, scale: float = 1.0) -> Callable[[dict[str, Any]], Any]:
    def read(record: dict[str, Any]) -> Any:
        if runs_nothing(record):  # the host's figures under another name: not shown
            return None
        value = record["simulated"][key]
        return None if value is None else value * scale

    return read


def _metric(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda record: record["quality"]["metrics"][name]


KEY_COLUMNS = [
    Column("task", lambda r: r["task"]),
    Column("split", lambda r: r["split"]),
    # Examples scored: a --limit run says so instead of passing for the whole split.
    Column("n", lambda r: r["quality"].get("samples", r["host"]["samples"]), "{:,}"),
    Column("model", lambda r: r["model"]),
    Column("profile", lambda r: r["profile"]),
    # The weights that produced the row (sha256 of model.safetensors, as `export` names them).
    Column("checkpoint", lambda r: r["checkpoint"]["sha256"][:12]),
    # What the weights cost: their count (frozen parts included) and the run's own training
    # wall clock (a teacher it starts from trained separately; "—" for imported weights).
    Column("params", lambda r: r["checkpoint"]["parameters"], "{:,}"),
    Column("train s", lambda r: r["checkpoint"]["train_seconds"], "{:,.0f}"),
    # What else makes two scores comparable: the prepared data, the preset, the decoding.
    Column("data", lambda r: str(r["data_fingerprint"])[:8]),
    Column("preset", lambda r: r["preset"]),
    Column("beam", lambda r: r["beam"], "{:d}"),
]

# Metric order per family; metrics not listed follow in name order.
FAMILY_METRICS: dict[str, list[str]] = {
    "translation": ["exact_match", "bleu", "chrf"],
    "vqa": ["vqa_accuracy", "non_relational", "relational"],
    "retrieval": ["t2i_r1", "t2i_r5", "t2i_r10", "i2t_r1", "i2t_r5", "i2t_r10", "rsum"],
    "lm": ["perplexity", "bpc", "kn3_perplexity", "kn3_bpc"],
    "binding": [
        "a2i_r1",
        "a2i_r5",
        "a2i_r10",
        "i2a_r1",
        "i2a_r5",
        "i2a_r10",
        "a2t_r1",
        "a2t_r5",
        "a2t_r10",
        "t2a_r1",
        "t2a_r5",
        "t2a_r10",
        "arith_r1",
        "arith_r5",
        "arith_r10",
        "arith_image_only_r1",
        "arith_audio_only_r1",
    ],
    "faces": ["accuracy", "tar_at_far_1e-3", "rank1", "raw_pixel_accuracy", "accuracy_std"],
}
# Quality metrics where lower is better (every other one ranks higher-is-better).
LOWER_IS_BETTER = frozenset({"perplexity", "bpc", "kn3_perplexity", "kn3_bpc"})


def plural(unit: str) -> str:
    """``token`` -> ``tokens``, ``query`` -> ``queries``."""
    return unit[:-1] + "ies" if unit.endswith("y") else unit + "s"


def on_chip_text(record: dict[str, Any]) -> Any:
    """``none: all on HOST`` for a profile that runs none of the ops, else the on-chip %."""
    if runs_nothing(record):
        fallback = (record["simulated"].get("notes") or [""])[-1]
        host = fallback.partition("(")[2].partition(")")[0] or "host"
        return f"none: all on {host}"
    return on_chip_percent(record)


def cost_columns(unit: str) -> list[Column]:
    units = plural(unit)
    return [
        Column("on chip %", on_chip_text, "{:.0f}"),
        Column(f"host {units}/s", lambda r: r["host"]["units_per_s"], "{:,.1f}", True),
        Column("latency ms/sample", _sim("latency_s_per_sample", 1e3), "{:.4g}", False),
        Column(f"sim {units}/s", _sim("throughput_units_per_s"), "{:,.4g}", True),
        Column(f"µJ/{unit}", _sim("energy_J_per_unit", 1e6), "{:.4g}", False),
        Column("power W", _sim("power_W"), "{:.4g}", None),
        Column("TOPS/W", _sim("tops_per_w"), "{:.4g}", True),
    ]


def _phase(phase: str, key: str, scale: float = 1.0) -> Callable[[dict[str, Any]], Any]:
    def read(record: dict[str, Any]) -> Any:
        if runs_nothing(record):  # the host's phases under another name, as in _sim
            return None
        return record["simulated"]["phases"][phase][key] * scale

    return read


# Generation phases priced on their own (records whose trace has ``meta.phases``).
PHASE_COLUMNS = [
    Column("sim prompt tokens/s", _phase("prefill", "throughput_units_per_s"), "{:,.4g}", True),
    Column("sim gen tokens/s", _phase("decode", "throughput_units_per_s"), "{:,.4g}", True),
    Column("gen µJ/token", _phase("decode", "energy_J_per_unit", 1e6), "{:.4g}", False),
]


@dataclass(frozen=True)
class Board:
    """A family whose board is not a quality leaderboard (``models``: cost records of
    ``seqbench price``): its own columns, and lines written below its table."""

    columns: Callable[[list[dict[str, Any]]], list[Column]]
    lines: Callable[[Table], list[str]]


# Filled by the board modules (seqbench.report.models_board), by family name.
BOARDS: dict[str, Board] = {}


def columns_for(family: str, records: list[dict[str, Any]]) -> list[Column]:
    if family in BOARDS:
        return BOARDS[family].columns(records)
    seen = {m for r in records for m in r["quality"]["metrics"]}
    preferred = [m for m in FAMILY_METRICS.get(family, []) if m in seen]
    metrics = preferred + sorted(seen - set(preferred))
    unit = records[0]["host"]["unit"] if records else "unit"
    quality = [Column(m, _metric(m), "{:.2f}", m not in LOWER_IS_BETTER) for m in metrics]
    phases = PHASE_COLUMNS if any(r["simulated"].get("phases") for r in records) else []
    return KEY_COLUMNS + quality + cost_columns(unit) + phases


def comparable_group(record: dict[str, Any]) -> tuple[str, ...]:
    """Rows that may compete for "best": the same split of the same prepared data, scored on
    the same number of examples with the same preset and decoding."""
    n = (record.get("quality") or {}).get("samples")
    keys = ("task", "split", "data_fingerprint", "preset", "beam")
    return tuple(str(record.get(k)) for k in keys) + (str(n),)


def best_marks(columns: list[Column], rows: list[dict[str, Any]]) -> set[tuple[int, int]]:
    """(row, column) cells holding the best value of a ranked column within each group of
    comparable rows (:func:`comparable_group`); other rows do not compete."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(comparable_group(r), []).append(i)
    marks: set[tuple[int, int]] = set()
    for members in groups.values():
        marks |= _best_in(columns, rows, members)
    return marks


def _best_in(
    columns: list[Column], rows: list[dict[str, Any]], members: list[int]
) -> set[tuple[int, int]]:
    marks: set[tuple[int, int]] = set()
    for c, column in enumerate(columns):
        if column.higher_is_better is None:
            continue
        values = [(column.value(rows[i]), i) for i in members]
        values = [(v, i) for v, i in values if isinstance(v, (int, float))]
        if len({v for v, _ in values}) < 2:  # a tie across every row marks nothing
            continue
        best = max(v for v, _ in values) if column.higher_is_better else min(v for v, _ in values)
        marks.update((i, c) for v, i in values if v == best)
    return marks


@dataclass
class Table:
    family: str
    columns: list[Column]
    rows: list[dict[str, Any]]

    def cells(self) -> list[list[str]]:
        return [[c.text(r) for c in self.columns] for r in self.rows]

    def signatures(self) -> list[str]:
        return sorted({r["quality"]["signature"] for r in self.rows})


def build_tables(records: list[dict[str, Any]]) -> list[Table]:
    """One table per family from the newest record of each key."""
    newest = results.newest_per_key(records)
    families = sorted({r.get("family", "unknown") for r in newest})
    tables = []
    for family in families:
        rows = [r for r in newest if r.get("family", "unknown") == family]
        tables.append(Table(family, columns_for(family, rows), rows))
    return tables


def header_lines(stamp: str, sha: str) -> list[str]:
    return [f"seqbench {__version__} · git {sha} · generated {stamp}"]


def render_markdown(table: Table, stamp: str, sha: str) -> str:
    marks = best_marks(table.columns, table.rows)
    lines = [f"# {table.family} leaderboard", "", *header_lines(stamp, sha), ""]
    lines.append("| " + " | ".join(c.header for c in table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    for i, row in enumerate(table.cells()):
        cells = [f"**{v}**" if (i, c) in marks else v for c, v in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Best value per ranked column in **bold**, only among comparable rows (same task, split, "
        "data, preset, beam and n). `on chip %`: share of the simulated energy spent on the "
        "profile's own hardware; `none` rows run every op on the host and show no cost. "
        "Signatures:",
        "",
    ]
    lines += [f"- `{s}`" for s in table.signatures()]
    lines += [
        "",
        "Host columns are measured wall clock on the machine that ran `seqbench eval`; "
        "latency, simulated throughput, energy, power and TOPS/W come from the per-operator "
        "simulator on the named profile (`seqbench accels show PROFILE`).",
    ]
    lines += workload_lines(table)
    if table.family in BOARDS:
        lines += BOARDS[table.family].lines(table)
    return "\n".join(lines) + "\n"


def workload_lines(table: Table) -> list[str]:
    """The records' extra workloads as a long table (faces: the gallery search at each size,
    up to ICE's own data sets), one row per (checkpoint, gallery, profile); [] when none."""
    records = [r for r in table.rows if r.get("workloads") and not runs_nothing(r)]
    if not records:
        return []
    lines = [
        "",
        "## Gallery search by size",
        "",
        "The exact top-10 search runs on the host at every size: the real enrolled test "
        "embeddings plus seeded random INT8 distractors, searched by `probes` real test probes "
        "(host searches/s; rank-1 of those probes). Each profile's figures are simulated from "
        "that search's trace.",
        "",
        "| model | checkpoint | gallery | vectors | INT8 MB | probes | host searches/s | rank-1 | "
        "profile | sim searches/s | µJ/search |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        key = (record["model"], record["checkpoint"]["sha256"][:12])
        groups.setdefault(key, []).append(record)
    for (model, checkpoint), group in sorted(groups.items()):
        group.sort(key=lambda r: r["profile"])
        for i, row in enumerate(group[0]["workloads"]):
            head = [model, checkpoint, row["name"], f"{row['vectors']:,}"]
            if row.get("skipped"):
                cells = [f"skipped ({row['why']})"] + ["—"] * 6
                lines.append("| " + " | ".join(head + cells) + " |")
                continue
            head += [
                f"{row['bytes_int8'] / 1e6:.4g}",
                f"{row['queries']:,}",
                f"{row['host_searches_per_s']:,.4g}",
                f"{100 * row['rank1']:.1f}",
            ]
            for record in group:
                sim = record["workloads"][i].get("simulated") or {}
                rate, energy = sim.get("throughput_units_per_s"), sim.get("energy_J_per_unit")
                cells = [
                    record["profile"],
                    "—" if rate is None else f"{rate:,.4g}",
                    "—" if energy is None else f"{energy * 1e6:.4g}",
                ]
                lines.append("| " + " | ".join(head + cells) + " |")
    return lines


def render_csv(table: Table, stamp: str, sha: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f"# {line}" for line in header_lines(stamp, sha)])
    writer.writerow([c.header for c in table.columns] + ["signature"])
    for row, record in zip(table.cells(), table.rows, strict=True):
        writer.writerow(row + [record["quality"]["signature"]])
    return out.getvalue()


def render_json(table: Table, stamp: str, sha: str) -> str:
    payload = {
        "family": table.family,
        "seqbench_version": __version__,
        "git_sha": sha,
        "generated": stamp,
        "columns": [c.header for c in table.columns],
        "rows": [
            {c.header: c.value(r) for c in table.columns} | {"signature": r["quality"]["signature"]}
            for r in table.rows
        ],
    }
    return json.dumps(payload, indent=2, default=str) + "\n"


RENDERERS: Registry[tuple[str, Callable[[Table, str, str], str]]] = Registry("report format")
RENDERERS.add("md", ("md", render_markdown))
RENDERERS.add("csv", ("csv", render_csv))
RENDERERS.add("json", ("json", render_json))


def primary_metric(table: Table) -> str:
    """The metric most rows name as primary."""
    names = [r["quality"]["primary"] for r in table.rows]
    return max(set(names), key=names.count)
