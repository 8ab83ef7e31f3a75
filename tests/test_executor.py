"""Executors only decide where cells run: every executor writes the same records, and a rerun
skips finished cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqbench import results
from seqbench.executor import Cell, run_cells
from seqbench.stages import run_cell

CELLS = [Cell("scan", "gru", "tiny", 0, "test", "cpu,retransformer")]


def _run(home: Path, monkeypatch: pytest.MonkeyPatch, executor: str) -> list[dict]:
    monkeypatch.setenv("SEQBENCH_HOME", str(home))
    done: list[dict] = []
    ran = run_cells(
        CELLS,
        results.load_all(),
        run=run_cell,
        executor=executor,
        jobs=1,
        on_done=lambda cell, records: done.extend(records),
    )
    assert ran == 1
    skipped: list[Cell] = []
    again = run_cells(
        CELLS,
        results.load_all(),
        run=run_cell,
        executor=executor,
        on_done=lambda *_: None,
        on_skip=skipped.append,
    )
    assert again == 0 and skipped == CELLS
    return sorted(done, key=lambda r: r["profile"])


def _comparable(record: dict) -> tuple:
    # The cpu profile prices work with the host roofline measured once per $SEQBENCH_HOME;
    # the two homes here measured it separately, so only the paper profiles compare exactly.
    energy = None if record["profile"] == "cpu" else record["simulated"]["energy_J_per_unit"]
    return (
        record["task"],
        record["model"],
        record["profile"],
        record["quality"]["metrics"],
        energy,
        record["checkpoint"]["sha256"],
    )


@pytest.mark.parametrize("executor", ["processes", "ray"])
def test_executors_give_the_same_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    if executor == "ray":
        ray = pytest.importorskip("ray", reason="Ray is the optional [ray] extra")
        monkeypatch.setenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    baseline = _run(tmp_path / "inprocess", monkeypatch, "inprocess")
    other = _run(tmp_path / executor, monkeypatch, executor)
    if executor == "ray":
        ray.shutdown()
    assert [_comparable(r) for r in baseline] == [_comparable(r) for r in other]


def test_a_failing_cell_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqbench.errors import SeqbenchError

    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    bad = Cell("scan", "lstm", "tiny", 0, "test", "cpu")

    def flaky(cell: Cell) -> list[dict]:
        if cell == bad:
            raise RuntimeError("boom")
        return [{"cell": cell.model}]

    done: list[str] = []
    with pytest.raises(SeqbenchError, match="1 of 2 cell.*lstm.*boom"):
        run_cells(
            [bad, CELLS[0]], [], run=flaky, on_done=lambda cell, records: done.append(cell.model)
        )
    assert done == ["gru"]
