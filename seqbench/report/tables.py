"""Leaderboard tables: the newest whole-split result per comparable key (task, split, model,
profile, checkpoint, data, preset, decode settings), one table per family, and their markdown,
CSV and JSON renderings. "Best" is marked only among rows scored on the same data the same way;
a profile that runs none of the model's ops says so instead of repeating the host's figures.

A table holds *board rows*: one flat dict per record (column header -> value, plus the
:data:`ROW_FIELDS`), the same rows a board's JSON file publishes. Every rendering reads those
rows, so a published board can be rendered again from its JSON alone (``report --boards``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seqbench import results
from seqbench.errors import SeqbenchError


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


def host_throughput_header(unit: str) -> str:
    """The measured host throughput column, shown once per checkpoint and split on boards."""
    return f"host {plural(unit)}/s"


def cost_columns(unit: str) -> list[Column]:
    return [
        Column("on chip %", on_chip_text, "{:.0f}"),
        Column(host_throughput_header(unit), lambda r: r["host"]["units_per_s"], "{:,.1f}", True),
        Column("latency ms/sample", _sim("latency_s_per_sample", 1e3), "{:.4g}", False),
        Column(f"sim {plural(unit)}/s", _sim("throughput_units_per_s"), "{:,.4g}", True),
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


def on_subset(record: dict[str, Any]) -> bool:
    """Whether the record's quality was scored on fewer examples than the host's (a profile
    with effects re-scored on the first ``--effects-limit`` examples)."""
    n = (record.get("quality") or {}).get("samples")
    whole = (record.get("quality_host") or {}).get("samples")
    return n is not None and whole is not None and n < whole


def host_on_same_n(record: dict[str, Any]) -> Any:
    """The host's primary metric on the same examples as a subset row (None for whole-split
    rows, and for records made before the host scored the subset too)."""
    if not on_subset(record):
        return None
    same = record["quality_host_same_n"]
    return same["metrics"][same["primary"]]


HOST_SAME_N = Column("host, same n", host_on_same_n, "{:.2f}")


@dataclass(frozen=True)
class Board:
    """A family whose board is not a quality leaderboard (``models``: the cost records of
    ``seqbench price``): columns after the key ones, the fields each row carries beyond its
    cells (kept in the board's JSON), and the markdown written below its table."""

    columns: list[Column]
    row_fields: Callable[[dict[str, Any]], dict[str, Any]]
    lines: Callable[[Table], list[str]]
    cost: list[Column] | None = None  # instead of cost_columns(unit) (mixed units: per sample)


# Filled by the board modules (seqbench.report.models_board), by family name.
BOARDS: dict[str, Board] = {}


def columns_for(family: str, records: list[dict[str, Any]]) -> list[Column]:
    board = BOARDS[family].columns if family in BOARDS else []
    seen = {m for r in records for m in r["quality"]["metrics"]}
    preferred = [m for m in FAMILY_METRICS.get(family, []) if m in seen]
    metrics = preferred + sorted(seen - set(preferred))
    unit = records[0]["host"]["unit"] if records else "unit"
    quality = [Column(m, _metric(m), "{:.2f}", m not in LOWER_IS_BETTER) for m in metrics]
    same_n = [HOST_SAME_N] if any(on_subset(r) for r in records) else []
    phases = PHASE_COLUMNS if any(r["simulated"].get("phases") for r in records) else []
    cost = BOARDS[family].cost if family in BOARDS and BOARDS[family].cost else None
    return KEY_COLUMNS + board + quality + same_n + (cost or cost_columns(unit)) + phases


def column_for_header(header: str) -> Column:
    """The column that reads ``header`` from a board row, with that header's format and
    ranking (a key or cost column as :func:`columns_for` makes it; otherwise a metric)."""
    boards = [c for b in BOARDS.values() for c in b.columns]
    known = {c.header: c for c in (*KEY_COLUMNS, *boards, HOST_SAME_N, *PHASE_COLUMNS)}
    unit = _unit_of(header)
    if unit is not None:
        known.update({c.header: c for c in cost_columns(unit)})
    known.update({c.header: c for c in cost_columns("unit")})
    base = known.get(header) or Column(
        header, _metric(header), "{:.2f}", header not in LOWER_IS_BETTER
    )
    return Column(header, lambda row: row[header], base.fmt, base.higher_is_better)


def _unit_of(header: str) -> str | None:
    """``token`` from ``µJ/token``, ``host tokens/s`` or ``sim queries/s``; else None."""
    match = re.fullmatch(r"µJ/(\w+)", header)
    if match:
        return match.group(1)
    match = re.fullmatch(r"(?:host|sim) (\w+)/s", header)
    if not match:
        return None
    units = match.group(1)
    return units[:-3] + "y" if units.endswith("ies") else units.removesuffix("s")


def comparable_group(row: dict[str, Any]) -> tuple[str, ...]:
    """Board rows that may compete for "best": the same split of the same prepared data,
    scored on the same number of examples with the same preset and decoding."""
    return tuple(str(row.get(k)) for k in ("task", "split", "data", "preset", "beam", "n"))


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


# What a board row holds besides its columns.
ROW_FIELDS = ("signature", "primary", "unit", "host machine", "workloads")


@dataclass
class Table:
    """One family's board: column headers (in order) and board rows (see the module doc)."""

    family: str
    headers: list[str]
    rows: list[dict[str, Any]]
    # Set when the rows come from a published board's JSON: its stamp and git sha.
    source: dict[str, str] | None = None

    @property
    def columns(self) -> list[Column]:
        return [column_for_header(h) for h in self.headers]

    def shown(self) -> list[Column]:
        """The full table's columns: all but the host throughput, which the host table shows
        once per checkpoint and split."""
        host = host_throughput_header(self.unit())
        return [c for c in self.columns if c.header != host]

    def unit(self) -> str:
        """What one unit of work is (``token``, ``query``, ``sample``)."""
        for row in self.rows:
            if row.get("unit"):
                return str(row["unit"])
        found = (_unit_of(h) for h in self.headers if h.startswith("µJ/"))
        return next(found, None) or "unit"

    def cells(self) -> list[list[str]]:
        return [[c.text(r) for c in self.columns] for r in self.rows]

    def signatures(self) -> list[str]:
        return sorted({r["signature"] for r in self.rows})


def machine_text(host: dict[str, Any]) -> str:
    """The machine a host figure was measured on: CPU, cores and torch threads, led by the
    accelerator where the model ran on one (a CUDA record: ``cuda (NVIDIA ...) on CPU, ...``)."""
    cpu = host.get("cpu_model") or host.get("processor") or host.get("machine") or "unknown CPU"
    cores = host.get("cpu_count")
    threads = host.get("threads")
    parts = [str(cpu)]
    if cores:
        parts.append(f"{cores} cores")
    if threads:
        parts.append(f"{threads} torch thread{'s' * (threads != 1)}")
    device = host.get("device")
    on = f"{device} on " if device and device != "cpu" else ""
    return on + ", ".join(parts)


def workload_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's extra workloads (faces: the gallery search by size) as flat rows; a
    profile that runs none of a search says so instead of repeating the host's figures."""
    rows = []
    for work in record.get("workloads") or []:
        row: dict[str, Any] = {"gallery": work["name"], "vectors": work["vectors"]}
        if work.get("skipped"):
            rows.append(row | {"skipped": work["why"]})
            continue
        sim = work.get("simulated") or {}
        share = on_chip_percent({"simulated": sim}) if sim else None
        none = share is not None and share < 0.5 and bool(sim.get("host_fallback"))
        row |= {
            "INT8 MB": work["bytes_int8"] / 1e6,
            "probes": work["queries"],
            "host searches/s": work["host_searches_per_s"],
            "rank-1": 100 * work["rank1"],
            "on chip": f"none: all on {_fallback_host(sim, record)}" if none else share,
            "gallery in": work.get("gallery_in"),
            "sim searches/s": None if none else sim.get("throughput_units_per_s"),
            "µJ/search": None
            if none or sim.get("energy_J_per_unit") is None
            else sim["energy_J_per_unit"] * 1e6,
        }
        rows.append(row)
    return rows


def _fallback_host(sim: dict[str, Any], record: dict[str, Any]) -> str:
    for notes in (sim.get("notes"), (record.get("simulated") or {}).get("notes")):
        host = ((notes or [""])[-1]).partition("(")[2].partition(")")[0]
        if host:
            return host
    return "host"


def board_row(columns: list[Column], record: dict[str, Any]) -> dict[str, Any]:
    """One record as the flat row a board publishes."""
    row = {c.header: c.value(record) for c in columns}
    row |= {
        "signature": record["quality"]["signature"],
        "primary": record["quality"]["primary"],
        "unit": record["host"]["unit"],
        "host machine": machine_text(record["host"]),
    }
    if record.get("workloads"):
        row["workloads"] = workload_rows(record)
    if record.get("family") in BOARDS:
        row |= BOARDS[record["family"]].row_fields(record)
    return row


def build_tables(records: list[dict[str, Any]]) -> list[Table]:
    """One table per family from the newest record of each key."""
    newest = results.newest_per_key(records)
    families = sorted({r.get("family", "unknown") for r in newest})
    tables = []
    for family in families:
        mine = [r for r in newest if r.get("family", "unknown") == family]
        columns = columns_for(family, mine)
        rows = [board_row(columns, r) for r in mine]
        tables.append(Table(family, [c.header for c in columns], rows))
    return tables


def table_from_json(payload: dict[str, Any]) -> Table:
    """A published board's JSON file (what :func:`render_json` wrote) as a table."""
    try:
        return Table(
            str(payload["family"]),
            [str(h) for h in payload["columns"]],
            [dict(r) for r in payload["rows"]],
            # A board rendered again keeps naming when its rows were first published.
            source=payload.get("rendered_from")
            or {"generated": str(payload["generated"]), "git_sha": str(payload["git_sha"])},
        )
    except (KeyError, TypeError, ValueError) as err:
        raise SeqbenchError(
            f"not a board JSON file (no {err})", "pass a folder that `seqbench report` wrote"
        ) from err
