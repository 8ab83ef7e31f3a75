"""A board's files: markdown (the summary and host tables, then every profile's row, the
notes, the metric signatures and, for faces, the gallery search by size), CSV and JSON (every
column of every board row), and the registry of those formats."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from seqbench import __version__
from seqbench.registry import Registry
from seqbench.report.summary import summary_markdown, workload_markdown
from seqbench.report.tables import BOARDS, HOST_SAME_N, Table, best_marks


def header_lines(
    stamp: str, sha: str, table: Table | None = None, *, whose: str = "this board's"
) -> list[str]:
    """The header: version, commit and time, then where a re-rendered board's rows came from
    (``whose``: the JSON they were read from, "each board's" where one line covers several)."""
    lines = [f"seqbench {__version__} · git {sha} · generated {stamp}"]
    if table is not None and table.source:
        text = (
            f"Rendered again from the rows of {whose} JSON, as published on "
            f"{table.source['generated']} (git {table.source['git_sha']}): no number was "
            "re-measured or changed."
        )
        if any("primary" not in row or "host machine" not in row for row in table.rows):
            text += (
                " Those rows predate the record of the host machine and of each row's primary "
                'metric, so the machine reads "not recorded" and the summary shows the first '
                "metric its task spec lists."
            )
        lines.append(text)
        if table.source.get("note"):
            lines.append(table.source["note"])
    return lines


def notes(table: Table) -> list[str]:
    """What the full table's columns mean (markdown and HTML say the same)."""
    text = (
        "Best value per ranked column in **bold**, only among comparable rows (same task, "
        "split, data, preset, beam and n). `n`: examples scored. `on chip %`: share of the "
        "simulated energy spent on the profile's own hardware; `none` rows run every op on the "
        "host and show no cost. Latency, simulated throughput, energy, power and TOPS/W come "
        "from the per-operator simulator on the named profile (`seqbench accels show "
        "PROFILE`); the measured host throughput is in the host table above."
    )
    if HOST_SAME_N.header in table.headers:
        text += (
            f" `{HOST_SAME_N.header}`: a profile with effects re-scored on the first n examples "
            "of the split beside the host scored on the same n (the primary metric); the "
            "whole-split figure is the `cpu` row's."
        )
    return [text]


def render_csv(table: Table, stamp: str, sha: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f"# {line}" for line in header_lines(stamp, sha, table)])
    columns = table.columns
    writer.writerow([c.header for c in columns] + ["signature"])
    for row in table.rows:
        writer.writerow([c.text(row) for c in columns] + [row["signature"]])
    return out.getvalue()


def render_json(table: Table, stamp: str, sha: str) -> str:
    payload = {
        "family": table.family,
        "seqbench_version": __version__,
        "git_sha": sha,
        "generated": stamp,
        **({"rendered_from": table.source} if table.source else {}),
        "columns": table.headers,
        "rows": table.rows,
    }
    return json.dumps(payload, indent=2, default=str) + "\n"


def render_markdown(table: Table, stamp: str, sha: str) -> str:
    columns = table.shown()
    marks = best_marks(columns, table.rows)
    lines = [f"# {table.family} leaderboard", "", *header_lines(stamp, sha, table), ""]
    lines += summary_markdown(table)
    lines += ["", f"## Every profile ({len(table.rows)} rows)", ""]
    lines.append("| " + " | ".join(c.header for c in columns) + " |")
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for i, row in enumerate(table.rows):
        cells = [c.text(row) for c in columns]
        cells = [f"**{v}**" if (i, c) in marks else v for c, v in enumerate(cells)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *notes(table), "", "Signatures:", ""]
    lines += [f"- `{s}`" for s in table.signatures()]
    lines += workload_markdown(table)
    if table.family in BOARDS:
        lines += BOARDS[table.family].lines(table)
    return "\n".join(lines) + "\n"


RENDERERS: Registry[tuple[str, Callable[[Table, str, str], str]]] = Registry("report format")
RENDERERS.add("md", ("md", render_markdown))
RENDERERS.add("csv", ("csv", render_csv))
RENDERERS.add("json", ("json", render_json))
