"""Parallel-text sources: every local reader, the hub loader on hub-shaped folders, bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqbench.config import SourceSpec
from seqbench.data import hub
from seqbench.data.splits import split_of
from seqbench.errors import SeqbenchError
from seqbench.families.base import family_named
from seqbench.families.translation import files as sources
from seqbench.families.translation.sources import assemble, cap, load_hub

DE = ["ein Hund", "eine Katze", "zwei Vögel", "ein Haus", "der Baum"]
EN = ["a dog", "a cat", "two birds", "a house", "the tree"]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def _one_line_error(err: pytest.ExceptionInfo[SeqbenchError]) -> str:
    text = str(err.value)
    assert "\n" not in text and err.value.fix
    return text


@pytest.fixture
def multi30k_folder(tmp_path: Path) -> Path:
    """Shaped like bentrevett/multi30k: jsonl split files with flat fields en, de."""
    folder = tmp_path / "multi30k"
    folder.mkdir()
    for split, n in (("train", 12), ("validation", 3), ("test", 4)):
        rows = [{"en": f"{EN[i % 5]} {i}", "de": f"{DE[i % 5]} {i}"} for i in range(n)]
        _write_jsonl(folder / f"{split}.jsonl", rows)
    return folder


@pytest.fixture
def wmt14_folder(tmp_path: Path) -> Path:
    """Shaped like wmt/wmt14 de-en: parquet shards with nested translation {de, en}."""
    folder = tmp_path / "wmt14" / "de-en"
    folder.mkdir(parents=True)
    for split, n in (("train", 10), ("validation", 3), ("test", 3)):
        rows = [
            {"translation": {"de": f"{DE[i % 5]} {i}", "en": f"{EN[i % 5]} {i}"}} for i in range(n)
        ]
        pq.write_table(pa.Table.from_pylist(rows), folder / f"{split}-00000-of-00001.parquet")
    return folder.parent


# --- local readers ------------------------------------------------------------------------


def test_tsv_ignores_extra_columns_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "fra.txt"
    path.write_text("Go.\tVa !\tCC-BY 2.0 (France) #2877272\n\nHi.\tSalut !\tCC-BY\n", "utf-8")
    assert sources.read_local(str(path)) == {"all": [("Go.", "Va !"), ("Hi.", "Salut !")]}


def test_moses_pair_and_prefix(tmp_path: Path) -> None:
    (tmp_path / "corpus.de").write_text("\n".join(DE) + "\n", "utf-8")
    (tmp_path / "corpus.en").write_text("\n".join(EN) + "\n", "utf-8")
    expected = {"all": list(zip(DE, EN, strict=True))}
    joined = f"{tmp_path / 'corpus.de'}+{tmp_path / 'corpus.en'}"
    assert sources.read_local(joined) == expected
    prefix = str(tmp_path / "corpus")
    assert sources.read_local(prefix, fields={"src": "de", "tgt": "en"}) == expected


def test_moses_folder(tmp_path: Path) -> None:
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.de").write_text("\n".join(DE), "utf-8")
        (tmp_path / f"{split}.en").write_text("\n".join(EN), "utf-8")
    located = sources.locate(str(tmp_path), None, sources.Fields("de", "en"))
    assert located.format == "moses" and set(located.splits) == {"train", "dev", "test"}
    data = sources.read_located(located, sources.Fields("de", "en"))
    assert data["dev"][0] == ("ein Hund", "a dog")


@pytest.mark.parametrize(
    ("row", "fields"),
    [
        ({"de": "ein Hund", "en": "a dog"}, {"src": "de", "tgt": "en"}),
        (
            {"translation": {"de": "ein Hund", "en": "a dog"}},
            {"src": "translation.de", "tgt": "translation.en"},
        ),
    ],
)
def test_jsonl_and_parquet_flat_and_nested(tmp_path: Path, row: dict, fields: dict) -> None:
    _write_jsonl(tmp_path / "data.jsonl", [row, row])
    pq.write_table(pa.Table.from_pylist([row, row]), tmp_path / "data.parquet")
    for name in ("data.jsonl", "data.parquet"):
        pairs = sources.read_local(str(tmp_path / name), fields=fields)
        assert pairs == {"all": [("ein Hund", "a dog")] * 2}


def test_scan_in_out_file_and_folder(tmp_path: Path) -> None:
    (tmp_path / "tasks_train_simple.txt").write_text(
        "IN: jump twice OUT: I_JUMP I_JUMP\nIN: walk OUT: I_WALK\n", "utf-8"
    )
    (tmp_path / "tasks_test_simple.txt").write_text("IN: run OUT: I_RUN\n", "utf-8")
    one = sources.read_local(str(tmp_path / "tasks_train_simple.txt"))
    assert one == {"all": [("jump twice", "I_JUMP I_JUMP"), ("walk", "I_WALK")]}
    both = sources.read_local(str(tmp_path))
    assert both == {"train": one["all"], "test": [("run", "I_RUN")]}


def test_folder_with_split_files_and_format_override(tmp_path: Path) -> None:
    for split in ("train", "validation", "test"):
        (tmp_path / f"{split}.tsv").write_text("a\tb\nc\td\n", "utf-8")
    assert set(sources.read_local(str(tmp_path))) == {"train", "dev", "test"}
    weird = tmp_path / "pairs.data"
    weird.write_text("x\ty\n", "utf-8")
    assert sources.read_local(f"{weird}", fmt="tsv") == {"all": [("x", "y")]}
    parsed = SourceSpec.from_cli(f"local:{weird}::tsv")
    assert (parsed.local, parsed.format) == (str(weird), "tsv")


def test_split_names_from_file_names() -> None:
    assert split_of("tasks_test_length.txt") == "test"
    assert split_of("train-00000-of-00002.parquet") == "train"
    assert split_of("valid.jsonl") == "dev"
    assert split_of("README.md") is None


# --- bad input ----------------------------------------------------------------------------


def test_malformed_tsv_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("a\tb\nc\td\nno tab here\n", "utf-8")
    with pytest.raises(SeqbenchError) as err:
        sources.read_local(str(path))
    assert "bad.tsv line 3" in _one_line_error(err)


@pytest.mark.parametrize("name", ["empty.tsv", "empty.jsonl", "empty.txt"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("\n" if name != "empty.txt" else "", "utf-8")
    with pytest.raises(SeqbenchError) as err:
        sources.read_local(str(path), fmt="scan" if name == "empty.txt" else None)
    assert "empty" in _one_line_error(err)


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(SeqbenchError) as err:
        sources.read_local(str(tmp_path / "nope.tsv"))
    assert "no such file" in _one_line_error(err)
    odd = tmp_path / "data.xyz"
    odd.write_text("hello\n", "utf-8")
    with pytest.raises(SeqbenchError) as err:
        sources.read_local(str(odd))
    assert "cannot tell the format" in _one_line_error(err)
    with pytest.raises(SeqbenchError) as err:
        sources.read_local(str(odd), fmt="xlsx")
    assert "unknown format 'xlsx'" in _one_line_error(err)


def test_other_bad_inputs(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"de": "x"}\n', "utf-8")
    with pytest.raises(SeqbenchError) as err:
        sources.read_local(str(tmp_path / "a.jsonl"), fields={"src": "de", "tgt": "en"})
    assert "line 1: no field 'en'" in _one_line_error(err)
    (tmp_path / "b.jsonl").write_text("{not json\n", "utf-8")
    with pytest.raises(SeqbenchError, match="line 1: not JSON"):
        sources.read_local(str(tmp_path / "b.jsonl"))
    (tmp_path / "c.de").write_text("x\ny\n", "utf-8")
    (tmp_path / "c.en").write_text("x\n", "utf-8")
    with pytest.raises(SeqbenchError, match="has 2 lines but"):
        sources.read_local(f"{tmp_path / 'c.de'}+{tmp_path / 'c.en'}")
    (tmp_path / "d.txt").write_text("IN: walk OUT: I_WALK\nIN: run\n", "utf-8")
    with pytest.raises(SeqbenchError, match="d.txt line 2"):
        sources.read_local(str(tmp_path / "d.txt"))
    with pytest.raises(SeqbenchError, match="no train/valid/test files"):
        sources.read_local(str(tmp_path / "a.jsonl").replace("a.jsonl", ""))


# --- hub loader (datasets.load_dataset) on hub-shaped local folders -----------------------


def test_hub_loader_on_jsonl_folder(multi30k_folder: Path) -> None:
    data = load_hub(str(multi30k_folder), None, {"src": "de", "tgt": "en"})
    assert {k: len(v) for k, v in data.items()} == {"train": 12, "dev": 3, "test": 4}
    assert data["train"][0] == ("ein Hund 0", "a dog 0")


def test_hub_loader_on_nested_parquet_folder(wmt14_folder: Path) -> None:
    fields = {"src": "translation.de", "tgt": "translation.en"}
    data = load_hub(str(wmt14_folder), None, fields, limits={"train": 4})
    assert {k: len(v) for k, v in data.items()} == {"train": 4, "dev": 3, "test": 3}
    assert data["test"][1] == ("eine Katze 1", "a cat 1")


def test_hub_loader_without_dev_split_and_with_bad_field(multi30k_folder: Path) -> None:
    (multi30k_folder / "validation.jsonl").unlink()
    data = load_hub(str(multi30k_folder), None, {"src": "de", "tgt": "en"})
    assert set(data) == {"train", "test"}
    with pytest.raises(SeqbenchError, match="no field 'fr'"):
        load_hub(str(multi30k_folder), None, {"src": "de", "tgt": "fr"})


def test_hub_offline_fails_fast_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.hub_reachable() is False
    started = time.perf_counter()
    with pytest.raises(SeqbenchError) as err:
        load_hub("seqbench-tests/not-a-real-dataset", "de-en", {"src": "de", "tgt": "en"})
    assert time.perf_counter() - started < 10
    text = _one_line_error(err)
    assert "seqbench-tests/not-a-real-dataset" in text and "--source local:" in text


def test_hub_probe_times_out_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # discard port: refused at once
    started = time.perf_counter()
    assert hub.hub_reachable(timeout=1.0) is False
    assert time.perf_counter() - started < 3


# --- assembling splits --------------------------------------------------------------------


def test_single_file_is_split_90_5_5_and_dev_is_carved() -> None:
    pairs = [(f"s{i}", f"t{i}") for i in range(200)]
    splits, note = assemble({"all": pairs}, seed=0)
    assert {k: len(v) for k, v in splits.items()} == {"train": 180, "dev": 10, "test": 10}
    assert sorted(sum(splits.values(), [])) == sorted(pairs)
    assert assemble({"all": pairs}, seed=0)[0] == splits
    splits, note = assemble({"train": pairs, "test": pairs[:5]}, seed=0)
    carved = note["carved_dev"]
    assert carved == {"official_train": 200, "train": 190, "dev": 10}
    assert len(cap(pairs, 7, seed=1)) == 7 and cap(pairs, None, seed=1) == pairs


def test_source_override_keeps_field_mapping() -> None:
    spec_source = SourceSpec(hub="bentrevett/multi30k", fields={"src": "de", "tgt": "en"})
    source = family_named("translation").effective_source(spec_source, "local:/data/m30k")
    assert (source.kind, source.local, source.fields) == ("local", "/data/m30k", spec_source.fields)
