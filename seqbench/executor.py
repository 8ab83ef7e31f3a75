"""Runs independent suite cells in-process, in local worker processes, or on Ray.

A cell is a pure function of its inputs (task, model, preset, seed, profiles, split) that
writes one result record per profile atomically; what running one means (train when no
checkpoint exists, then evaluate) is the caller's ``run`` function
(:func:`seqbench.stages.run_cell`): this module knows nothing of stages. The executor only
decides where cells run, so every executor yields the same records, and a rerun skips cells
whose records already exist.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from graphlib import CycleError, TopologicalSorter
from typing import Any, NoReturn

import torch

from seqbench import paths
from seqbench.accel.profile import chain_hash, resolve_profiles
from seqbench.allocator import keep_freed_memory
from seqbench.config import load_task, task_key
from seqbench.errors import SeqbenchError
from seqbench.families.base import family_for, test_set_spec
from seqbench.registry import Registry


@dataclass(frozen=True)
class Cell:
    """One (task, model, preset, seed, split) evaluation under a set of profiles."""

    task: str
    model: str
    preset: str
    seed: int = 0
    split: str = "test"
    accels: str = "all"
    effects_limit: int | None = None
    # External test sets (``local:PATH``) the cell's checkpoint is also scored on.
    test_sets: tuple[str, ...] = ()
    # The identity hash of the run the cell would train now (its run spec's): only records
    # of that checkpoint identity finish the cell. Empty: any record of the cell does.
    identity: str = ""
    device: str = "auto"  # where it trains and scores: not part of the identity
    beam: int = 1

    def label(self) -> str:
        split = "" if self.split == "test" else f", {self.split}"
        beam = "" if self.beam == 1 else f", beam {self.beam}"
        return f"{self.task} / {self.model} ({self.preset}, seed {self.seed}{split}{beam})"


def profile_names(accels: str) -> list[str]:
    return [p.name for p in resolve_profiles(accels)]


def of_identity(record: dict[str, Any], identity: str) -> bool:
    """Whether ``record`` scored a checkpoint of run ``identity`` (an identity hash). Records
    written before they carried it are matched by their run folder, whose name ends in the
    identity hash's first 8 characters."""
    checkpoint = record.get("checkpoint") or {}
    if checkpoint.get("identity"):
        return bool(checkpoint["identity"] == identity)
    return str(checkpoint.get("path", "")).endswith(f"-{identity[:8]}")


def priced_as_now(record: dict[str, Any], current: Mapping[str, tuple[str, str]]) -> bool:
    """Whether ``record`` was priced on its profile as it is now (``current``: profile name ->
    (its hash, its :func:`~seqbench.accel.profile.chain_hash`), which covers the fallback
    profile it hands host ops to). Records written before they carried the chain hash are
    judged on their own profile's hash."""
    if record["profile"] not in current:
        return False
    own, chain = current[record["profile"]]
    if "profile_chain_hash" in record:
        return bool(record["profile_chain_hash"] == chain)
    return bool(record.get("profile_hash") == own)


def stale_profiles(cell: Cell, records: list[dict[str, Any]]) -> list[str]:
    """The cell's profiles, in order, that lack a record of the cell's run identity priced on
    the profile as it is now, on the task's test data or on any of the cell's test sets."""
    spec, subset = load_task(cell.task)
    keys = [task_key(spec, subset)]
    family = family_for(spec)
    for test_set in cell.test_sets:
        keys.append(
            task_key(test_set_spec(spec, family.effective_source(spec.source, test_set)), None)
        )
    current = {p.name: (p.hash, chain_hash(p)) for p in resolve_profiles(cell.accels)}
    stale: set[str] = set()
    for key in keys:
        have = {
            r["profile"]
            for r in records
            if r["task"] == key
            and r["model"] == cell.model
            and r["split"] == cell.split
            and r.get("beam", 1) == cell.beam
            and r.get("preset") == cell.preset
            and r.get("seed") == cell.seed
            and (not cell.identity or of_identity(r, cell.identity))
            and priced_as_now(r, current)
        }
        stale |= set(current) - have
    return [name for name in current if name in stale]


def is_done(cell: Cell, records: list[dict[str, Any]]) -> bool:
    """True when a record of the cell's run identity, priced on the profile as it is now,
    exists for every profile of the cell."""
    return not stale_profiles(cell, records)


def narrowed(cell: Cell, records: list[dict[str, Any]]) -> Cell:
    """``cell`` reduced to its stale profiles when only some are (an edited profile: the
    others' records stand), else ``cell`` itself."""
    stale = stale_profiles(cell, records)
    if not stale or len(stale) == len(profile_names(cell.accels)):
        return cell
    return dataclasses.replace(cell, accels=",".join(stale))


# Runs one cell and returns its records. Worker processes get it pickled by name, so it must
# be a module-level function.
Run = Callable[[Cell], list[dict[str, Any]]]
Done = Callable[[Cell, list[dict[str, Any]]], None]
Failed = Callable[[Cell, BaseException], None]
# Cell -> the cells it runs after (a teacher before its student, the cell that trains a
# checkpoint before the cells that only score it): they must have finished, not just started.
After = Mapping[Any, Collection[Any]]


class Ready:
    """The cells in their given order (the caller's priority: longest first), each handed out
    once every cell it runs after has finished; a cell whose prerequisite failed never starts.
    Prerequisites that are not among ``cells`` (finished before this run) count as finished."""

    def __init__(self, cells: list[Any], after: After | None = None) -> None:
        among = set(cells)
        self.waiting = list(cells)
        self.after = {c: set((after or {}).get(c, ())) & among for c in cells}
        self.finished: set[Any] = set()
        _refuse_cycles(self.after)

    def take(self) -> Any | None:
        """The first waiting cell whose prerequisites all finished (None: none is ready)."""
        for i, cell in enumerate(self.waiting):
            if self.after[cell] <= self.finished:
                return self.waiting.pop(i)
        return None

    def finish(self, cell: Any, ok: bool) -> list[Any]:
        """Mark ``cell`` finished; when it failed, returns the waiting cells that ran after it
        (directly or through another), which are dropped."""
        if ok:
            self.finished.add(cell)
            return []
        failed, dropped = {cell}, []
        for waiting in list(self.waiting):  # prerequisites come first in a valid order
            if self.after[waiting] & failed:
                self.waiting.remove(waiting)
                failed.add(waiting)
                dropped.append(waiting)
        return dropped


def _refuse_cycles(after: dict[Any, set[Any]]) -> None:
    """A cell that (through others) runs after itself would never start: refuse the order."""
    try:
        TopologicalSorter(after).prepare()
    except CycleError as error:
        # graphlib lists each cell before the one that runs after it; say it the other way
        names = " -> ".join(c.label() for c in reversed(error.args[1]))
        raise SeqbenchError(
            f"cells run after each other in a circle: {names}", "fix the suite"
        ) from None


def _settle(
    ready: Ready, cell: Any, result: Callable[[], Any], on_done: Done, on_failed: Failed
) -> None:
    """Hand ``cell``'s outcome (``result()`` returns it or raises) to the callbacks."""
    try:
        value = result()
    except Exception as error:  # noqa: BLE001  (reported, then the suite goes on)
        on_failed(cell, error)
        for dropped in ready.finish(cell, False):
            on_failed(dropped, SeqbenchError(f"not started: {cell.label()}, run before it, failed"))
    else:
        ready.finish(cell, True)
        on_done(cell, value)


def _raise(error: BaseException) -> NoReturn:
    raise error


@dataclass(frozen=True)
class Ran:
    """A cell's result and the wall-clock seconds (Unix time) it started and ended, measured
    where it ran."""

    value: Any
    started: float
    ended: float


@dataclass(frozen=True)
class Timed:
    """``run`` that also measures when it ran (picklable when ``run`` is module-level)."""

    run: Callable[[Any], Any]

    def __call__(self, cell: Any) -> Ran:
        started = time.time()
        value = self.run(cell)
        return Ran(value, started, time.time())


def _run_cell_quietly(run: Run, cell: Any, threads: int) -> Any:
    """``run`` in a worker: no progress bars, the parent's torch thread count. ``cell`` is any
    picklable frozen dataclass (a suite :class:`Cell`, a sweep cell)."""
    os.environ["SEQBENCH_QUIET"] = "1"
    torch.set_num_threads(threads)
    keep_freed_memory()  # a Ray worker on another machine has not run the CLI
    return run(cell)


class Executor:
    """Where cells run. A failing cell is reported through ``on_failed`` and the others go on:
    one bad cell must not throw away hours of finished work."""

    def map(
        self,
        cells: list[Cell],
        run: Run,
        on_done: Done,
        on_failed: Failed,
        after: After | None = None,
    ) -> None:
        """Run ``cells``, starting each in list order once the cells it runs ``after`` have
        finished, and report each through ``on_done`` or ``on_failed``."""
        raise NotImplementedError


class InProcess(Executor):
    """Cells one after another in this process (the default)."""

    def __init__(self, jobs: int = 1, address: str | None = None) -> None:
        pass

    def map(
        self,
        cells: list[Cell],
        run: Run,
        on_done: Done,
        on_failed: Failed,
        after: After | None = None,
    ) -> None:
        ready = Ready(cells, after)
        while (cell := ready.take()) is not None:
            _settle(ready, cell, lambda: run(cell), on_done, on_failed)  # noqa: B023


def _threads() -> int:
    """This process's torch threads: workers use the same, so records match bit for bit
    whichever executor ran them (reduction order depends on the thread count)."""
    return torch.get_num_threads()


class LocalProcesses(Executor):
    """Cells in ``jobs`` worker processes (each with this process's torch thread count)."""

    def __init__(self, jobs: int = 2, address: str | None = None) -> None:
        self.jobs = max(1, jobs)

    def map(
        self,
        cells: list[Cell],
        run: Run,
        on_done: Done,
        on_failed: Failed,
        after: After | None = None,
    ) -> None:
        threads = _threads()
        with ProcessPoolExecutor(max_workers=self.jobs) as pool:
            _drive(
                Ready(cells, after),
                self.jobs,
                lambda cell: pool.submit(_run_cell_quietly, run, cell, threads),
                lambda futures: wait(futures, return_when=FIRST_COMPLETED)[0],
                lambda future: future.result(),
                on_done,
                on_failed,
            )


def _drive(
    ready: Ready,
    slots: int,
    submit: Callable[[Any], Any],
    wait_any: Callable[[list[Any]], Iterable[Any]],
    outcome: Callable[[Any], Any],
    on_done: Done,
    on_failed: Failed,
) -> None:
    """Keep at most ``slots`` cells in flight (``submit`` returns a handle, ``wait_any`` the
    handles finished, ``outcome`` a handle's value or its error) and settle each as it ends.
    No more in flight than run at once: a queued cell would start in the order it was
    queued, not in the order of the cells ready when a worker frees."""
    running: dict[Any, Any] = {}
    while True:
        while len(running) < slots and (cell := ready.take()) is not None:
            try:
                running[submit(cell)] = cell
            except BrokenProcessPool as error:  # a worker died: the rest fail as lost
                _settle(ready, cell, partial(_raise, error), on_done, on_failed)
        if not running:
            return
        for handle in wait_any(list(running)):
            _settle(ready, running.pop(handle), partial(outcome, handle), on_done, on_failed)


def check_ray_address(address: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds (not minutes of Ray retries) when ``HOST:PORT`` does not answer."""
    if address == "auto":
        return
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SeqbenchError(
            f"--address {address!r} is not HOST:PORT", "e.g. --address 10.0.0.5:6379 or auto"
        )
    fix = "start one with `ray start --head` there, or drop --address for a local Ray"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s) as conn:
            speaks = _speaks_http2(conn)
    except OSError as err:
        raise SeqbenchError(
            f"no Ray cluster answers at {address} ({err.strerror or err})", fix
        ) from err
    if not speaks:
        # Ray itself would retry such a port for tens of seconds, printing gcs_client lines.
        raise SeqbenchError(
            f"{address} accepts connections but is not a Ray cluster (no gRPC answer)", fix
        )


# Ray's head (GCS) and client server speak gRPC, i.e. HTTP/2: a client's preface and empty
# SETTINGS frame are answered by the server's own SETTINGS frame (type 4), RFC 9113 3.4.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def _speaks_http2(conn: socket.socket) -> bool:
    """Whether the peer answers an HTTP/2 connection preface with a SETTINGS frame."""
    try:
        conn.sendall(_HTTP2_PREFACE)
        head = b""
        while len(head) < 9:
            chunk = conn.recv(9 - len(head))
            if not chunk:
                return False
            head += chunk
    except OSError:  # a timeout: the port never answered
        return False
    return head[3] == 4


class RayExecutor(Executor):
    """Cells as Ray tasks: a local Ray instance, or ``address`` of an existing cluster."""

    def __init__(
        self, jobs: int = 0, address: str | None = None, max_retries: int | None = None
    ) -> None:
        try:
            import ray
        except ImportError as err:
            raise SeqbenchError(
                "--executor ray needs Ray installed", "pip install -e '.[ray]'"
            ) from err
        self.ray = ray
        self.address = address
        self.jobs = jobs
        # Ray's own retries of a task whose worker died (None: Ray's default, 3); a caller
        # that counts attempts itself passes 0.
        self.max_retries = max_retries
        if address is not None:
            check_ray_address(address)

    def map(
        self,
        cells: list[Cell],
        run: Run,
        on_done: Done,
        on_failed: Failed,
        after: After | None = None,
    ) -> None:
        ray = self.ray
        if not ray.is_initialized():
            ray.init(
                address=self.address,
                # A local Ray gets --jobs CPUs (default: all); a cluster brings its own.
                num_cpus=(self.jobs or None) if self.address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                # Workers write checkpoints and records under the same $SEQBENCH_HOME (on a
                # cluster, a path every node shares).
                runtime_env={
                    "env_vars": {"SEQBENCH_HOME": str(paths.home()), "SEQBENCH_QUIET": "1"}
                },
            )
        threads = _threads()
        options: dict[str, Any] = {"num_cpus": threads}
        if self.max_retries is not None:
            options["max_retries"] = self.max_retries
        remote = ray.remote(**options)(_run_cell_quietly)
        # As many cells in flight as the cluster runs at once, so cells start in list order.
        slots = max(1, int(ray.cluster_resources().get("CPU", 1)) // max(1, threads))
        _drive(
            Ready(cells, after),
            slots,
            lambda cell: remote.remote(run, cell, threads),
            lambda refs: ray.wait(refs, num_returns=1)[0],
            ray.get,
            on_done,
            on_failed,
        )


EXECUTORS: Registry[type[Executor]] = Registry("executor")
EXECUTORS.add("inprocess", InProcess, aliases=("local",))
EXECUTORS.add("processes", LocalProcesses)
EXECUTORS.add("ray", RayExecutor)


def run_cells(
    cells: Iterable[Cell],
    records: list[dict[str, Any]],
    *,
    run: Run,
    executor: str = "inprocess",
    jobs: int = 1,
    address: str | None = None,
    on_done: Done,
    on_skip: Callable[[Cell], None] | None = None,
    after: After | None = None,
    on_timed: Callable[[Cell, float, float], None] | None = None,
) -> int:
    """Run the cells not finished yet with ``run``; returns how many ran.

    A cell starts only after the cells it runs ``after`` (those not finished before) finished;
    ``on_timed`` gets each finished cell's start and end (Unix seconds, where it ran).
    Raises one error naming every failed cell after all the others finished.
    """
    todo = []
    for cell in cells:
        if is_done(cell, records):
            if on_skip:
                on_skip(cell)
        else:
            todo.append(cell)
    failures: list[tuple[Cell, BaseException]] = []

    def done(cell: Cell, ran: Ran) -> None:
        if on_timed:
            on_timed(cell, ran.started, ran.ended)
        on_done(cell, ran.value)

    if todo:
        runner = EXECUTORS.get(executor)(jobs=jobs, address=address)
        runner.map(
            todo, Timed(run), done, lambda cell, error: failures.append((cell, error)), after
        )
    if failures:
        detail = "; ".join(f"{cell.label()}: {error}" for cell, error in failures)
        raise SeqbenchError(
            f"{len(failures)} of {len(todo)} cell(s) failed ({detail})",
            "fix the cause and rerun the same command: finished cells are skipped",
        )
    return len(todo)
