"""Issue 13: the real-data path, from the published Multi30k files to a report row.

The end-to-end test runs the README's four commands on a small slice of
``../shared/data/multi30k`` (CI has ../shared), written with the published names and gzip.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqbench.cli.main import cli
from seqbench.errors import SeqbenchError
from seqbench.families.translation import files

SHARED_M30K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multi30k"
PUBLISHED = {"train": 300, "val": 40, "test_2016_flickr": 30, "test_2017_flickr": 20}


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEQBENCH_QUIET", "1")
    return tmp_path / "home"


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _write_gz(path: Path, lines: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


@pytest.fixture()
def m30k_slice(tmp_path: Path) -> Path:
    """The first lines of each published file, under the published names."""
    if not SHARED_M30K.is_dir():
        pytest.skip("needs ../shared/data/multi30k (CI has it)")
    folder = tmp_path / "multi30k"
    folder.mkdir()
    for stem, count in PUBLISHED.items():
        for lang in ("de", "en"):
            with gzip.open(SHARED_M30K / f"{stem}.{lang}.gz", "rt", encoding="utf-8") as handle:
                lines = [next(handle).rstrip("\n") for _ in range(count)]
            _write_gz(folder / f"{stem}.{lang}.gz", lines)
    return folder


def test_published_layout_is_read_as_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "m30k"
    folder.mkdir()
    for stem, n in (("train", 6), ("val", 2), ("test_2016_flickr", 3), ("test_2017_flickr", 4)):
        _write_gz(folder / f"{stem}.de.gz", [f"{stem} de {i}" for i in range(n)])
        _write_gz(folder / f"{stem}.en.gz", [f"{stem} en {i}" for i in range(n)])
    fields = files.Fields("de", "en")
    located = files.locate(str(folder), None, fields)
    assert located.format == "moses"
    assert located.names == {"train": "train", "dev": "val", "test": "test_2016_flickr"}
    data = files.read_located(located, fields)
    assert {k: len(v) for k, v in data.items()} == {
        "train": 6,
        "dev": 2,
        "test": 3,
        "test_2017_flickr": 4,
    }
    assert data["test"][2] == ("test_2016_flickr de 2", "test_2016_flickr en 2")


def test_unrecognised_folder_lists_what_it_found_and_the_layouts(tmp_path: Path) -> None:
    (tmp_path / "corpus.de.gz").write_bytes(b"")
    (tmp_path / "notes.md").write_text("x", "utf-8")
    with pytest.raises(SeqbenchError) as err:
        files.locate(str(tmp_path), None, files.Fields("de", "en"))
    text = str(err.value)
    assert "found: corpus.de.gz, notes.md" in text
    assert "test_2016_flickr.de.gz" in text and "Moses" in text and ".jsonl" in text


def test_real_data_path_in_four_commands(home: Path, m30k_slice: Path) -> None:
    """prepare --source once; train, eval and report then use it without being told."""
    result = invoke("prepare", "multi30k", "--preset", "tiny", "--source", f"local:{m30k_slice}")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "train 300" in text and "test 30" in text and "test_2017_flickr 20" in text
    assert "vocabulary: src" in text and "of 500 asked" in text
    user_spec = home / "tasks" / "multi30k.yaml"
    assert user_spec.is_file() and str(m30k_slice) in user_spec.read_text("utf-8")

    assert invoke("train", "multi30k", "--model", "gru", "--preset", "tiny").exit_code == 0
    for split in ("test", "test_2017_flickr"):
        result = invoke(
            "eval", "--task", "multi30k", "--model", "gru", "--preset", "tiny", "--split", split
        )
        assert result.exit_code == 0, result.output
    records = [json.loads(p.read_text()) for p in (home / "results").rglob("*.json")]
    assert sorted((r["split"], r["quality"]["samples"]) for r in records) == [
        ("test", 30),
        ("test_2017_flickr", 20),
    ]
    assert len({r["data_fingerprint"] for r in records}) == 1
    result = invoke("report", "--no-plots", "--format", "md")
    assert result.exit_code == 0, result.output
    table = (home / "leaderboards" / "translation.md").read_text("utf-8")
    assert "| multi30k | test_2017_flickr | 20 | gru | cpu |" in table


def test_an_unreadable_source_is_never_remembered(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("prepare", "multi30k", "--preset", "tiny", "--source", f"local:{empty}")
    assert result.exit_code == 2 and "accepted layouts" in result.output
    assert not (home / "tasks" / "multi30k.yaml").exists()


def test_a_run_after_binding_a_new_source_does_not_skip_on_old_records() -> None:
    from seqbench.stages import of_current_data

    old = {"task": "multi30k", "data_fingerprint": "hub00000"}
    new = {"task": "multi30k", "data_fingerprint": "local000"}
    external = {"task": "multi30k@test_2017_flickr", "data_fingerprint": "ext00000"}
    kept = of_current_data([old, new, external], {"multi30k": "local000"})
    assert kept == [new, external]


def test_prepare_says_how_many_long_train_pairs_the_preset_dropped() -> None:
    from seqbench.cli.main import _dropped_lines

    manifest = {"dropped_long_train_pairs": 1, "data_options": {"max_length": 64}}
    assert _dropped_lines(manifest) == [
        "  train: 1 pair(s) longer than 64 tokens dropped (the preset's max_length)"
    ]
    assert _dropped_lines({"dropped_long_train_pairs": 0}) == []
