"""The five stages behind the CLI, callable from Python: prepare, train, eval, report, run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqbench import results
from seqbench.config import load_task
from seqbench.families.base import Prepared, family_for
from seqbench.progress import console
from seqbench.report import write_reports
from seqbench.train import TrainResult, train


def prepare_task(
    ref: str, preset: str, *, source: str | None = None, force: bool = False
) -> tuple[Prepared, bool]:
    """Prepare task ``ref`` (``NAME`` or ``NAME:SUBSET``); returns (prepared, was_cached)."""
    spec, subset = load_task(ref)
    return family_for(spec).prepare(spec, subset, preset, source_override=source, force=force)


def train_task(
    ref: str, model: str, preset: str, *, seed: int = 0, force: bool = False
) -> TrainResult:
    """Prepare (cached) and train ``model`` on task ``ref``."""
    from seqbench.models import MODEL_REGISTRY

    spec, subset = load_task(ref)
    MODEL_REGISTRY.canonical(model)  # fail on a typo before any work
    return train(spec, subset, preset, model, seed=seed, force=force)


def eval_task(
    ref: str,
    model: str,
    preset: str,
    *,
    split: str = "test",
    beam: int = 1,
    accels: str = "cpu",
    seed: int = 0,
    limit: int | None = None,
    effects_limit: int | None = None,
    train_if_missing: bool = True,
) -> list[dict[str, Any]]:
    """Evaluate ``model`` on ``ref`` under each profile in ``accels``; returns the records."""
    from seqbench.accel.profile import resolve_profiles
    from seqbench.evaluate import EvalRequest, run
    from seqbench.models import MODEL_REGISTRY

    spec, subset = load_task(ref)
    MODEL_REGISTRY.canonical(model)
    resolve_profiles(accels)  # fail on a typo before any work
    request = EvalRequest(
        spec=spec,
        subset=subset,
        preset=preset,
        model=model,
        split=split,
        beam=beam,
        accels=accels,
        seed=seed,
        limit=limit,
        effects_limit=effects_limit,
        train_if_missing=train_if_missing,
    )
    return run(request)


def write_report(
    formats: list[str], out_dir: Path, *, preset: str | None = None, plots: bool = True
) -> list[Path]:
    """Leaderboard files from every result record (optionally one preset's)."""
    records = results.load_all()
    if preset:
        records = [r for r in records if r.get("preset") == preset]
    return write_reports(records, formats, out_dir, plots=plots)


def run_suite(
    tasks: list[str],
    preset: str,
    *,
    seed: int = 0,
    effects_limit: int | dict[str, int] | None = None,
    accels: str = "all",
    out_dir: Path,
    executor: str = "inprocess",
    jobs: int = 1,
    address: str | None = None,
    on_records: Callable[[list[dict[str, Any]]], None] | None = None,
) -> list[Path]:
    """Prepare every task, run each (task, model) cell not finished yet, then report.

    ``effects_limit``: examples that profiles with effects re-score, for every task (an int)
    or per family (a dict). ``on_records`` gets each finished cell's records (the CLI prints).
    """
    from seqbench.executor import Cell, run_cells

    cells = []
    for ref in tasks:
        spec, _ = load_task(ref)
        prepared, cached = prepare_task(ref, preset)
        console.print(f"[bold]{prepared.key}[/]: data {'cached' if cached else 'prepared'}")
        models = spec.preset(preset).get("models", spec.models)
        limit = effects_limit.get(spec.family) if isinstance(effects_limit, dict) else effects_limit
        cells += [Cell(ref, model, preset, seed, "test", accels, limit) for model in models]

    def done(cell: Cell, records: list[dict[str, Any]]) -> None:
        if on_records:
            on_records(records)

    def skip(cell: Cell) -> None:
        console.print(f"[dim]already finished: {cell.label()}[/]")

    run_cells(
        cells,
        results.load_all(),
        executor=executor,
        jobs=jobs,
        address=address,
        on_done=done,
        on_skip=skip,
    )
    return write_report(["md", "csv", "json", "html"], out_dir, preset=preset)
