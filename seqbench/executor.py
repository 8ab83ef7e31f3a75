"""Runs independent suite cells in-process, in local worker processes, or on Ray.

A cell is a pure function of its inputs (task, model, preset, seed, profiles, split) that
writes one result record per profile atomically; what running one means (train when no
checkpoint exists, then evaluate) is the caller's ``run`` function
(:func:`seqbench.stages.run_cell`): this module knows nothing of stages. The executor only
decides where cells run, so every executor yields the same records, and a rerun skips cells
whose records already exist.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import torch

from seqbench import paths
from seqbench.accel.profile import resolve_profiles
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

    def label(self) -> str:
        return f"{self.task} / {self.model} ({self.preset}, seed {self.seed})"


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


def is_done(cell: Cell, records: list[dict[str, Any]]) -> bool:
    """True when a record of the cell's run identity exists for every profile of the cell."""
    spec, subset = load_task(cell.task)
    keys = [task_key(spec, subset)]
    family = family_for(spec)
    for test_set in cell.test_sets:
        keys.append(
            task_key(test_set_spec(spec, family.effective_source(spec.source, test_set)), None)
        )
    wanted = set(profile_names(cell.accels))
    for key in keys:
        have = {
            r["profile"]
            for r in records
            if r["task"] == key
            and r["model"] == cell.model
            and r["split"] == cell.split
            and r.get("preset") == cell.preset
            and r.get("seed") == cell.seed
            and (not cell.identity or of_identity(r, cell.identity))
        }
        if not wanted <= have:
            return False
    return True


# Runs one cell and returns its records. Worker processes get it pickled by name, so it must
# be a module-level function.
Run = Callable[[Cell], list[dict[str, Any]]]
Done = Callable[[Cell, list[dict[str, Any]]], None]
Failed = Callable[[Cell, BaseException], None]


def _run_cell_quietly(run: Run, cell: Any, threads: int) -> Any:
    """``run`` in a worker: no progress bars, the parent's torch thread count. ``cell`` is any
    picklable frozen dataclass (a suite :class:`Cell`, a sweep cell)."""
    os.environ["SEQBENCH_QUIET"] = "1"
    torch.set_num_threads(threads)
    return run(cell)


class Executor:
    """Where cells run. A failing cell is reported through ``on_failed`` and the others go on:
    one bad cell must not throw away hours of finished work."""

    def map(self, cells: list[Cell], run: Run, on_done: Done, on_failed: Failed) -> None:
        raise NotImplementedError


class InProcess(Executor):
    """Cells one after another in this process (the default)."""

    def __init__(self, jobs: int = 1, address: str | None = None) -> None:
        pass

    def map(self, cells: list[Cell], run: Run, on_done: Done, on_failed: Failed) -> None:
        for cell in cells:
            try:
                records = run(cell)
            except Exception as error:  # noqa: BLE001  (reported, then the suite goes on)
                on_failed(cell, error)
            else:
                on_done(cell, records)


def _threads() -> int:
    """This process's torch threads: workers use the same, so records match bit for bit
    whichever executor ran them (reduction order depends on the thread count)."""
    return torch.get_num_threads()


class LocalProcesses(Executor):
    """Cells in ``jobs`` worker processes (each with this process's torch thread count)."""

    def __init__(self, jobs: int = 2, address: str | None = None) -> None:
        self.jobs = max(1, jobs)

    def map(self, cells: list[Cell], run: Run, on_done: Done, on_failed: Failed) -> None:
        threads = _threads()
        with ProcessPoolExecutor(max_workers=self.jobs) as pool:
            futures = {pool.submit(_run_cell_quietly, run, c, threads): c for c in cells}
            for future in as_completed(futures):
                try:
                    records = future.result()
                except Exception as error:  # noqa: BLE001
                    on_failed(futures[future], error)
                else:
                    on_done(futures[future], records)


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

    def map(self, cells: list[Cell], run: Run, on_done: Done, on_failed: Failed) -> None:
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
        pending = {remote.remote(run, c, threads): c for c in cells}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                cell = pending.pop(ref)
                try:
                    records = ray.get(ref)
                except Exception as error:  # noqa: BLE001
                    on_failed(cell, error)
                else:
                    on_done(cell, records)


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
) -> int:
    """Run the cells not finished yet with ``run``; returns how many ran.

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
    if todo:
        runner = EXECUTORS.get(executor)(jobs=jobs, address=address)
        runner.map(todo, run, on_done, lambda cell, error: failures.append((cell, error)))
    if failures:
        detail = "; ".join(f"{cell.label()}: {error}" for cell, error in failures)
        raise SeqbenchError(
            f"{len(failures)} of {len(todo)} cell(s) failed ({detail})",
            "fix the cause and rerun the same command: finished cells are skipped",
        )
    return len(todo)
