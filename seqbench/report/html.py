"""One static page: per family the summary, the host throughput, the full per-profile table
(collapsed, sortable) and the plots, which it references as files under ``plots/`` (so the
page stays small). No server and no network are needed: styles and script are inline.
"""

from __future__ import annotations

import html
from pathlib import Path

from seqbench import __version__
from seqbench.report import summary
from seqbench.report.formats import header_lines, notes
from seqbench.report.tables import Table, best_marks

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1rem;color:#222}
h1{margin-bottom:.2rem}.meta{color:#666;margin-top:0}
table{border-collapse:collapse;margin:1rem 0;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f3f3f3;cursor:pointer;user-select:none}th:hover{background:#e6e6e6}
td.key,th.key{text-align:left}td.best{font-weight:700;background:#eaf6ea}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plots figure{margin:0;max-width:48%}
.plots img{max-width:100%;height:auto}code{font-size:.8rem}
table.summary{font-size:.78rem}table.summary td{line-height:1.25;padding:.2rem .35rem}
details{margin:.5rem 0}details>summary{cursor:pointer;font-weight:600}
.wide{overflow-x:auto;max-width:100%}
"""

# Sorts a table by the clicked column: numbers numerically ("—" last), text alphabetically.
SCRIPT = """
document.querySelectorAll("table.leaderboard").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var text = row.cells[col].textContent.replace(/,/g, "").trim();
        var num = parseFloat(text);
        return isNaN(num) ? text : num;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
        if (x < y) { return asc ? -1 : 1; }
        if (x > y) { return asc ? 1 : -1; }
        return 0;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

KEY_HEADERS = {"task", "split", "model", "profile", "preset", "checkpoint"}
SUMMARY_KEYS = {"task · split", "model · checkpoint", "measured on", "gallery", "profile"}


def _table_html(table: Table) -> str:
    """The full per-profile table, sortable by any column."""
    columns = table.shown()
    marks = best_marks(columns, table.rows)
    head = "".join(
        f'<th class="{"key" if c.header in KEY_HEADERS else ""}">{html.escape(c.header)}</th>'
        for c in columns
    )
    body = []
    for i, row in enumerate(table.rows):
        cells = []
        for c, column in enumerate(columns):
            classes = ["key"] if column.header in KEY_HEADERS else []
            if (i, c) in marks:
                classes.append("best")
            cells.append(f'<td class="{" ".join(classes)}">{html.escape(column.text(row))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="wide"><table class="leaderboard" id="table-{html.escape(table.family)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _plain_table(headers: list[str], rows: list[list[list[str]]], css: str) -> str:
    """A table whose cells are lists of lines (one <br> between lines)."""
    head = "".join(
        f'<th class="{"key" if h in SUMMARY_KEYS else ""}">{html.escape(h)}</th>' for h in headers
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"key" if h in SUMMARY_KEYS else ""}">'
            + "<br>".join(html.escape(line) for line in cell)
            + "</td>"
            for h, cell in zip(headers, row, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _section(table: Table, plots: list[Path]) -> str:
    family = html.escape(table.family)
    summaries = "".join(
        _plain_table(headers, rows, "summary") for headers, rows in summary.summary_grids(table)
    )
    host = _plain_table(
        summary.host_headers(table), [[[c] for c in r] for r in summary.host_rows(table)], "host"
    )
    gallery = summary.workload_cells(table)
    gallery_html = (
        f"<h3>Gallery search by size</h3><p>{html.escape(summary.WORKLOAD_INTRO)}</p>"
        + _plain_table(summary.WORKLOAD_HEADERS, [[[c] for c in r] for r in gallery], "gallery")
        if gallery
        else ""
    )
    figures = "".join(
        f'<figure><img src="plots/{html.escape(p.name)}" alt="{html.escape(p.stem)}" '
        f'loading="lazy"><figcaption>{html.escape(p.stem)}</figcaption></figure>'
        for p in plots
        if p.suffix == ".svg"
    )
    signatures = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in table.signatures())
    return (
        f'<section id="{family}"><h2>{family}</h2>'
        f"<p>{html.escape(summary.summary_intro(table))}</p>{summaries}"
        f"<h3>Host throughput (measured)</h3>{host}"
        f"<details><summary>Every profile: {len(table.rows)} rows (click a column header to "
        f"sort)</summary>{_table_html(table)}<p>{html.escape(' '.join(notes(table)))}</p>"
        f"</details>{gallery_html}"
        f"<details><summary>metric signatures</summary><ul>{signatures}</ul></details>"
        f'<div class="plots">{figures}</div></section>'
    )


def render_html(tables: list[Table], plots: dict[str, list[Path]], stamp: str, sha: str) -> str:
    """The whole page as one string; ``plots``: per family, plot files under ``plots/``."""
    sections = "".join(_section(t, plots.get(t.family, [])) for t in tables)
    # Boards re-rendered from JSON published at different times: each provenance once,
    # with the boards it covers (one board regenerated, the others re-rendered, say so).
    groups: dict[tuple[str, ...], list[Table]] = {}
    for table in tables:
        groups.setdefault(tuple(header_lines(stamp, sha, table)[1:]), []).append(table)
    provenance = ""
    for group in groups.values():
        whose = "each board's" if len(group) > 1 else "this board's"
        named = ", ".join(t.family for t in group) + ": " if len(groups) > 1 else ""
        for line in header_lines(stamp, sha, group[0], whose=whose)[1:]:
            provenance += f"<p>{html.escape(named + line)}</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>seqbench leaderboards</title><style>{STYLE}</style></head><body>"
        "<h1>seqbench leaderboards</h1>"
        f'<p class="meta">seqbench {__version__} · git {html.escape(sha)} · generated '
        f"{html.escape(stamp)}</p>"
        + provenance
        + "<p>Quality is measured; host throughput is wall clock on the machine named; "
        "latency, simulated throughput, energy, power and TOPS/W come from the per-operator "
        "simulator on each accelerator profile.</p>"
        + sections
        + f"<script>{SCRIPT}</script></body></html>\n"
    )
