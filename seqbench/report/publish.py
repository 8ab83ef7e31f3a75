"""Writing a leaderboard set: every family's table in each format, the plots, the HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqbench import results
from seqbench.atomic import write_text
from seqbench.errors import SeqbenchError
from seqbench.report.html import render_html
from seqbench.report.plots import write_plots
from seqbench.report.tables import RENDERERS, build_tables, primary_metric


def write_reports(
    records: list[dict[str, Any]],
    formats: list[str],
    out_dir: Path,
    stamp: str | None = None,
    plots: bool = True,
) -> list[Path]:
    """Write one file per (family, format) into ``out_dir`` (``html``: one ``index.html``),
    plus the plots into ``out_dir/plots``; returns the paths written."""
    if not records:
        raise SeqbenchError(
            "no result records to report", "run `seqbench eval` or `seqbench run` first"
        )
    for fmt in formats:
        if fmt != "html":
            RENDERERS.canonical(fmt)
    stamp = stamp or results.now_iso()
    sha = results.git_sha()
    tables = build_tables(records)
    written: list[Path] = []
    figures: dict[str, list[Path]] = {}
    if plots or "html" in formats:
        for table in tables:
            figures[table.family] = write_plots(
                table.family, table.rows, primary_metric(table), out_dir / "plots"
            )
            written += figures[table.family]
    for table in tables:
        for fmt in formats:
            if fmt == "html":
                continue
            ext, render = RENDERERS.get(fmt)
            path = out_dir / f"{table.family}.{ext}"
            write_text(path, render(table, stamp, sha))
            written.append(path)
    if "html" in formats:
        path = out_dir / "index.html"
        write_text(path, render_html(tables, figures, stamp, sha))
        written.append(path)
    return written
