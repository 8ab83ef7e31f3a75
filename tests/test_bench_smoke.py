"""``bench/run.py --quick``: the table comes out and every rate is positive (no timing checks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import run


def test_quick_run_prints_a_positive_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    # compile: its cold inductor compilation takes minutes on a loaded 2-core machine;
    # tests/test_compile.py checks compiled training itself
    rows = run.main(
        ["--quick", "--threads", "1", "--only", "train,decode,effects,prepare,simulator"]
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


def test_unknown_benchmark_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run.main(["--only", "trian"])
    assert "known: train, compile, decode, effects, prepare, simulator" in capsys.readouterr().err
