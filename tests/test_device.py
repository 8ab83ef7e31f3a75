"""``--device``: auto picks the CPU here, an absent device is refused in one line, and a run on
``--device cpu`` is the same run (identity, weights, record quality) as one without the flag."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from click.testing import CliRunner

from seqbench import device as sb_device
from seqbench.cli.main import cli
from seqbench.errors import SeqbenchError


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_auto_is_cuda_when_present_else_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert sb_device.resolve_device("auto") == torch.device("cpu")
    assert sb_device.resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert sb_device.resolve_device("auto") == torch.device("cuda")


def test_absent_cuda_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sb_device.AVAILABLE, "cuda", lambda: False)
    with pytest.raises(SeqbenchError, match="sees no CUDA device") as err:
        sb_device.resolve_device("cuda")
    assert "--device auto" in str(err.value)
    with pytest.raises(SeqbenchError, match="unknown device 'tpu'"):
        sb_device.resolve_device("tpu")


@pytest.mark.parametrize(
    "command",
    [
        "train scan --model gru --preset tiny",
        "eval --task scan --model gru --preset tiny",
        "run --preset tiny --task scan",
        "sweep --task scan --model gru --accel retransformer --set adc.bits=4",
    ],
)
def test_cli_refuses_absent_cuda_in_one_line(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(sb_device.AVAILABLE, "cuda", lambda: False)
    result = invoke(*command.split(), "--device", "cuda")
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "sees no CUDA device" in lines[0], result.output
    assert "Traceback" not in result.output
    assert not list((tmp_path / "home").rglob("*.safetensors"))  # refused before any work


@dataclass
class _Pair:
    a: torch.Tensor
    label: str


class _Named(NamedTuple):
    x: torch.Tensor
    n: int


def test_to_device_moves_every_tensor_of_a_batch() -> None:
    batch = {
        "pair": _Pair(torch.ones(2), "keep"),
        "named": _Named(torch.zeros(1), 3),
        "list": [torch.ones(1), 4.0],
    }
    moved = sb_device.to_device(batch, torch.device("meta"))
    assert moved["pair"].a.is_meta and moved["pair"].label == "keep"
    assert moved["named"].x.is_meta and moved["named"].n == 3
    assert moved["list"][0].is_meta and moved["list"][1] == 4.0


def _train_and_eval(home: Path, monkeypatch: pytest.MonkeyPatch, *flags: str) -> dict:
    monkeypatch.setenv("SEQBENCH_HOME", str(home))
    common = ["--preset", "tiny", *flags]
    assert invoke("train", "scan", "--model", "gru", *common).exit_code == 0
    result = invoke("eval", "--task", "scan", "--model", "gru", "--no-train", *common)
    assert result.exit_code == 0, result.output
    (path,) = (home / "results").rglob("*.json")
    return json.loads(path.read_text())


def test_device_cpu_is_the_same_run_as_no_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _train_and_eval(tmp_path / "plain", monkeypatch)
    cpu = _train_and_eval(tmp_path / "cpu", monkeypatch, "--device", "cpu")
    for key in ("sha256", "identity"):
        assert plain["checkpoint"][key] == cpu["checkpoint"][key]
    assert plain["quality"] == cpu["quality"]
    assert plain["host"]["device"] == cpu["host"]["device"] == "cpu"
    assert plain["checkpoint"]["train_device"] == cpu["checkpoint"]["train_device"] == "cpu"
    info = json.loads((Path(cpu["checkpoint"]["path"]) / "config.json").read_text())
    assert info["device"] == "cpu" and "device" not in json.dumps(info["identity"])
