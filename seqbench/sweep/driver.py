"""Plans a sweep, trains and traces once, then runs the unfinished cells on an executor.

State lives in ``$SEQBENCH_HOME/sweeps/NAME/``: ``records/<cell id>.json`` (written by this
process only, atomically, one file per cell: resuming skips the cells that have one, and a
cell finished twice overwrites its own file with the same figures) and ``quality/`` (quality
under effects per functional signature). A cell whose worker died is retried ``retries``
times; any other failure is reported after the others finished.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqbench import evaluate, paths
from seqbench.accel import functional
from seqbench.accel.profile import Profile, load_named
from seqbench.atomic import write_json
from seqbench.config import load_task
from seqbench.errors import SeqbenchError
from seqbench.executor import EXECUTORS, RayExecutor
from seqbench.models import MODEL_REGISTRY
from seqbench.progress import console, make_progress
from seqbench.stages import trained
from seqbench.sweep import grid
from seqbench.sweep.cells import SweepCell, SweepMemo, functional_signature, request_of, run_cell

# The profile whose record is the host score: it has no functional effects.
HOST_PROFILE = "cpu"
# Exceptions that mean "the worker running the cell died", not "the cell is wrong".
WORKER_LOST = ("BrokenProcessPool", "WorkerCrashedError", "NodeDiedError", "ActorDiedError")


@dataclass
class Sweep:
    """A checked sweep: its grid, the cells, and where its state and outputs go."""

    name: str
    task: str
    model: str
    preset: str
    accel: str
    axes: list[grid.Axis]
    seed: int = 0
    repeats: int = 3
    split: str = "test"
    effects_limit: int | None = None
    device: str = "auto"
    base: Profile | None = None
    cells: list[SweepCell] = field(default_factory=list)

    @property
    def state(self) -> Path:
        return paths.home() / "sweeps" / self.name


def plan(
    task: str,
    model: str,
    accel: str,
    sets: list[str] | tuple[str, ...],
    *,
    preset: str,
    name: str | None = None,
    seed: int = 0,
    repeats: int = 3,
    split: str = "test",
    effects_limit: int | None = None,
    device: str = "auto",
) -> Sweep:
    """Check everything (task, model, profile, every --set value) and list the cells."""
    load_task(task)
    model = MODEL_REGISTRY.canonical(model)
    base = load_named(accel)
    if repeats < 1:
        raise SeqbenchError(f"--repeats must be >= 1, got {repeats}", "e.g. --repeats 3")
    axes = grid.parse_sets(list(sets), base)
    name = name or f"{task.replace(':', '-')}-{model}-{base.name}"
    paths.check_name(name, "sweep name", "--name")
    sweep = Sweep(
        name, task, model, preset, base.name, axes, seed, repeats, split, effects_limit, device
    )
    sweep.base = base
    state = str(sweep.state)
    for point in grid.points(axes):
        noisy = functional.is_noisy(grid.derive(base, point))
        for repeat in range(repeats if noisy else 1):
            sweep.cells.append(
                SweepCell(
                    state,
                    task,
                    model,
                    preset,
                    base.name,
                    tuple(point.items()),
                    seed,
                    repeat,
                    split,
                    effects_limit,
                    device,
                )
            )
    sweep.cells = _spread(sweep.cells)
    return sweep


def _spread(cells: list[SweepCell]) -> list[SweepCell]:
    """Cells reordered so that the first cell of each functional signature comes before any
    cell that can reuse its quality: parallel workers then rarely score the same thing twice."""
    seen: dict[str, int] = {}
    rank = []
    for cell in cells:
        signature = functional_signature(cell)
        rank.append(seen.get(signature, 0))
        seen[signature] = rank[-1] + 1
    order = sorted(range(len(cells)), key=lambda i: (rank[i], i))
    return [cells[i] for i in order]


def host_quality(sweep: Sweep) -> dict[str, Any]:
    """Train the checkpoint if missing, capture its trace, score it without effects (the
    sweep's quality ceiling, on the same examples the cells score); cached in the state."""
    cell = SweepCell(
        str(sweep.state),
        sweep.task,
        sweep.model,
        sweep.preset,
        sweep.accel,
        overrides=(),
        seed=sweep.seed,
        split=sweep.split,
        effects_limit=sweep.effects_limit,
        device=sweep.device,
    )
    request = request_of(cell)
    prepared, checkpoint = trained(request.run)
    # The host profile has no effects: its record is the host score, with the trace captured
    # once here, before the workers start.
    (record,) = evaluate.run(
        request,
        prepared=prepared,
        checkpoint=checkpoint,
        profiles=[load_named(HOST_PROFILE)],
        memo=SweepMemo(cell),
        write=False,
    )
    return dict(record["quality_host"])


def load_records(sweep: Sweep) -> list[dict[str, Any]]:
    """The records of this sweep's cells that exist (others of the state folder are ignored)."""
    out = []
    for cell in sweep.cells:
        path = cell.record_path()
        if path.is_file():
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                console.print(f"[yellow]warning:[/] unreadable record {path}: the cell reruns")
    return out


def _worker_lost(error: BaseException) -> bool:
    return any(type(e).__name__ in WORKER_LOST for e in (error, error.__cause__) if e)


def execute(
    sweep: Sweep,
    *,
    executor: str = "inprocess",
    jobs: int = 1,
    address: str | None = None,
    retries: int = 1,
    run: Callable[[SweepCell], dict[str, Any]] = run_cell,
) -> int:
    """Run the cells without a record; returns how many ran. Raises one error naming every
    cell that failed (after ``retries`` retries of a lost worker) once the others finished."""
    todo = [c for c in sweep.cells if not c.record_path().is_file()]
    done_before = len(sweep.cells) - len(todo)
    if done_before:
        console.print(f"[dim]{done_before} of {len(sweep.cells)} cells already finished[/]")
    attempts: dict[str, int] = {}
    failures: list[tuple[SweepCell, BaseException]] = []
    factory = EXECUTORS.get(executor)
    kwargs: dict[str, Any] = {"jobs": jobs, "address": address}
    if factory is RayExecutor:
        kwargs["max_retries"] = 0  # attempts are counted here, the same for every executor
    runner = factory(**kwargs) if todo else None
    ran = 0
    lost: list[SweepCell] = []  # cells whose worker died in the current round
    with make_progress() as progress:
        bar = progress.add_task(f"sweep {sweep.name}", total=len(todo), info="")

        def done(cell: SweepCell, record: dict[str, Any]) -> None:
            nonlocal ran
            record["sweep"]["attempts"] = attempts.get(cell.cell_id(), 0) + 1
            write_json(cell.record_path(), record)  # this process is the only writer
            ran += 1
            progress.update(bar, advance=1, info=cell.label())

        def failed(cell: SweepCell, error: BaseException) -> None:
            key = cell.cell_id()
            if _worker_lost(error) and attempts.get(key, 0) < retries:
                attempts[key] = attempts.get(key, 0) + 1
                lost.append(cell)
            else:
                failures.append((cell, error))

        while todo and runner is not None:
            lost.clear()
            runner.map(todo, run, done, failed)
            if lost:
                console.print(f"[yellow]{len(lost)} cell(s) lost their worker: retrying[/]")
            todo = list(lost)
    if failures:
        detail = "; ".join(f"{cell.label()}: {error}" for cell, error in failures)
        raise SeqbenchError(
            f"{len(failures)} of {len(sweep.cells)} sweep cell(s) failed ({detail})",
            "fix the cause and rerun the same command: finished cells are skipped",
        )
    return ran
