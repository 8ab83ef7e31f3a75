"""Issue 33: `seqbench run --preset full` is every committed board in one command: the suite
covers every row key of leaderboards/*.json, a teacher's cell finishes before its students'
start (whatever the executor), and Multi30k's rows run only where its source is bound."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from seqbench import stages
from seqbench.config import load_task, task_key
from seqbench.errors import SeqbenchError
from seqbench.executor import Ready
from seqbench.families.base import run_spec
from seqbench.suites import SuiteTask, load_suite

BOARDS = Path(__file__).resolve().parents[1] / "leaderboards"


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _board_rows() -> set[tuple[str, str, str, int]]:
    """(task, model, split, beam) of every row of the committed boards."""
    keys = set()
    for path in sorted(BOARDS.glob("*.json")):
        for row in json.loads(path.read_text(encoding="utf-8"))["rows"]:
            keys.add((row["task"], row["model"], row["split"], int(row["beam"])))
    return keys


def _suite_rows(preset: str = "full") -> set[tuple[str, str, str, int]]:
    """What the full suite's cells score, by the same key (its test sets as NAME@FOLDER)."""
    suite = load_suite("full")
    keys = set()
    for entry in suite.entries:
        spec, subset = load_task(entry.task)
        models = entry.models or run_spec(spec, subset, preset).models
        key = task_key(spec, subset)
        folders = [Path(t.split(":", 1)[1]).name for t in suite.test_sets.get(entry.task, [])]
        for model in models:
            for split in entry.splits:
                keys.add((key, model, split, entry.beam))
            keys |= {(f"{key}@{folder}", model, "test", entry.beam) for folder in folders}
    return keys


def test_the_full_suite_covers_every_committed_board() -> None:
    boards = _board_rows()
    assert {task for task, *_ in boards} >= {"shapes-sounds", "pydoc-lm", "synth-faces"}
    missing = boards - _suite_rows()
    assert not missing, f"rows of leaderboards/ that `run --preset full` does not make: {missing}"


def test_the_quick_suite_is_still_only_scan() -> None:
    quick = load_suite("quick")
    assert quick.entries == (SuiteTask("scan"),)


def _capture(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The executor mocked: what run_suite hands it, and no report."""
    seen: dict[str, Any] = {}

    def run_cells(cells: list[Any], records: list[Any], **kwargs: Any) -> int:
        seen.update(cells=list(cells), **kwargs)
        return 0

    monkeypatch.setattr(stages, "run_cells", run_cells)
    monkeypatch.setattr(stages, "write_report", lambda *a, **k: [])
    return seen


def test_a_teacher_runs_before_its_students(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture(monkeypatch)
    # The student first on purpose: the order of the list does not put it before its teacher.
    stages.run_suite(["shapes-sounds", "shapes-captions"], "tiny", accels="cpu", out_dir=home)
    by_model = {cell.model: cell for cell in seen["cells"]}
    assert set(by_model) == {"bind-audio", "bind-audio-text", "clip"}
    assert seen["after"][by_model["bind-audio"]] == {by_model["clip"]}
    assert seen["after"][by_model["bind-audio-text"]] == {by_model["clip"]}
    assert seen["after"][by_model["clip"]] == set()


def _write_gz(path: Path, lines: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def _parallel_corpus(folder: Path) -> Path:
    """A small German-English corpus in Multi30k's published layout (seeded, made up)."""
    de = ["ein", "der", "zwei"], ["hund", "mann", "kind"], ["läuft", "sitzt", "springt"]
    en = ["a", "the", "two"], ["dog", "man", "child"], ["runs", "sits", "jumps"]
    pairs = [
        (f"{de[0][a]} {de[1][b]} {de[2][c]} .", f"{en[0][a]} {en[1][b]} {en[2][c]} .")
        for a in range(3)
        for b in range(3)
        for c in range(3)
    ]
    folder.mkdir()
    for stem, count in {
        "train": 60,
        "val": 10,
        "test_2016_flickr": 8,
        "test_2017_flickr": 6,
    }.items():
        chosen = [pairs[(i * 7 + len(stem)) % len(pairs)] for i in range(count)]
        _write_gz(folder / f"{stem}.de.gz", [d for d, _ in chosen])
        _write_gz(folder / f"{stem}.en.gz", [e for _, e in chosen])
    return folder


def test_multi30k_runs_only_where_its_source_is_bound(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (entry,) = [e for e in load_suite("full").entries if e.task == "multi30k"]
    assert entry.needs_source
    seen = _capture(monkeypatch)
    stages.run_suite([entry], "tiny", accels="cpu", out_dir=home)
    assert seen["cells"] == []
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if "multi30k" in ln]
    assert "skipped" in line and "seqbench prepare multi30k" in line and "--source" in line

    stages.prepare_task("multi30k", "tiny", source=f"local:{_parallel_corpus(tmp_path / 'm')}")
    stages.run_suite([entry], "tiny", accels="cpu", out_dir=home)
    cells = seen["cells"]
    assert [(c.model, c.split, c.beam) for c in cells] == [
        ("transformer", "test", 4),
        ("transformer", "test_2017_flickr", 4),
        ("gru-attn", "test", 4),
        ("gru-attn", "test_2017_flickr", 4),
    ]
    # The cell that trains a checkpoint finishes before the one that only scores it.
    assert seen["after"][cells[1]] == {cells[0]} and seen["after"][cells[0]] == set()


# --- the executors keep the order --------------------------------------------------------


def _handshake(cell: Any) -> list[dict[str, Any]]:
    """A mocked cell: the teacher (clip) finishes only once another cell has started, so an
    executor that starts students beside their teacher is caught, not just made likely."""
    box = Path(os.environ["SEQBENCH_TEST_BOX"])
    (box / f"{cell.task}-{cell.model}.started").touch()
    if cell.model == "clip":
        deadline = time.monotonic() + 120  # a bound, never reached when the order holds
        while not list(box.glob("scan-*.started")) and time.monotonic() < deadline:
            time.sleep(0.01)
    saw_teacher = (box / "shapes-captions-clip.ended").exists()
    (box / f"{cell.task}-{cell.model}.ended").touch()
    return [{"model": cell.model, "saw_teacher": saw_teacher}]


def test_a_teacher_finishes_before_its_students_start_under_two_processes(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQBENCH_TEST_BOX", str(tmp_path))
    monkeypatch.setattr(stages, "run_cell", _handshake)
    monkeypatch.setattr(stages, "write_report", lambda *a, **k: [])
    ran: list[dict[str, Any]] = []
    stages.run_suite(
        ["shapes-sounds", "shapes-captions", "scan"],
        "tiny",
        accels="cpu",
        out_dir=home,
        executor="processes",
        jobs=2,
        on_records=ran.extend,
    )
    students = [r for r in ran if r["model"].startswith("bind-")]
    assert len(students) == 2 and all(r["saw_teacher"] for r in students)
    # The run's log says when each cell ran, per board (bench/suite_time.py reads it).
    (log_path,) = (home / "logs").glob("run-*.json")
    log = json.loads(log_path.read_text())
    assert log["ended"] >= log["started"] and len(log["cells"]) == len(ran) == 8
    assert log["host"]["cpu_count"] == os.cpu_count() and log["host"]["torch"]
    times = {c["model"]: c for c in log["cells"] if c["task"] != "scan:simple"}
    assert {c["board"] for c in log["cells"]} == {"binding", "retrieval", "translation"}
    for student in ("bind-audio", "bind-audio-text"):
        assert times[student]["started"] >= times["clip"]["ended"]


class _Cell(str):
    def label(self) -> str:
        return str(self)


def test_ready_hands_out_cells_in_order_once_their_prerequisites_finished() -> None:
    a, b, c, d = (_Cell(n) for n in "abcd")
    ready = Ready([b, a, c, d], {b: {a}, c: {b}})
    assert ready.take() == a and ready.take() == d and ready.take() is None
    assert ready.finish(a, ok=False) == [b, c]  # dropped: they run after a failed cell
    assert ready.take() is None and not ready.waiting
    with pytest.raises(SeqbenchError, match="circle: a -> b -> a|circle: b -> a -> b"):
        Ready([a, b], {a: {b}, b: {a}})


def test_suite_time_reports_wall_time_per_board() -> None:
    from bench.suite_time import board_table, board_times

    def cell(task: str, board: str, started: float, ended: float) -> dict[str, Any]:
        return {"task": task, "board": board, "model": "m", "split": "test", "beam": 1,
                "started": started, "ended": ended, "seconds": ended - started}  # fmt: skip

    log = {
        "started": 1000.0,
        "ended": 1400.0,
        "cells": [
            cell("shapes-captions", "retrieval", 1000.0, 1100.0),
            cell("scan:simple", "translation", 1000.0, 1050.0),
            cell("scan:length", "translation", 1050.0, 1120.0),
            cell("shapes-sounds", "binding", 1100.0, 1400.0),
        ],
        "skipped": [
            {"task": "scan:simple", "board": "translation", "model": "m2", "split": "test"}
        ],
    }
    rows = {b["board"]: b for b in board_times(log)}
    assert [b["board"] for b in board_times(log)] == ["retrieval", "translation", "binding"]
    assert rows["translation"]["wall_s"] == 120.0 and rows["translation"]["cell_s"] == 120.0
    assert rows["translation"]["ran"] == 2 and rows["translation"]["skipped"] == 1
    assert rows["binding"]["wall_s"] == 300.0 and rows["binding"]["done_after_s"] == 400.0
    assert "| translation | scan:length, scan:simple | 2 | 1 | 120 | 120 | 120 |" in board_table(
        log
    )


def _dies_on_a(cell: Any) -> str:
    if cell == "a":
        os._exit(1)  # the worker process dies, as under the OOM killer
    return str(cell)


def test_a_lost_worker_fails_every_cell_left_and_returns() -> None:
    from seqbench.executor import LocalProcesses

    a, b, c = (_Cell(n) for n in "abc")
    failed: list[tuple[str, str]] = []
    LocalProcesses(jobs=1).map(
        [a, b, c],
        _dies_on_a,
        lambda cell, value: failed.append((cell, "done")),
        lambda cell, error: failed.append((cell, type(error).__name__)),
        {c: {b}},
    )
    assert dict(failed)["a"] == "BrokenProcessPool" and len(failed) == 3


def test_suite_time_counts_only_the_checkpoints_records_score(tmp_path: Path) -> None:
    """A cell retrained under a new identity leaves its old checkpoint behind: the table
    counts the one the records score and names the other apart."""
    from bench.suite_time import table

    for name, sha, seconds in (("old", "a" * 64, 822.0), ("new", "b" * 64, 643.0)):
        run = tmp_path / "runs" / "sort-of-clevr" / "vl-transformer" / name
        run.mkdir(parents=True)
        (run / "config.json").write_text(
            json.dumps({"complete": True, "task": "sort-of-clevr", "model": "vl-transformer",
                        "preset": "full", "train_seconds": seconds, "weights_sha256": sha})
        )  # fmt: skip
    record = tmp_path / "results" / "sort-of-clevr" / "vl-transformer" / "cpu" / "r.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"checkpoint": {"sha256": "b" * 64}, "profile": "cpu"}))
    text = table(tmp_path, None, 2, ("0.1", "0.2"))
    assert "| sort-of-clevr | vl-transformer | full | 643 |" in text
    assert "| 822 |" not in text and "sum of training seconds: 643" in text
    assert "superseded), not counted: sort-of-clevr / vl-transformer (822 s)" in text
    # a finished home's report measured no load: it prints none (the reporting process's own
    # load says nothing of the run's)
    assert "load average" in text and "load average" not in table(tmp_path, None, 2, None)
    # the wall time names the machine the run's log says ran it, not the reporting one
    log = {"started": 0.0, "ended": 60.0, "jobs": 2, "cells": [], "skipped": [],
           "host": {"cpu_model": "AMD EPYC", "cpu_count": 96}}  # fmt: skip
    assert "on 96 cores (AMD EPYC), 1 torch thread each" in table(tmp_path, None, 2, None, log)


def _cache_bytes(home: Path) -> dict[str, bytes]:
    """Every cached file but the manifests (which say when they were made), by path."""
    root = home / "cache"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "manifest.json" and not p.name.endswith(".lock")
    }


def test_two_processes_prepare_the_suites_tasks_ahead_into_the_same_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = ["shapes-captions", "scan:simple", "sort-of-clevr"]
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "ahead"))
    assert stages.prepare_ahead(tasks, "tiny", "inprocess", 2) == set()  # the serial pass does
    assert not (tmp_path / "ahead" / "cache").exists()
    assert stages.prepare_ahead(tasks, "tiny", "processes", 2) == set(tasks)
    assert stages.prepare_ahead(tasks, "tiny", "processes", 2) == set()  # cached now
    ahead = _cache_bytes(tmp_path / "ahead")
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "serial"))
    for task in tasks:
        stages.prepare_task(task, "tiny")
    assert len(ahead) >= 9 and ahead == _cache_bytes(tmp_path / "serial")
