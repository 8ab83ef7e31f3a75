"""Mixed-precision training: the ``precision`` option, CPU detection and a bf16 run."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from seqbench import paths, train
from seqbench.errors import SeqbenchError
from seqbench.families.runspec import check_options


@pytest.mark.parametrize(
    "flags, native", [({"avx512f", "avx512_bf16"}, True), ({"amx_bf16"}, True), ({"avx2"}, False)]
)
def test_bf16_detection_reads_the_cpu_flags(
    monkeypatch: pytest.MonkeyPatch, flags: set[str], native: bool
) -> None:
    monkeypatch.setattr(train, "cpu_flags", lambda: flags)
    assert train.cpu_has_native_bf16() is native
    assert train.resolve_precision("auto") == ("bf16" if native else "fp32")
    # fp32 and bf16 are what they say whatever the CPU
    assert train.resolve_precision("fp32") == "fp32"
    assert train.resolve_precision("bf16") == "bf16"


@pytest.mark.parametrize("capability, native", [(8, True), (9, True), (7, False), (6, False)])
def test_auto_on_cuda_asks_the_gpu_not_the_cpu(
    monkeypatch: pytest.MonkeyPatch, capability: int, native: bool
) -> None:
    # the CPU's bf16 says nothing about the GPU's: a pre-Ampere GPU only emulates bf16
    monkeypatch.setattr(train, "cpu_flags", lambda: {"amx_bf16"} if not native else {"avx2"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(
        torch.cuda, "get_device_properties", lambda device: type("P", (), {"major": capability})
    )
    monkeypatch.setattr(torch.version, "hip", None)
    cuda = torch.device("cuda")
    assert train.device_has_native_bf16(cuda) is native
    assert train.resolve_precision("auto", cuda) == ("bf16" if native else "fp32")
    assert train.resolve_precision("fp32", cuda) == "fp32"
    # the CPU still answers for itself (and for no device given)
    assert train.resolve_precision("auto") == ("fp32" if native else "bf16")
    assert train.resolve_precision("auto", torch.device("mps")) == "fp32"


def test_auto_without_support_runs_plain_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: False)
    x = torch.ones(2, 2)
    with train.autocast("auto"):
        assert (x @ x).dtype == torch.float32
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: True)
    with train.autocast("auto"):
        assert (x @ x).dtype == torch.bfloat16


def test_precision_option_is_checked() -> None:
    assert check_options({"precision": "bf16"}, "here") == {"precision": "bf16"}
    with pytest.raises(SeqbenchError, match="precision = 'fp16' is not one of fp32, bf16, auto"):
        check_options({"precision": "fp16"}, "here")


def test_bf16_training_runs_with_a_finite_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "tasks"
    shutil.copytree(paths.tasks_dir(), folder)
    spec = yaml.safe_load((folder / "scan.yaml").read_text())
    tiny = spec["presets"]["tiny"]
    tiny["max_train"], tiny["max_eval"] = 96, 10
    tiny["train"].update(precision="bf16", eval_limit=10)
    (folder / "scan.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("SEQBENCH_TASKS", str(folder))
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    from seqbench.stages import train_task

    result = train_task("scan", "transformer", "tiny")
    info = result.checkpoint.info
    assert info["precision"] == "bf16" and info["train_options"]["precision"] == "bf16"
    log = (result.checkpoint.directory / "train_log.jsonl").read_text().splitlines()
    losses = [json.loads(line)["train_loss"] for line in log]
    assert losses and all(math.isfinite(loss) and loss > 0 for loss in losses)
