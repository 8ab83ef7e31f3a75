"""A board as markdown: the summary and host tables, then every profile's row, the notes,
the metric signatures and (faces) the gallery search by size; and the registry of formats."""

from __future__ import annotations

from collections.abc import Callable

from seqbench.registry import Registry
from seqbench.report.summary import summary_markdown, workload_markdown
from seqbench.report.tables import (
    Table,
    best_marks,
    header_lines,
    notes,
    render_csv,
    render_json,
)


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
    return "\n".join(lines) + "\n"


RENDERERS: Registry[tuple[str, Callable[[Table, str, str], str]]] = Registry("report format")
RENDERERS.add("md", ("md", render_markdown))
RENDERERS.add("csv", ("csv", render_csv))
RENDERERS.add("json", ("json", render_json))
