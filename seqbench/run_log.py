"""The log of one ``seqbench run``: when each cell started and ended, per board.

``$SEQBENCH_HOME/logs/run-<UTC time>-<pid>.json``, rewritten atomically after every cell (a
killed run leaves the cells it finished)::

    {"preset": "full", "executor": "processes", "jobs": 2, "tasks": [...],
     "host": {"cpu_model": ..., "cpu_count": 2, ...},     # the machine that started the run
     "started": 1765000000.0, "ended": 1765005400.0,          # Unix seconds; ended null: killed
     "cells": [{"task": "scan:length", "board": "translation", "model": "gru", "split": "test",
                "beam": 1, "started": ..., "ended": ..., "seconds": 301.2}],
     "skipped": [{"task": ..., "board": ..., "model": ..., "split": ...}]}   # finished before

A cell's times are measured where it ran (a worker process, a Ray node); a board is the
family's leaderboard (``translation``, ``vqa``, ...). ``bench/suite_time.py`` reads it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from seqbench import paths
from seqbench.atomic import write_json


class CellLike(Protocol):
    model: str
    split: str
    beam: int


def logs_dir() -> Path:
    return paths.home() / "logs"


@dataclass
class RunLog:
    """One run's log file; this process is its only writer."""

    path: Path
    content: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        preset: str,
        executor: str,
        jobs: int,
        tasks: list[str],
        host: dict[str, Any] | None = None,
    ) -> RunLog:
        """A new log of a run; ``host``: the machine starting it (``evaluate.host_info``),
        since a suite's time belongs to its CPU as much as to its code."""
        now = time.time()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        log = cls(logs_dir() / f"run-{stamp}-{os.getpid()}.json")
        log.content = {
            "preset": preset,
            "executor": executor,
            "jobs": jobs,
            "tasks": list(dict.fromkeys(tasks)),
            "host": host or {},
            "started": round(now, 3),
            "ended": None,
            "cells": [],
            "skipped": [],
        }
        log.write()
        return log

    def ran(self, cell: CellLike, task: str, board: str, started: float, ended: float) -> None:
        """A cell of ``task`` (its key: ``scan:simple``) finished: when it started and ended
        (Unix seconds)."""
        self.content["cells"].append(
            {
                **_names(cell, task, board),
                "beam": cell.beam,
                "started": round(started, 3),
                "ended": round(ended, 3),
                "seconds": round(ended - started, 3),
            }
        )
        self.write()

    def skipped(self, cell: CellLike, task: str, board: str) -> None:
        """A cell finished before this run (its records exist): not run again."""
        self.content["skipped"].append(_names(cell, task, board))

    def finish(self) -> None:
        self.content["ended"] = round(time.time(), 3)
        self.write()

    def write(self) -> None:
        write_json(self.path, self.content)


def _names(cell: CellLike, task: str, board: str) -> dict[str, Any]:
    return {"task": task, "board": board, "model": cell.model, "split": cell.split}
