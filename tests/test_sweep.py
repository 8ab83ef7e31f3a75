"""`seqbench sweep`: --set parsing and validation, derived profiles, resume, a killed worker's
cell retried once and recorded once, and Ray cells equal to in-process ones."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from seqbench.accel import functional
from seqbench.accel.profile import load_named
from seqbench.errors import SeqbenchError
from seqbench.sweep import driver, grid, summary
from seqbench.sweep.cells import SweepCell


@pytest.fixture(scope="module")
def base():
    return load_named("retransformer")


def test_sets_parse_into_a_grid(base) -> None:
    axes = grid.parse_sets(["adc.bits=4,6,8", "crossbar.rows = 64,128"], base)
    assert [(a.path, a.values) for a in axes] == [
        ("adc.bits", (4, 6, 8)),
        ("crossbar.rows", (64, 128)),
    ]
    assert len(grid.points(axes)) == 6
    assert grid.points(axes)[1] == {"adc.bits": 4, "crossbar.rows": 128}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("adc.bit=4", "unknown parameter 'adc.bit'; did you mean 'adc.bits'"),
        ("adc.bits=0", "adc.bits is 0 bits.*bit width must be >= 1"),
        ("adc.energy=-1", "adc.energy is negative.*non-negative"),
        ("crossbar.rows=100000000", "larger than a tile.*allowed: crossbar.rows x"),
        ("adc.bits", "is not PARAMETER=V1,V2"),
        ("adc.bits=4,,8", "empty value"),
        ("adc.bits=four", "'four' is not a number"),
        ("chip.clock=0", "chip.clock is 0 GHz.*must be > 0"),
    ],
)
def test_bad_sets_fail_in_one_line_naming_the_parameter(base, item: str, message: str) -> None:
    with pytest.raises(SeqbenchError, match=message) as info:
        grid.parse_sets([item], base)
    assert "\n" not in str(info.value)


def test_a_parameter_given_twice_or_none_is_refused(base) -> None:
    with pytest.raises(SeqbenchError, match="given twice"):
        grid.parse_sets(["adc.bits=4", "adc.bits=6"], base)
    with pytest.raises(SeqbenchError, match="at least one --set"):
        grid.parse_sets([], base)


def test_derived_profiles_change_the_hash_and_keep_the_chip_area(base) -> None:
    same = grid.derive(base, {"adc.bits": 8})
    other = grid.derive(base, {"adc.bits": 6})
    assert base.hash != same.hash != other.hash
    assert other.params["adc.bits"].raw == 6 and base.params["adc.bits"].raw == 8
    big = grid.derive(base, {"crossbar.rows": 256})
    assert big.params["chip.arrays_per_tile"].raw == 48  # twice the rows, half the arrays
    pinned = grid.derive(base, {"crossbar.rows": 256, "chip.arrays_per_tile": 96})
    assert pinned.params["chip.arrays_per_tile"].raw == 96


def test_functional_and_noise_parameters_are_found_from_the_effects(base) -> None:
    read = functional.functional_paths(base)
    assert {"adc.bits", "crossbar.rows", "nonideal.conductance_sigma"} <= read
    assert "adc.energy" not in read and "chip.peak_power" not in read
    assert not functional.is_noisy(base)
    assert functional.is_noisy(grid.derive(base, {"nonideal.conductance_sigma": 0.05}))


def test_noisy_points_get_repeats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    sweep = driver.plan(
        "scan",
        "transformer",
        "retransformer",
        ["nonideal.conductance_sigma=0,0.05", "adc.energy=1,2"],
        preset="tiny",
        repeats=3,
    )
    assert len(sweep.cells) == 2 * 1 + 2 * 3
    assert len({c.cell_id() for c in sweep.cells}) == len(sweep.cells)
    assert {c.noise_seed for c in sweep.cells} == {0, 1000, 2000}
    # adc.energy is cost-only: the second cell of each functional signature comes last
    firsts = sweep.cells[: len(sweep.cells) // 2]
    assert {dict(c.overrides)["adc.energy"] for c in firsts} == {1}


def test_pareto_front_and_quality_floor() -> None:
    def point(q: float, e: float) -> summary.Point:
        return summary.Point({"x": e}, [q], e, 1.0, 1.0, "h", True, 0)

    a, b, c, d = point(90, 3), point(80, 1), point(70, 2), point(95, 5)
    assert summary.pareto([a, b, c, d]) == [b, a, d]
    floor = summary.parse_floor("0.9x", 100.0)
    assert floor == pytest.approx(90.0)
    best = dict(summary.best_points([a, b, c, d], floor))
    assert best["lowest energy with quality >= 90"] is a
    with pytest.raises(SeqbenchError, match="--min-quality"):
        summary.parse_floor("most", 1.0)


# --- executing cells (a fake cell runner where the test is about the driver) ---------------


def _fake(cell: SweepCell) -> dict:
    return {
        "sweep": {"cell_id": cell.cell_id(), "overrides": dict(cell.overrides)},
        "pid": os.getpid(),
    }


class Interrupt(BaseException):
    pass


def test_an_interrupted_sweep_resumes_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    sweep = driver.plan("scan", "transformer", "retransformer", ["adc.bits=4,6,8"], preset="tiny")
    seen: list[str] = []

    def stop_at_the_second(cell: SweepCell) -> dict:
        if len(seen) == 1:
            raise Interrupt  # like Ctrl-C: not a cell failure
        seen.append(cell.cell_id())
        return _fake(cell)

    with pytest.raises(Interrupt):
        driver.execute(sweep, run=stop_at_the_second)
    assert len(driver.load_records(sweep)) == 1
    again: list[str] = []

    def count(cell: SweepCell) -> dict:
        again.append(cell.cell_id())
        return _fake(cell)

    assert driver.execute(sweep, run=count) == 2
    assert seen[0] not in again and len(driver.load_records(sweep)) == 3
    assert driver.execute(sweep, run=count) == 0  # all done: nothing reruns


def _die_once(cell: SweepCell) -> dict:
    """Kills its own worker the first time it sees the 6-bit cell."""
    marker = Path(cell.state) / f"killed-{cell.cell_id()}"
    if dict(cell.overrides)["adc.bits"] == 6 and not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return _fake(cell)


def test_a_killed_workers_cell_is_retried_once_and_recorded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    sweep = driver.plan("scan", "transformer", "retransformer", ["adc.bits=4,6"], preset="tiny")
    assert driver.execute(sweep, executor="processes", jobs=1, run=_die_once) == 2
    files = sorted((sweep.state / "records").glob("*.json"))
    assert len(files) == 2
    killed = next(c for c in sweep.cells if dict(c.overrides)["adc.bits"] == 6)
    record = json.loads(killed.record_path().read_text())
    assert record["sweep"]["attempts"] == 2 and record["sweep"]["cell_id"] == killed.cell_id()


def _die_always(cell: SweepCell) -> dict:
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


def test_a_cell_that_keeps_killing_its_worker_fails_after_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    sweep = driver.plan("scan", "transformer", "retransformer", ["adc.bits=4"], preset="tiny")
    with pytest.raises(SeqbenchError, match="1 of 1 sweep cell"):
        driver.execute(sweep, executor="processes", jobs=1, retries=1, run=_die_always)
    assert not list((sweep.state / "records").glob("*.json"))


# --- real cells: Ray equals in-process --------------------------------------------------------


def _comparable(record: dict) -> tuple:
    return (
        record["sweep"]["cell_id"],
        record["profile_hash"],
        record["quality"]["metrics"],
        record["simulated"]["energy_J_per_unit"],
        record["simulated"]["latency_s_per_sample"],
        record["checkpoint"]["sha256"],
    )


def _sweep_records(name: str, executor: str) -> list[dict]:
    sweep = driver.plan(
        "scan",
        "transformer",
        "retransformer",
        ["adc.bits=4,8"],
        preset="tiny",
        effects_limit=4,
        name=name,
    )
    driver.host_quality(sweep)  # trains the tiny checkpoint (seeded) once, and traces it
    assert driver.execute(sweep, executor=executor, jobs=2) == 2
    return sorted(driver.load_records(sweep), key=lambda r: r["sweep"]["cell_id"])


def test_ray_cells_equal_the_in_process_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray = pytest.importorskip("ray", reason="Ray is the optional [ray] extra")
    monkeypatch.setenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    # One home (one checkpoint and trace), two sweep states: each evaluates its own cells.
    baseline = _sweep_records("inprocess", "inprocess")
    try:
        other = _sweep_records("ray", "ray")
    finally:
        ray.shutdown()
    assert [_comparable(r) for r in baseline] == [_comparable(r) for r in other]
    assert not any(r["sweep"]["quality_reused"] for r in other)
    assert baseline[0]["profile_hash"] != baseline[1]["profile_hash"]


def test_the_cli_refuses_a_bad_set_in_one_line_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from seqbench.cli.main import cli

    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    monkeypatch.setenv("SEQBENCH_QUIET", "1")
    args = ["sweep", "--task", "scan", "--model", "transformer", "--accel", "retransformer"]
    for bad, message in (
        ("adc.bitz=4,8", "did you mean 'adc.bits'"),
        ("crossbar.rows=0", "crossbar.rows is 0 count"),
        ("adc.bits=4;8", "'4;8' is not a number"),
    ):
        result = CliRunner().invoke(cli, [*args, "--set", bad], catch_exceptions=False)
        assert result.exit_code == 2 and message in result.output, result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "sweeps").exists() and not (tmp_path / "runs").exists()
    result = CliRunner().invoke(cli, ["sweep", "--help"])
    assert result.exit_code == 0 and "Example" in result.output
