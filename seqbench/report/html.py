"""One self-contained static page: sortable leaderboard tables and the plots inlined as SVG.

No server and no network are needed to view it: styles, script and images are all inline.
"""

from __future__ import annotations

import html
from pathlib import Path

from seqbench import __version__
from seqbench.report.tables import Table, best_marks

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222}
h1{margin-bottom:.2rem}.meta{color:#666;margin-top:0}
table{border-collapse:collapse;margin:1rem 0;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f3f3f3;cursor:pointer;user-select:none}th:hover{background:#e6e6e6}
td.key,th.key{text-align:left}td.best{font-weight:700;background:#eaf6ea}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plots figure{margin:0;max-width:48%}
.plots svg{max-width:100%;height:auto}code{font-size:.8rem}
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


def _table_html(table: Table) -> str:
    marks = best_marks(table.columns, table.rows)
    head = "".join(
        f'<th class="{"key" if c.header in KEY_HEADERS else ""}">{html.escape(c.header)}</th>'
        for c in table.columns
    )
    body = []
    for i, row in enumerate(table.cells()):
        cells = []
        for c, (column, value) in enumerate(zip(table.columns, row, strict=True)):
            classes = ["key"] if column.header in KEY_HEADERS else []
            if (i, c) in marks:
                classes.append("best")
            cells.append(f'<td class="{" ".join(classes)}">{html.escape(value)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="leaderboard" id="table-{html.escape(table.family)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _inline_svg(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.find("<svg")  # drop the XML prologue and doctype
    return text[start:] if start >= 0 else ""


def render_html(tables: list[Table], plots: dict[str, list[Path]], stamp: str, sha: str) -> str:
    """The whole page as one string."""
    sections = []
    for table in tables:
        figures = "".join(
            f"<figure>{_inline_svg(p)}<figcaption>{html.escape(p.stem)}</figcaption></figure>"
            for p in plots.get(table.family, [])
            if p.suffix == ".svg"
        )
        signatures = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in table.signatures())
        sections.append(
            f"<section><h2>{html.escape(table.family)}</h2>"
            f"<p>{len(table.rows)} rows · click a column header to sort · best value per ranked "
            f"column (per task and split) highlighted</p>{_table_html(table)}"
            f"<details><summary>metric signatures</summary><ul>{signatures}</ul></details>"
            f'<div class="plots">{figures}</div></section>'
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>seqbench leaderboards</title><style>{STYLE}</style></head><body>"
        "<h1>seqbench leaderboards</h1>"
        f'<p class="meta">seqbench {__version__} · git {html.escape(sha)} · generated '
        f"{html.escape(stamp)}</p>"
        "<p>Quality is measured; host throughput is wall clock on the machine that ran the "
        "evaluation; latency, simulated throughput, energy, power and TOPS/W come from the "
        "per-operator simulator on each accelerator profile.</p>"
        + "".join(sections)
        + f"<script>{SCRIPT}</script></body></html>\n"
    )
