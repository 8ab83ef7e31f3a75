"""Leaderboards from result records: ``tables.py`` (columns and board rows, one table per
family), ``summary.py`` (the summary, host and gallery tables a board opens with),
``formats.py`` (markdown, CSV, JSON), ``html.py`` (one page), ``plots.py`` (quality vs
energy, breakdowns) and ``publish.py`` (:func:`write_reports`, which writes a whole set from
records, and :func:`rerender_boards`, which renders published boards again from their JSON
rows). Nothing here imports the package itself, so the modules form no circle.
"""

from seqbench.report import models_board  # noqa: F401  (registers the models board)
from seqbench.report.formats import RENDERERS, render_csv, render_json, render_markdown
from seqbench.report.publish import rerender_boards, write_reports
from seqbench.report.summary import primary_metric
from seqbench.report.tables import (
    Column,
    Table,
    build_tables,
    plural,
)

__all__ = [
    "RENDERERS",
    "Column",
    "Table",
    "build_tables",
    "plural",
    "primary_metric",
    "render_csv",
    "render_json",
    "render_markdown",
    "rerender_boards",
    "write_reports",
]
