"""``bench/run.py --quick``: the table comes out and every rate is positive (no timing checks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import run


def test_quick_run_prints_a_positive_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    rows = run.main(["--quick", "--threads", "1"])
    out = capsys.readouterr().out
    for column in ("benchmark", "seqbench", "reference", "ratio", "unit"):
        assert column in out
    assert "cores" in out and "thread(s)" in out
    names = [row.benchmark for row in rows]
    for expected in ("train transformer", "train gru-attn", "decode beam 1", "decode beam 4"):
        assert expected in names
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
    assert "known: train, decode, prepare, simulator" in capsys.readouterr().err
