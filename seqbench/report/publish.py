"""Writing a leaderboard set: every family's table in each format, the plots, the HTML page."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqbench import locks, paths, results
from seqbench.atomic import atomic_dir, remove_stale_temps, stale_temps, write_text
from seqbench.errors import SeqbenchError
from seqbench.progress import console
from seqbench.report.formats import RENDERERS
from seqbench.report.html import render_html
from seqbench.report.plots import write_plots
from seqbench.report.summary import primary_metric
from seqbench.report.tables import Table, build_tables, table_from_json

# What a leaderboard folder may hold for it to be republished whole (see _publish).
REPORT_SUFFIXES = {".md", ".csv", ".json", ".html", ".png", ".svg"}


def write_reports(
    records: list[dict[str, Any]],
    formats: list[str],
    out_dir: Path,
    stamp: str | None = None,
    plots: bool = True,
) -> list[Path]:
    """Write one file per (family, format) into ``out_dir`` (``html``: one ``index.html``),
    plus the plots into ``out_dir/plots``; returns the paths written.

    One report writes a given folder at a time (a lock per leaderboard set), and the new set
    replaces the old one in one step, so a kill never leaves tables of two different runs.
    """
    if not records:
        raise SeqbenchError(
            "no result records to report", "run `seqbench eval` or `seqbench run` first"
        )
    for fmt in formats:
        if fmt != "html":
            RENDERERS.canonical(fmt)
    for record in records:
        paths.check_name(
            record.get("family", "unknown"), "family", f"result record {record.get('path', '')}"
        )
    tables = build_tables(records)
    newest = results.newest_per_key(records)

    def draw(table: Table, folder: Path) -> list[Path]:
        mine = [r for r in newest if r.get("family", "unknown") == table.family]
        return write_plots(table.family, mine, primary_metric(table), folder)

    return _publish(
        tables, formats, Path(out_dir), stamp, draw if plots or "html" in formats else None
    )


def rerender_boards(boards: Path, formats: list[str], out_dir: Path) -> list[Path]:
    """Render the published boards in ``boards`` (each ``FAMILY.json``) again, in today's
    layout, from their JSON rows alone: no record is read and no number is re-measured. Their
    plots (``boards/plots/FAMILY_*``) are kept as they are."""
    tables = []
    for path in sorted(Path(boards).glob("*.json")):
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise SeqbenchError(f"cannot read board {path}: {err}", "fix or remove it") from err
        tables.append(table_from_json(payload))
    if not tables:
        raise SeqbenchError(
            f"no board (FAMILY.json) in {boards}", "pass a folder `seqbench report` wrote"
        )
    source = Path(boards).resolve()

    def keep(table: Table, folder: Path) -> list[Path]:
        kept = []
        for plot in sorted((source / "plots").glob(f"{table.family}_*")):
            target = folder / plot.name
            if plot.resolve() != target.resolve():
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(plot, target)
            kept.append(target)
        return kept

    return _publish(tables, formats, Path(out_dir), None, keep)


def _publish(
    tables: list[Table],
    formats: list[str],
    out_dir: Path,
    stamp: str | None,
    draw: Callable[[Table, Path], list[Path]] | None,
) -> list[Path]:
    with locks.hold(out_dir, f"leaderboard set {out_dir}", say=console):
        _remove_stale(out_dir)
        if _publishable_as_folder(out_dir):
            with atomic_dir(out_dir) as tmp:
                if out_dir.is_dir():
                    shutil.copytree(out_dir, tmp, dirs_exist_ok=True)
                written = _render_all(tables, formats, tmp, stamp, draw)
            return [out_dir / p.relative_to(tmp) for p in written]
        # A folder holding other things is never swapped: its files are replaced one by one.
        return _render_all(tables, formats, out_dir, stamp, draw, atomic=True)


def _remove_stale(out_dir: Path) -> None:
    """Leftovers of a killed report: temp files inside the folder, temp folders beside it."""
    remove_stale_temps(out_dir)
    for path in stale_temps(out_dir.parent, max_depth=0):
        if path.name.startswith(f".{out_dir.name}.tmp"):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()


def _publishable_as_folder(out_dir: Path) -> bool:
    """Whether ``out_dir`` is absent or holds nothing but report files (and plots/)."""
    if not out_dir.exists():
        return True
    if not out_dir.is_dir() or out_dir.is_symlink():
        return False
    for path in out_dir.rglob("*"):
        rel = path.relative_to(out_dir)
        if path.is_symlink():
            return False
        if path.is_dir():
            if rel.parts != ("plots",):
                return False
        elif (
            path.suffix not in REPORT_SUFFIXES
            or len(rel.parts) > 2
            or (len(rel.parts) == 2 and rel.parts[0] != "plots")
        ):
            return False
    return True


def _render_all(
    tables: list[Table],
    formats: list[str],
    out_dir: Path,
    stamp: str | None,
    draw: Callable[[Table, Path], list[Path]] | None,
    atomic: bool = False,
) -> list[Path]:
    def put(path: Path, text: str) -> None:
        if atomic:
            write_text(path, text)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    stamp = stamp or results.now_iso()
    sha = results.git_sha()
    written: list[Path] = []
    figures: dict[str, list[Path]] = {}
    if draw is not None:
        for table in tables:
            figures[table.family] = draw(table, out_dir / "plots")
            written += figures[table.family]
    for table in tables:
        for fmt in formats:
            if fmt == "html":
                continue
            ext, render = RENDERERS.get(fmt)
            path = out_dir / f"{table.family}.{ext}"
            put(path, render(table, stamp, sha))
            written.append(path)
    if "html" in formats:
        path = out_dir / "index.html"
        put(path, render_html(tables, figures, stamp, sha))
        written.append(path)
    return written
