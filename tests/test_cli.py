"""End-to-end CLI runs on the tiny preset, and the one-line errors users see."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqbench.cli.main import cli


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEQBENCH_QUIET", "1")
    return tmp_path


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_every_command_has_help_with_an_example() -> None:
    for command in (
        [],
        ["list"],
        ["prepare"],
        ["train"],
        ["eval"],
        ["export"],
        ["import"],
        ["report"],
        ["run"],
        ["cache", "ls"],
        ["accels", "show"],
        ["accels", "validate"],
    ):
        result = invoke(*command, "--help")
        assert result.exit_code == 0, command
        assert "Example" in result.output, command


def test_unknown_task_is_one_line_with_suggestion(home: Path) -> None:
    result = invoke("prepare", "scna")
    assert result.exit_code == 2
    assert "did you mean 'scan'" in result.output
    assert "Traceback" not in result.output


def test_unknown_model_and_profile(home: Path) -> None:
    result = invoke("train", "scan", "--model", "transfomer", "--preset", "tiny")
    assert result.exit_code == 2 and "did you mean 'transformer'" in result.output
    result = invoke("eval", "--task", "scan", "--model", "gru", "--accel", "pipelayr")
    assert result.exit_code == 2 and "did you mean 'pipelayer'" in result.output


def test_missing_checkpoint_with_no_train(home: Path) -> None:
    result = invoke("eval", "--task", "scan", "--model", "gru", "--preset", "tiny", "--no-train")
    assert result.exit_code == 2
    assert "no checkpoint" in result.output and "seqbench train" in result.output


def test_tiny_end_to_end(home: Path) -> None:
    assert invoke("prepare", "scan", "--preset", "tiny").exit_code == 0
    again = invoke("prepare", "scan", "--preset", "tiny")
    assert "nothing to do" in again.output
    result = invoke("train", "scan", "--model", "transformer", "--preset", "tiny")
    assert result.exit_code == 0, result.output
    result = invoke(
        "eval",
        "--task",
        "scan",
        "--model",
        "transformer",
        "--preset",
        "tiny",
        "--accel",
        "all",
        "--effects-limit",
        "3",
    )
    assert result.exit_code == 0, result.output
    for profile in ("cpu", "pipelayer", "retransformer", "multcim", "ice", "gtx-1080"):
        assert profile in result.output
    records = list((home / "home" / "results").rglob("*.json"))
    assert len(records) == 10
    by_profile = {r["profile"]: r for r in map(json.loads, (p.read_text() for p in records))}
    # Profiles with effects re-score the first 3 examples; the host scores the whole split.
    assert by_profile["pipelayer"]["quality"]["samples"] == 3
    assert by_profile["cpu"]["quality"]["samples"] == by_profile["cpu"]["host"]["samples"] > 3
    # ... and the host scores those 3 too, so the table compares like with like.
    same = by_profile["pipelayer"]["quality_host_same_n"]
    assert same["samples"] == 3 and by_profile["cpu"]["quality_host_same_n"] is None
    assert re.search(r"│ pipelayer\s+│\s+3 │", result.output), result.output
    assert "first 3 of" in result.output
    record = json.loads(records[0].read_text())
    assert "nrefs:1" in record["quality"]["signature"]
    assert record["simulated"]["breakdown"]
    out = home / "boards"
    result = invoke("report", "--out", str(out))
    assert result.exit_code == 0, result.output
    table = (out / "translation.md").read_text()
    assert len(re.findall(r"\| scan:simple \| test \| [0-9,]+ \| transformer \|", table)) == 10
    assert "host, same n" in table and "## Summary" in table


def test_corrupt_checkpoint_is_a_clear_error(home: Path) -> None:
    assert invoke("train", "scan", "--model", "gru", "--preset", "tiny").exit_code == 0
    (weights,) = (home / "home" / "runs").rglob("model.safetensors")
    weights.write_bytes(b"\x00\x01 not safetensors")
    result = invoke("eval", "--task", "scan", "--model", "gru", "--preset", "tiny", "--no-train")
    assert result.exit_code == 2
    assert "unreadable" in result.output or "damaged" in result.output
    assert "--force" in result.output


def test_suites_name_the_tasks_run_takes_by_default() -> None:
    from seqbench.suites import load_suite

    full = load_suite("full")
    assert {"sort-of-clevr", "shapes-captions", "scan:length"} <= set(full.tasks)
    assert not full.effects_limit  # issue 18: effects profiles score whole test splits
    quick = load_suite("quick")
    assert quick.tasks == ("scan",)
    assert quick.effects_limit == {"translation": 300}  # the 5-minute demo samples


def test_unknown_suite_is_one_line(home: Path) -> None:
    result = invoke("run", "--preset", "tiny")
    assert result.exit_code == 2
    assert "no suite 'tiny'" in result.output and "--task" in result.output


def test_malformed_suite_limit_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqbench.errors import SeqbenchError
    from seqbench.suites import load_suite

    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "odd.yaml").write_text(
        "tasks: [scan]\neffects_limit: {translation: lots}\n"
    )
    monkeypatch.setenv("SEQBENCH_TASKS", str(tmp_path))
    with pytest.raises(SeqbenchError, match="positive count"):
        load_suite("odd")
