"""An edited profile: `seqbench run` redoes that profile's records (and those of profiles
that fall back to it), takes over what the edit cannot change (the host score, the quality
under unchanged effects) and measures the rest; unedited profiles' records stand."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from seqbench import paths, results
from tests.test_runspec import count_evaluations, small_scan


@pytest.fixture()
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copies of the bundled tasks and profiles the test may edit, and an empty home."""
    shutil.copytree(paths.tasks_dir(), tmp_path / "tasks")
    shutil.copytree(paths.accelerators_dir(), tmp_path / "accelerators")
    monkeypatch.setenv("SEQBENCH_TASKS", str(tmp_path / "tasks"))
    monkeypatch.setenv("SEQBENCH_ACCELERATORS", str(tmp_path / "accelerators"))
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEQBENCH_QUIET", "1")
    small_scan(tmp_path / "tasks")
    return tmp_path


def set_value(folder: Path, profile: str, path: str, value: float) -> None:
    """Set ``parameters.<path>.value`` in ``folder/accelerators/<profile>.yaml``."""
    file = folder / "accelerators" / f"{profile}.yaml"
    raw = yaml.safe_load(file.read_text())
    group, name = path.split(".")
    raw["parameters"][group][name]["value"] = value
    file.write_text(yaml.safe_dump(raw, sort_keys=False))


def run(folder: Path) -> list[dict[str, Any]]:
    """`run --preset tiny --task scan --accel cpu,retransformer`; the records it wrote."""
    from seqbench.stages import run_suite

    written: list[dict[str, Any]] = []
    run_suite(
        ["scan"], "tiny", accels="cpu,retransformer", out_dir=folder / "out",
        on_records=written.extend,
    )  # fmt: skip
    return written


def test_a_profile_edit_redoes_only_what_it_changes(
    folders: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = {r["profile"]: r for r in run(folders)}
    assert set(first) == {"cpu", "retransformer"}
    assert first["retransformer"]["effects_rescored"] and first["cpu"]["reused_from"] is None
    assert run(folders) == []  # nothing edited: finished

    # A cost-only parameter (the ADC's energy): re-priced, nothing decoded again.
    calls = count_evaluations(monkeypatch)
    set_value(folders, "retransformer", "adc.energy", 2.0)
    (priced,) = run(folders)
    assert priced["profile"] == "retransformer" and calls == []
    assert priced["quality"] == first["retransformer"]["quality"]
    assert priced["quality_host"] == first["retransformer"]["quality_host"]
    assert set(priced["reused_from"]) == {"host", "effects"}
    assert priced["profile_hash"] != first["retransformer"]["profile_hash"]
    energy = "energy_J_per_unit"
    assert priced["simulated"][energy] != first["retransformer"]["simulated"][energy]
    assert run(folders) == []

    # A functional one (the ADC's resolution): re-scored under effects, the host taken over.
    set_value(folders, "retransformer", "adc.bits", 4)
    (rescored,) = run(folders)
    # one decode of the test split (a 4-bit ADC also calibrates its range on a train batch)
    assert rescored["profile"] == "retransformer" and calls in (["test"], ["train", "test"])
    redone = list(calls)
    assert set(rescored["reused_from"]) == {"host"}
    assert rescored["effects_signature"] != priced["effects_signature"]

    # The fallback profile (host ops of retransformer run on the cpu): both are re-priced,
    # and neither decodes again.
    set_value(folders, "cpu", "processor.static_power", 135)
    both = {r["profile"]: r for r in run(folders)}
    assert set(both) == {"cpu", "retransformer"} and calls == redone
    assert both["retransformer"]["quality"] == rescored["quality"]
    assert run(folders) == []

    # The board shows the newest record of each profile: the edited ones.
    newest = results.newest_per_key(results.load_all())
    shown = {r["profile"]: r["profile_chain_hash"] for r in newest}
    assert shown == {p: both[p]["profile_chain_hash"] for p in ("cpu", "retransformer")}


def test_records_from_before_chain_hashes_count_on_their_own_profile_hash() -> None:
    from seqbench.accel.profile import chain_hash, load_named
    from seqbench.executor import priced_as_now

    retransformer = load_named("retransformer")
    current = {"retransformer": (retransformer.hash, chain_hash(retransformer))}
    old = {"profile": "retransformer", "profile_hash": retransformer.hash}
    assert priced_as_now(old, current)
    assert not priced_as_now({**old, "profile_hash": "0" * 16}, current)
    assert not priced_as_now({**old, "profile_chain_hash": retransformer.hash}, current)
    assert priced_as_now({**old, "profile_chain_hash": chain_hash(retransformer)}, current)
    assert not priced_as_now({**old, "profile": "gone"}, current)


def test_a_host_score_from_another_machine_is_measured_again(
    folders: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wall-clock throughput belongs to the machine that measured it: a record of another CPU
    lends its quality under effects, never its host score."""
    import json

    run(folders)
    for file in (folders / "home" / "results").rglob("*.json"):
        record = json.loads(file.read_text())
        record["host"]["cpu_model"] = "another CPU"
        file.write_text(json.dumps(record))
    calls = count_evaluations(monkeypatch)
    set_value(folders, "retransformer", "adc.energy", 2.0)
    (priced,) = run(folders)
    assert calls == ["test"]  # the host's decode, not the effects'
    assert set(priced["reused_from"]) == {"effects"}
    assert priced["host"]["cpu_model"] != "another CPU"


def test_an_edited_noise_table_counts_as_an_edit_only_where_noise_is_drawn_from_it(
    folders: Path,
) -> None:
    """The table is a file beside the profile, outside its hash: while `noise_scale` > 0 it is
    part of what scores (chain hash, effects signature); at 0 editing it changes nothing."""
    from seqbench.accel import functional
    from seqbench.accel.profile import chain_hash, load_named

    def state() -> tuple[tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]:
        quiet = load_named("retransformer")
        noisy = quiet.derive({"nonideal.noise_scale": 1.0})
        return (
            (chain_hash(quiet), functional.signature(quiet)),
            (chain_hash(noisy), functional.signature(noisy)),
        )

    quiet, noisy = state()
    name = load_named("retransformer").setting("noise_table")
    table = folders / "accelerators" / "noise" / f"{name}.yaml"
    table.write_text(table.read_text() + "\n# edited\n")
    assert state()[0] == quiet
    assert state()[1][0] != noisy[0] and state()[1][1] != noisy[1]
