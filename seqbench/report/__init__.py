"""Leaderboards from result records: ``tables.py`` (columns, one table per family; markdown,
CSV, JSON), ``html.py`` (one page), ``plots.py`` (quality vs energy, breakdowns) and
``publish.py`` (:func:`write_reports`, which writes a whole set). Nothing here imports the
package itself, so the modules form no circle.
"""

from seqbench.report import models_board  # noqa: F401  (registers the models board)
from seqbench.report.publish import write_reports
from seqbench.report.tables import (
    RENDERERS,
    Column,
    Table,
    build_tables,
    plural,
    primary_metric,
    render_csv,
    render_json,
    render_markdown,
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
    "write_reports",
]
