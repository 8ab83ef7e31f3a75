"""The five stages behind the CLI, callable from Python: prepare, train, eval, report, run.

A stage decides what runs: ``eval`` trains first when no finished checkpoint exists (unless
told not to), ``run`` hands the unfinished cells to the executor with :func:`run_cell`. The
modules below (families, train, evaluate, executor, report) never call back up here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqbench import checkpoints, evaluate, results
from seqbench.accel.profile import resolve_profiles
from seqbench.config import SourceSpec, TaskSpec, load_task, task_key
from seqbench.earlier_records import EarlierRecords
from seqbench.errors import SeqbenchError
from seqbench.executor import EXECUTORS, Cell, narrowed, run_cells
from seqbench.families.base import Prepared, family_for, run_spec
from seqbench.families.runspec import RunSpec
from seqbench.models import MODEL_REGISTRY
from seqbench.portable import eval_checkpoint
from seqbench.progress import console
from seqbench.report import write_reports
from seqbench.run_log import RunLog
from seqbench.suites import SuiteTask
from seqbench.train import TrainResult, plan_run, train
from seqbench.user_tasks import bind_source, bound_spec


def prepare_task(
    ref: str, preset: str, *, source: str | None = None, force: bool = False
) -> tuple[Prepared, bool]:
    """Prepare task ``ref`` (``NAME`` or ``NAME:SUBSET``); returns (prepared, was_cached).

    A ``source`` (``local:PATH``, ``hub:ID``) becomes the task's source for every later stage:
    it is written into the user's copy of the spec (:mod:`seqbench.user_tasks`).
    """
    spec, subset = load_task(ref)
    if source:
        family = family_for(spec)
        effective = family.effective_source(spec.source, source)
        # Prepared first: a source that does not read is never written into the user's spec.
        first = family.prepare(spec, subset, preset, source_override=source, force=force)
        written = bind_source(spec, effective, source)
        every = f" and for all its subsets ({', '.join(spec.subsets)})" if spec.subsets else ""
        console.print(
            f"{spec.name} now reads {effective.describe()} in every stage (train, eval, run)"
            f"{every}: "
            f"{written} (delete it to go back to the bundled spec)",
            markup=False,
            highlight=False,
        )
        spec, subset = load_task(ref)
        prepared, _ = family_for(spec).prepare(spec, subset, preset)  # the same cache entry
        return prepared, first[1]
    return family_for(spec).prepare(spec, subset, preset, force=force)


def train_task(
    ref: str,
    model: str,
    preset: str,
    *,
    seed: int = 0,
    force: bool = False,
    device: str = "auto",
) -> TrainResult:
    """Prepare (cached) and train ``model`` on task ``ref`` on ``device``."""
    spec, subset = load_task(ref)
    MODEL_REGISTRY.canonical(model)  # fail on a typo before any work
    return train(run_spec(spec, subset, preset, model, seed).on(device), force=force)


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
    device: str = "auto",
    memo: evaluate.Memo | None = None,
) -> list[dict[str, Any]]:
    """Evaluate ``model`` on ``ref`` under each profile in ``accels`` (trained and scored on
    ``device``); returns the records. ``memo``: earlier measurements to reuse (none: all
    measured afresh, as `seqbench eval` does).

    Without a finished checkpoint of (model, task, preset, seed) this trains one first, or
    fails when ``train_if_missing`` is off: the stage decides, the evaluator only scores.
    """
    spec, subset = load_task(ref)
    MODEL_REGISTRY.canonical(model)
    resolve_profiles(accels)  # fail on a typo before any work
    request = evaluate.EvalRequest(
        run=run_spec(spec, subset, preset, model, seed).on(device),
        split=split,
        beam=beam,
        accels=accels,
        limit=limit,
        effects_limit=effects_limit,
    )
    prepared, checkpoint = trained(request.run, train_if_missing=train_if_missing)
    return evaluate.run(request, prepared=prepared, checkpoint=checkpoint, memo=memo)


def trained(
    run: RunSpec, *, train_if_missing: bool = True
) -> tuple[Prepared, checkpoints.Checkpoint]:
    """The prepared data and finished checkpoint of ``run``: trained first when there is
    none, or an error naming the command when ``train_if_missing`` is off."""
    prepared, _ = family_for(run.spec).prepare_run(run)
    found = evaluate.find_checkpoint(run, prepared)
    if found is None:
        if not train_if_missing:
            raise evaluate.missing_checkpoint(run, prepared)
        console.print(f"no checkpoint of {run.model} for {prepared.key} yet: training one first")
        found = train(run, prepared=prepared).checkpoint
    return prepared, found


def generate_text(
    ref: str,
    model: str,
    preset: str,
    prompt: str,
    sampling: Any,
    *,
    seed: int = 0,
    train_if_missing: bool = True,
    on_text: Callable[[str], None] | None = None,
) -> str:
    """Sample a continuation of ``prompt`` from ``model`` trained on language-modelling task
    ``ref`` (trained first when missing, as ``eval`` does); ``on_text`` streams the pieces."""
    from seqbench.data.tokenize import SentencePieceTokenizer
    from seqbench.families.lm.generate import generate

    spec, subset = load_task(ref)
    entry = MODEL_REGISTRY.get(model)
    if spec.family != "lm" or entry.family != "lm":
        lm_models = [n for n in MODEL_REGISTRY.names() if MODEL_REGISTRY.get(n).family == "lm"]
        raise SeqbenchError(
            f"generate needs a language model on an lm task, got {model!r} ({entry.family}) "
            f"on {ref!r} ({spec.family})",
            f"e.g. --task pydoc-lm with one of: {', '.join(lm_models)}",
        )
    prepared, found = trained(
        run_spec(spec, subset, preset, model, seed), train_if_missing=train_if_missing
    )
    network = checkpoints.load_model(found)
    tok = SentencePieceTokenizer(prepared.directory / prepared.manifest["tokenizer"]["file"])
    prompt_ids = tok.encode(prompt)
    made: list[int] = []
    shown = tok.decode(prompt_ids)

    def stream(token: int) -> None:
        # Decode prompt + continuation each time: a piece's leading space shows only in context.
        nonlocal shown
        made.append(token)
        text = tok.decode(prompt_ids + made)
        if on_text is not None and text.startswith(shown):
            on_text(text[len(shown) :])
        shown = text

    generate(network, prompt_ids, sampling, stream)
    return shown[len(tok.decode(prompt_ids)) :]


def run_cell(cell: Cell) -> list[dict[str, Any]]:
    """One suite cell: train when no checkpoint exists, then evaluate (on the task's test set,
    then on each of the cell's external test sets); returns its records. What this home's
    earlier records measured and a profile edit cannot change is taken over from them
    (:mod:`seqbench.earlier_records`)."""
    earlier = results.load_all()
    records = eval_task(
        cell.task,
        cell.model,
        cell.preset,
        split=cell.split,
        beam=cell.beam,
        accels=cell.accels,
        seed=cell.seed,
        effects_limit=cell.effects_limit,
        device=cell.device,
        memo=EarlierRecords(earlier),
    )
    for test_set in cell.test_sets:
        records += eval_checkpoint(
            None,
            task=cell.task,
            model=cell.model,
            preset=cell.preset,
            seed=cell.seed,
            test_set=test_set,
            beam=cell.beam,
            accels=cell.accels,
            effects_limit=cell.effects_limit,
            device=cell.device,
            memo=EarlierRecords(earlier),
        )
    return records


def _present(test_sets: list[str]) -> list[str]:
    """The test sets whose local folder or file exists (others are skipped, with a warning)."""
    kept = []
    for test_set in test_sets:
        source = SourceSpec.from_cli(test_set)
        if source.kind == "local" and not Path(str(source.local)).expanduser().exists():
            console.print(f"[yellow]warning:[/] test set {test_set} is absent here: skipped")
            continue
        kept.append(test_set)
    return kept


def write_report(
    formats: list[str], out_dir: Path, *, preset: str | None = None, plots: bool = True
) -> list[Path]:
    """Leaderboard files from every result record (optionally one preset's)."""
    records = results.load_all()
    if preset:
        records = [r for r in records if r.get("preset") == preset]
    return write_reports(records, formats, out_dir, plots=plots)


def of_current_data(
    records: list[dict[str, Any]], fingerprints: dict[str, str]
) -> list[dict[str, Any]]:
    """The records that count as finished work now: a task's records on the data it prepares
    today (``fingerprints``: task key -> fingerprint), so a source bound with ``prepare
    --source`` is run instead of skipped; records of other keys (external test sets) stay."""
    return [
        r
        for r in records
        if r.get("task") not in fingerprints
        or r.get("data_fingerprint") == fingerprints[str(r.get("task"))]
    ]


def run_suite(
    tasks: Sequence[str | SuiteTask],
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
    test_sets: dict[str, list[str]] | None = None,
    device: str = "auto",
) -> list[Path]:
    """Prepare every task, run each (task, model, split) cell not finished yet, then report.

    ``tasks``: task references or suite entries (models, splits, beam; an entry that needs a
    bound source is skipped with one line when none is bound). ``effects_limit``: examples
    that profiles with effects re-score, for every task (an int) or per family (a dict).
    ``on_records`` gets each finished cell's records (the CLI prints). ``test_sets``: per
    task, external test sets each model is also scored on (a local one that is absent is
    skipped with a warning). ``device``: where cells train and score. A teacher's cell runs
    before its students', the cell that trains a checkpoint before those that only score it;
    ``$SEQBENCH_HOME/logs/`` keeps when each cell ran (:mod:`seqbench.run_log`).
    """
    cells: list[Cell] = []
    fingerprints: dict[str, str] = {}
    keys: dict[Cell, str] = {}  # cell -> its task key (``scan:simple``)
    boards: dict[Cell, str] = {}  # cell -> its board (the family's leaderboard)
    teachers: dict[Cell, tuple[str, str]] = {}  # cell -> (task key, model) of its teacher
    entries: list[tuple[SuiteTask, TaskSpec]] = []  # the entries not skipped, with their specs
    earlier = results.load_all()
    for entry in map(SuiteTask.of, tasks):
        spec, _ = load_task(entry.task)
        if entry.needs_source and bound_spec(spec.name) is None:
            console.print(
                f"[yellow]{entry.task}: skipped[/], no source bound here "
                f"(bind one: {entry.needs_source})",
                highlight=False,
                soft_wrap=True,  # one line, however narrow the terminal
            )
            continue
        entries.append((entry, spec))
    built_ahead = prepare_ahead([e.task for e, _ in entries], preset, executor, jobs)
    for entry, spec in entries:
        prepared, cached = prepare_task(entry.task, preset)
        fingerprints[prepared.key] = prepared.fingerprint
        current = of_current_data(earlier, {prepared.key: prepared.fingerprint})
        fresh = not cached or entry.task in built_ahead
        console.print(f"[bold]{prepared.key}[/]: data {'prepared' if fresh else 'cached'}")
        limit = effects_limit.get(spec.family) if isinstance(effects_limit, dict) else effects_limit
        extra = tuple(_present((test_sets or {}).get(entry.task, [])))
        for model in _models(entry, prepared.run.models):
            # What the cell would train now: a record of another identity (the preset's
            # epochs or model options changed since) does not finish it.
            plan = plan_run(prepared.run.with_model(model, seed), prepared)
            identity = checkpoints.identity_hash(plan.identity)
            teacher = plan.model_config.get("teacher") or {}
            for split in entry.splits:
                cell = Cell(
                    entry.task, model, preset, seed, split, accels, limit,
                    extra if split == "test" else (), identity, device, entry.beam,
                )  # fmt: skip
                # an edited profile: only its records are redone, the others' stand
                cell = narrowed(cell, current)
                cells.append(cell)
                keys[cell], boards[cell] = prepared.key, spec.family
                if teacher:
                    teachers[cell] = (task_key(*load_task(teacher["task"])), teacher["model"])

    def done(cell: Cell, records: list[dict[str, Any]]) -> None:
        if on_records:
            on_records(records)

    def skip(cell: Cell) -> None:
        console.print(f"[dim]already finished: {cell.label()}[/]")
        log.skipped(cell, keys[cell], boards[cell])

    log = RunLog.start(preset, executor, jobs, [c.task for c in cells], evaluate.host_info())
    try:
        run_cells(
            cells,
            of_current_data(earlier, fingerprints),
            run=run_cell,
            executor=executor,
            jobs=jobs,
            address=address,
            on_done=done,
            on_skip=skip,
            after=run_order(cells, keys, teachers),
            on_timed=lambda cell, start, end: log.ran(cell, keys[cell], boards[cell], start, end),
        )
    finally:
        log.finish()
    return write_report(["md", "csv", "json", "html"], out_dir, preset=preset)


@dataclass(frozen=True)
class PrepareJob:
    """One task's data to prepare ahead of a suite (what :func:`prepare_ahead` hands out)."""

    task: str
    preset: str

    def label(self) -> str:
        return f"prepare {self.task}"


def _prepare_job(job: PrepareJob) -> bool:
    """Prepare ``job``'s task into the cache; returns whether it was cached already."""
    return prepare_task(job.task, job.preset)[1]


def prepare_ahead(refs: Sequence[str], preset: str, executor: str, jobs: int) -> set[str]:
    """With the ``processes`` executor, prepare ``refs`` in ``jobs`` worker processes before
    the suite's serial pass, which then reads them from the cache: data generation is
    single-threaded, so one by one it kept the other cores idle before the first cell
    (shapes-sounds' 216 s beside shapes-captions' 22 s). Returns the refs built here. A
    failure is left to the serial pass, which raises it with its usual message."""
    if executor != "processes" or jobs < 2 or len(refs) < 2:
        return set()
    built: set[str] = set()

    def done(job: PrepareJob, cached: bool) -> None:
        if not cached:
            built.add(job.task)

    jobs_list = [PrepareJob(ref, preset) for ref in dict.fromkeys(refs)]
    EXECUTORS.get(executor)(jobs=jobs).map(jobs_list, _prepare_job, done, lambda job, e: None)
    return built


def _models(entry: SuiteTask, preset_models: tuple[str, ...]) -> tuple[str, ...]:
    """The entry's models (in its order), each one the task's preset runs; else all of those."""
    unknown = [m for m in entry.models if m not in preset_models]
    if unknown:
        raise SeqbenchError(
            f"suite task {entry.task}: model(s) {unknown} are not among its models "
            f"({', '.join(preset_models)})",
            "fix the suite's models: list",
        )
    return entry.models or preset_models


def run_order(
    cells: list[Cell], keys: dict[Cell, str], teachers: dict[Cell, tuple[str, str]]
) -> dict[Cell, set[Cell]]:
    """Cell -> the cells it runs after: the first cell of its teacher's (task key, model) (which
    trains the teacher), and the first cell of its own (task key, model) when that is another
    (it trains the checkpoint this one only scores on another split)."""
    trains: dict[tuple[str, str], Cell] = {}
    for cell in cells:
        trains.setdefault((keys[cell], cell.model), cell)
    after: dict[Cell, set[Cell]] = {}
    for cell in cells:
        before = {trains.get(teachers[cell])} if cell in teachers else set()
        before.add(trains[(keys[cell], cell.model)])
        after[cell] = {c for c in before if c is not None and c != cell}
    return after
