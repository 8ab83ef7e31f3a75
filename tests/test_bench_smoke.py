"""``bench/run.py --quick``: the table comes out and every rate is positive (no timing checks)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench import device_quality, device_speed, run, train_throughput
from bench.common import Skipped
from seqbench import dropout, stages
from seqbench.families.runspec import DEFAULTS, TrainOptions
from seqbench.families.translation.family import TranslationFamily, make_batch
from seqbench.models import build_model
from tests.test_dropout import TINY_TRANSFORMER
from tests.test_suite_full import _parallel_corpus


def test_quick_run_prints_a_positive_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    # compile: its cold inductor compilation takes minutes on a loaded 2-core machine;
    # tests/test_compile.py checks compiled training itself
    rows = run.main(
        [
            "--quick",
            "--threads",
            "1",
            "--only",
            "train,optimizer,decode,effects,allocator,prepare,simulator",
        ]  # fmt: skip
    )
    out = capsys.readouterr().out
    for column in ("benchmark", "seqbench", "reference", "ratio", "unit"):
        assert column in out
    assert "cores" in out and "thread(s)" in out
    names = [row.benchmark for row in rows]
    for expected in ("train transformer fp32", "train gru-attn fp32", "decode beam 1"):
        assert expected in names
    assert "decode beam 4" in names and "peak matmul fp32" in names
    assert "effects re-score: retransformer" in names
    for row in rows:
        if row.benchmark.startswith("train"):  # FLOPs counted, MFU against the measured peak
            assert row.flops_per_s and row.flops_per_s > 0 and 0 < row.mfu < 1, row
    assert "MFU" in out
    assert any(name.startswith("tokenize") for name in names)
    assert any(name.startswith("generate Sort-of-CLEVR") for name in names)
    assert sum(name.startswith("simulate:") for name in names) >= 2
    for row in rows:
        assert row.seqbench > 0, row
        assert row.reference is None or row.reference > 0, row
    decode_notes = [row.note for row in rows if row.benchmark.startswith("decode")]
    assert all("outputs identical: yes" in note for note in decode_notes)
    optimizer_notes = [row.note for row in rows if row.benchmark.startswith("optimizer")]
    assert optimizer_notes and all(
        n.endswith("bit-identical after 3 steps: yes") for n in optimizer_notes
    )
    allocator_notes = [row.note for row in rows if row.benchmark.startswith("allocator: rn")]
    assert allocator_notes and all("last losses bitwise-equal" in n for n in allocator_notes)


def test_unknown_benchmark_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run.main(["--only", "trian"])
    assert (
        "known: train, train-multi30k, optimizer, compile, compile-multi30k, device, decode,"
        " effects, allocator, prepare, simulator" in capsys.readouterr().err
    )


def test_multi30k_rows_say_how_to_bind_its_source_and_never_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    with pytest.raises(Skipped, match="seqbench prepare multi30k .*--source local:FOLDER"):
        train_throughput.measure(train_throughput.MULTI30K)
    assert run.main(["--quick", "--only", "train-multi30k,compile-multi30k"]) == []
    out = capsys.readouterr().out
    assert "skipped train-multi30k: not in --quick" in out
    assert "skipped compile-multi30k: not in --quick" in out


def test_multi30k_rows_train_the_bound_corpus_at_its_presets_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    corpus = _parallel_corpus(tmp_path / "m30k")
    stages.prepare_task("multi30k", "tiny", source=f"local:{corpus}")
    settings = dataclasses.replace(
        train_throughput.MULTI30K,
        preset="tiny",
        warmup=1,
        steps=1,
        rounds=1,
        peak_size=64,
        precisions=("fp32",),
        models=("transformer",),
    )
    rows = {row.benchmark: row for row in train_throughput.measure(settings)}
    row = rows["train transformer fp32 (multi30k)"]
    assert row.seqbench > 0 and row.reference and row.reference > 0 and 0 < (row.mfu or 0)
    assert "multi30k tiny, batch 32" in row.note  # the preset's own batch size
    # seqbench's side trains with the run's own options (tiny sets neither)
    assert "FlatAdamW vs torch's default AdamW, dropout masks bernoulli vs torch's" in row.note
    assert "peak matmul fp32 (multi30k)" in rows


def test_device_rows_skip_without_an_accelerator_and_time_the_same_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    monkeypatch.setattr(device_speed, "accelerators", lambda: [])
    assert run.main(["--quick", "--only", "device"]) == []
    assert "skipped device: no CUDA or MPS device here" in capsys.readouterr().out
    # the CPU against itself: the rows a GPU machine prints, through the same code
    settings = dataclasses.replace(device_speed.QUICK, devices=("cpu",), precisions=("fp32",))
    rows = device_speed.measure(settings)
    assert [r.benchmark for r in rows] == [
        "train transformer fp32 on cpu",
        "train gru-attn fp32 on cpu",
    ]
    for row in rows:
        assert row.seqbench > 0 and row.reference and row.reference > 0
        assert "same batches and initial weights" in row.note


def test_device_quality_compares_with_the_cpus_seed_spread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "untouched"))
    scores, spread, verdicts = device_quality.compare(
        "scan:simple", "gru", "tiny", [0, 1], ["cpu"], tmp_path
    )
    assert [(s.device, s.seed) for s in scores] == [("cpu", 0), ("cpu", 1), ("cpu", 0)]
    assert spread == abs(scores[0].value - scores[1].value)
    assert scores[2].value == scores[0].value and verdicts == {"cpu": True}
    assert {p.name for p in tmp_path.iterdir()} == {"cpu-seed0", "cpu-seed1"}  # scratch homes
    monkeypatch.setattr(device_speed, "accelerators", lambda: [])
    assert device_quality.main([]) == 0
    assert "no CUDA or MPS device here" in capsys.readouterr().out
    assert device_quality.main(["--device", "tpu"]) == 2  # refused before any training
    assert "error: unknown device 'tpu'" in capsys.readouterr().out
    # the tight check: the first fp32 steps from the same weights on the same batches
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "cpu-seed0"))
    losses = device_quality.first_losses("scan:simple", "gru", "tiny", "cpu", 3)
    assert len(losses) == 3 and all(loss > 0 for loss in losses)
    assert losses == device_quality.first_losses("scan:simple", "gru", "tiny", "cpu", 3)
    assert device_quality.step_difference(losses, losses) == 0.0
    assert device_quality.step_difference([2.0, 1.0], [2.0, 1.001]) == pytest.approx(1e-3)


def test_seqbench_side_trains_with_the_runs_masks_and_optimizer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[float] = []
    real = dropout.packed_dropout
    monkeypatch.setattr(dropout, "packed_dropout", lambda X, p: calls.append(p) or real(X, p))
    batches = [make_batch([[3, 4, 5]], [[5, 6, 7]])]
    family = TranslationFamily()
    opts = TrainOptions.from_dict({**DEFAULTS, "dropout_masks": "packed", "fused_optimizer": True})
    reference = train_throughput.plain(opts)
    assert reference.dropout_masks == "bernoulli" and not reference.fused_optimizer
    model = build_model("transformer", TINY_TRANSFORMER)
    train_throughput.trainer(model, family, batches, "fp32", reference)()
    assert calls == []  # the reference's way: torch's masks
    model = build_model("transformer", TINY_TRANSFORMER)
    train_throughput.trainer(model, family, batches, "fp32", opts)()
    assert calls and set(calls) == {0.1}
