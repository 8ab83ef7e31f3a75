"""The tables a board opens with: a summary (one row per task, split, model and checkpoint:
quality once, then each profile's latency and energy with its ratio to ``cpu``), the measured
host throughput once per checkpoint and split with its machine, and the gallery search by
size (faces). All read board rows (:mod:`seqbench.report.tables`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from seqbench import config
from seqbench.errors import SeqbenchError
from seqbench.report.tables import Table, host_throughput_header

# A summary table has at most this many columns; more profiles go to a second table.
MAX_COLUMNS = 12
KEY_HEADERS = ("task · split", "model · checkpoint", "n", "quality")
BASELINE = "cpu"


# The metric a summary shows for rows published before the primary metric was recorded.
DEFAULT_PRIMARY = {
    "translation": "bleu",
    "vqa": "vqa_accuracy",
    "retrieval": "rsum",
    "lm": "perplexity",
    "binding": "audio_image_rsum",
    "faces": "accuracy",
}


@cache
def _spec_primary(task: str) -> str | None:
    """The first metric the row's task spec lists (``scan:simple@set`` reads ``scan``)."""
    name = task.split("@")[0].split(":")[0]
    try:
        spec, _ = config.load_task(name)
    except SeqbenchError:
        return None
    return spec.metrics[0] if spec.metrics else None


def row_primary(family: str, row: dict[str, Any]) -> str | None:
    """The row's primary metric; for rows that did not record one, the first metric of its
    task spec, else its family's default."""
    for name in (
        row.get("primary"),
        _spec_primary(str(row.get("task", ""))),
        DEFAULT_PRIMARY.get(family),
    ):
        if name and name in row:
            return name
    return None


def primary_metric(table: Table) -> str:
    """The metric most rows name as primary."""
    names = [row_primary(table.family, r) or "" for r in table.rows]
    return max(set(names), key=names.count)


@dataclass
class SummaryRow:
    """One (task, split, model, checkpoint) of a board and its rows by profile."""

    key: tuple[str, ...]
    by_profile: dict[str, dict[str, Any]]

    def reference(self) -> dict[str, Any]:
        """The row quality is read from: the baseline's (no effects, whole split), else the
        one scored on the most examples."""
        if BASELINE in self.by_profile:
            return self.by_profile[BASELINE]
        return max(self.by_profile.values(), key=lambda r: r.get("n") or 0)


def summary_rows(table: Table) -> list[SummaryRow]:
    groups: dict[tuple[str, ...], dict[str, dict[str, Any]]] = {}
    for row in table.rows:
        key = tuple(
            str(row.get(k))
            for k in ("task", "split", "model", "checkpoint", "data", "preset", "beam")
        )
        groups.setdefault(key, {})[str(row["profile"])] = row
    return [SummaryRow(k, v) for k, v in sorted(groups.items())]


def profiles_of(table: Table) -> list[str]:
    """``cpu`` first (every ratio is to it), then the others by name."""
    names = sorted({str(r["profile"]) for r in table.rows})
    return sorted(names, key=lambda n: (n != BASELINE, n))


def profile_chunks(profiles: list[str]) -> list[list[str]]:
    """Profiles split into as few, as even, summary tables as keep each to MAX_COLUMNS."""
    room = MAX_COLUMNS - len(KEY_HEADERS)
    count = max(1, math.ceil(len(profiles) / room))
    size = math.ceil(len(profiles) / count)
    return [profiles[i : i + size] for i in range(0, len(profiles), size)]


# Prefixes a summary cell may use, so each figure prints in three significant digits.
_SCALES = (("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0), ("m", 1e-3), ("µ", 1e-6), ("n", 1e-9))


def _si(value: float, unit: str) -> str:
    """``value`` (in ``unit``, e.g. J or s) with the prefix that keeps it in [1, 1000)."""
    for prefix, scale in _SCALES:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    prefix, scale = _SCALES[-1]
    return f"{value / scale:.3g} {prefix}{unit}"


def _ratio(value: float) -> str:
    return f"×{value:,.0f}" if value >= 10 else f"×{value:.2g}"


def key_cells(table: Table, group: SummaryRow) -> list[list[str]]:
    """The row's key and quality, each cell as lines (task / split, model / checkpoint)."""
    ref = group.reference()
    split = str(ref["split"])
    if str(ref.get("beam")) not in ("1", "None"):
        split += f" · beam {ref['beam']}"
    primary = row_primary(table.family, ref)
    value = ref.get(primary) if primary else None
    quality = ["—"] if value is None else [str(primary), f"{value:.2f}"]
    n = ref.get("n")
    return [
        [str(ref["task"]), split],
        [str(ref["model"]), str(ref["checkpoint"])],
        ["—" if n is None else f"{n:,}"],
        quality,
    ]


def profile_lines(table: Table, group: SummaryRow, profile: str) -> list[str]:
    """A profile's cell as lines: latency per sample and energy per unit, each with cpu's
    figure divided by this profile's (above 1: faster, or less energy, than cpu)."""
    row = group.by_profile.get(profile)
    if row is None:
        return ["—"]
    on_chip = row.get("on chip %")
    if isinstance(on_chip, str):  # "none: all on cpu": runs none of the model's ops
        return [on_chip]
    unit = table.unit()
    base = group.by_profile.get(BASELINE)
    lines = []
    for header, si_unit, scale in (("latency ms/sample", "s", 1e-3), (f"µJ/{unit}", "J", 1e-6)):
        value = row.get(header)
        if not isinstance(value, (int, float)) or value <= 0:
            lines.append("—")
            continue
        text = _si(value * scale, si_unit)
        ref = base.get(header) if base is not None and profile != BASELINE else None
        if isinstance(ref, (int, float)) and ref > 0:
            text += f" {_ratio(ref / value)}"
        lines.append(text)
    return lines


def summary_grids(table: Table) -> list[tuple[list[str], list[list[list[str]]]]]:
    """Each summary table as (headers, rows of cells of lines)."""
    groups = summary_rows(table)
    grids = []
    for chunk in profile_chunks(profiles_of(table)):
        headers = [*KEY_HEADERS, *chunk]
        rows = [key_cells(table, g) + [profile_lines(table, g, p) for p in chunk] for g in groups]
        grids.append((headers, rows))
    return grids


def summary_intro(table: Table) -> str:
    unit = table.unit()
    return (
        f"One row per task, split, model and checkpoint: quality once (the primary metric on "
        f"the `{BASELINE}` row, which runs no effects, on n examples), then per profile the "
        f"simulated latency per sample and energy per {unit}, each with `{BASELINE}`'s figure "
        f"divided by the profile's (×10: ten times faster, or a tenth of the energy; "
        "s, ms, µs and J, mJ, µJ, nJ as the size needs). Quality under each profile's effects "
        "is in the full table below."
    )


def host_rows(table: Table) -> list[list[str]]:
    """Measured host throughput once per (task, split, model, checkpoint), from the ``cpu``
    row (or the row scored on the most examples), with the machine it was measured on."""
    header = host_throughput_header(table.unit())
    rows = []
    for group in summary_rows(table):
        ref = group.reference()
        value = ref.get(header)
        rows.append(
            [
                f"{ref['task']} · {ref['split']}",
                f"{ref['model']} · {ref['checkpoint']}",
                "—" if ref.get("n") is None else f"{ref['n']:,}",
                "—" if value is None else f"{value:,.1f}",
                str(ref.get("host machine") or "not recorded"),
            ]
        )
    return rows


def host_headers(table: Table) -> list[str]:
    return [
        "task · split",
        "model · checkpoint",
        "n",
        host_throughput_header(table.unit()),
        "measured on",
    ]


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def summary_markdown(table: Table) -> list[str]:
    lines = ["## Summary", "", summary_intro(table), ""]
    for headers, rows in summary_grids(table):
        joined = [
            [[" · ".join(row[0])], [" · ".join(row[1])], row[2], [" ".join(row[3])], *row[4:]]
            for row in rows
        ]
        lines += _md_table(headers, [["<br>".join(cell) for cell in row] for row in joined])
        lines.append("")
    lines += [
        "## Host throughput (measured)",
        "",
        "Wall clock of the host's own evaluation, once per checkpoint and split (from the "
        f"`{BASELINE}` row's record), with the machine that measured it.",
        "",
        *_md_table(host_headers(table), host_rows(table)),
    ]
    return lines


WORKLOAD_HEADERS = [
    "model", "checkpoint", "gallery", "vectors", "INT8 MB", "probes", "host searches/s",
    "rank-1", "profile", "gallery in", "sim searches/s", "µJ/search",
]  # fmt: skip


def workload_cells(table: Table) -> list[list[str]]:
    """The gallery search by size, one row per (checkpoint, gallery, profile); a profile that
    runs none of the search reads ``none: all on cpu``."""
    rows = []
    keyed = sorted(
        (r for r in table.rows if r.get("workloads")),
        key=lambda r: (str(r["model"]), str(r["checkpoint"]), str(r["profile"])),
    )
    per_checkpoint: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in keyed:
        per_checkpoint.setdefault((str(row["model"]), str(row["checkpoint"])), []).append(row)
    for (model, checkpoint), group in per_checkpoint.items():
        for i, work in enumerate(group[0]["workloads"]):
            head = [model, checkpoint, str(work["gallery"]), f"{work['vectors']:,}"]
            if work.get("skipped"):
                rows.append(head + [f"skipped ({work['skipped']})"] + ["—"] * 7)
                continue
            head += [
                f"{work['INT8 MB']:.4g}",
                f"{work['probes']:,}",
                f"{work['host searches/s']:,.4g}",
                f"{work['rank-1']:.1f}",
            ]
            for row in group:
                mine = row["workloads"][i]
                where = mine.get("gallery in") or "—"  # rows published before it was recorded
                if isinstance(mine.get("on chip"), str):
                    rows.append(head + [str(row["profile"]), where, mine["on chip"], "—"])
                    continue
                rate, energy = mine.get("sim searches/s"), mine.get("µJ/search")
                rows.append(
                    head
                    + [
                        str(row["profile"]),
                        where,
                        "—" if rate is None else f"{rate:,.4g}",
                        "—" if energy is None else f"{energy:.4g}",
                    ]
                )
    return rows


WORKLOAD_INTRO = (
    "The exact top-10 search runs on the host at every size: the real enrolled test "
    "embeddings plus seeded random INT8 distractors, searched by `probes` real test probes "
    "(host searches/s; rank-1 of those probes). Each profile's figures are simulated from "
    "that search's trace: a full scan of the gallery (ICE's two-layer HTNS search is not "
    "modelled, as in `seqbench accels validate`), the `probes` searched together, so a "
    "baseline that reads the gallery out of storage reads it once per batch while ICE scores "
    "every probe against every page. `gallery in` is where the profile keeps the gallery (its "
    "`gallery` field): ICE's paper compares it with the edge board reading the gallery out "
    "of NAND for every search (`edge-cpu-nand`); `edge-cpu` is the same board with the "
    "gallery resident in DRAM. A profile that runs none of the search says `none: all on cpu`."
)


def workload_markdown(table: Table) -> list[str]:
    rows = workload_cells(table)
    if not rows:
        return []
    return [
        "",
        "## Gallery search by size",
        "",
        WORKLOAD_INTRO,
        "",
        *_md_table(WORKLOAD_HEADERS, rows),
    ]
