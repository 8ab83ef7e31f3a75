"""Retrieval sources: local JSONL/parquet shaped like the hub data, carving, and bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from seqbench.config import SourceSpec, load_task
from seqbench.errors import SeqbenchError
from seqbench.families.base import family_for, split_data
from seqbench.families.retrieval.sources import (
    RetrievalRecord,
    carve,
    image_array,
    load_records,
)


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEQBENCH_QUIET", "1")
    return tmp_path


def png(colour: tuple[int, int, int], size: tuple[int, int] = (12, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def write_jsonl_source(folder: Path, rows: list[dict], images: int = 0) -> Path:
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for i in range(images):
        (folder / "img" / f"{i}.png").write_bytes(png((i * 20 % 256, 0, 0)))
    path = folder / "captions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def jsonl_rows(n: int) -> list[dict]:
    return [{"image": f"img/{i}.png", "captions": [f"photo {i}", f"picture {i}"]} for i in range(n)]


def test_local_jsonl_is_carved_into_disjoint_seeded_splits(tmp_path: Path) -> None:
    path = write_jsonl_source(tmp_path, jsonl_rows(12), images=12)
    sizes = {"test": 3, "dev": 2, "train": None}
    splits = load_records(SourceSpec(local=str(path)), sizes, seed=0)
    assert {k: len(v) for k, v in splits.items()} == {"test": 3, "dev": 2, "train": 7}
    ids = [r.image_id for v in splits.values() for r in v]
    assert len(set(ids)) == 12, "every image in exactly one split"
    again = load_records(SourceSpec(local=str(path)), sizes, seed=0)
    assert [r.image_id for r in again["test"]] == [r.image_id for r in splits["test"]]
    record = splits["train"][0]
    number = record.image_id.removeprefix("img/").removesuffix(".png")  # ids are the paths
    assert record.captions == (f"photo {number}", f"picture {number}")
    # A 12x8 image is centre-cropped to 8x8, then resized.
    assert image_array(record, 16).shape == (16, 16, 3)


def test_carve_takes_test_from_its_own_pool_and_removes_its_ids_elsewhere() -> None:
    def records(ids: list[str]) -> list[RetrievalRecord]:
        return [RetrievalRecord(i, ("c",), lambda: b"") for i in ids]

    pools = {"all": records([f"x{i}" for i in range(10)]), "karpathy": records(["x1", "x2"])}
    mapping = {"test": "karpathy", "dev": "all", "train": "all"}
    out = carve(pools, mapping, {"test": None, "dev": 3, "train": None}, seed=1)
    assert [r.image_id for r in out["test"]] == ["x1", "x2"]
    assert len(out["dev"]) == 3 and len(out["train"]) == 5
    assert not {"x1", "x2"} & {r.image_id for r in out["dev"] + out["train"]}
    with pytest.raises(SeqbenchError, match="has no size"):
        carve(pools, mapping, {"test": None, "dev": None, "train": None}, seed=1)


def test_image_that_fails_to_decode_is_a_one_line_error(home: Path) -> None:
    path = write_jsonl_source(home / "src", jsonl_rows(40), images=40)
    (home / "src" / "img" / "7.png").write_bytes(b"this is not an image")
    spec, _ = load_task("flickr30k")
    with pytest.raises(SeqbenchError, match="'img/7.png'") as err:
        family_for(spec).prepare(spec, None, "tiny", source_override=f"local:{path}")
    assert "replace it" in str(err.value)


def test_empty_caption_list_is_a_clear_error(tmp_path: Path) -> None:
    rows = jsonl_rows(4)
    rows[2]["captions"] = []
    path = write_jsonl_source(tmp_path, rows, images=4)
    with pytest.raises(SeqbenchError, match="'img/2.png' .* empty caption list"):
        load_records(SourceSpec(local=str(path)), {"test": 1, "dev": 1, "train": None}, seed=0)


def test_duplicate_image_ids_are_a_clear_error(tmp_path: Path) -> None:
    rows = [{**r, "id": "same" if i in (1, 3) else str(i)} for i, r in enumerate(jsonl_rows(5))]
    path = write_jsonl_source(tmp_path, rows, images=5)
    with pytest.raises(SeqbenchError, match="'same' appears twice"):
        load_records(SourceSpec(local=str(path)), {"test": None}, seed=0)


def test_flickr_shaped_parquet_prepares_like_the_hub_data(home: Path) -> None:
    # lmms-lab/flickr30k columns: image {bytes, path}, caption [5], sentids, img_id, filename.
    n = 40
    table = pa.table(
        {
            "image": [{"bytes": png((i, 100, 200)), "path": f"{i}.jpg"} for i in range(n)],
            "caption": [[f"a dog number {i} runs", f"dog {i}", "a", "b", "c"] for i in range(n)],
            "sentids": [[str(5 * i + j) for j in range(5)] for i in range(n)],
            "img_id": [str(i) for i in range(n)],
            "filename": [f"{1000 + i}.jpg" for i in range(n)],
        }
    )
    path = home / "flickr.parquet"
    pq.write_table(table, path)
    spec, _ = load_task("flickr30k")
    prepared, cached = family_for(spec).prepare(spec, None, "tiny", source_override=f"local:{path}")
    assert not cached
    sizes = {k: v["size"] for k, v in prepared.manifest["splits"].items()}
    assert sizes == {"test": 16, "dev": 16, "train": 8}
    assert prepared.manifest["splits"]["test"]["captions"] == 16 * 5

    test = split_data(prepared, "test")
    assert all(i.endswith(".jpg") for i in test.image_ids)  # ids from `filename`
    assert test.images.shape == (16, 32, 32, 3)


def test_coco_shaped_captions_with_a_local_image_folder(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # yerevann/coco-karpathy columns: filepath, filename, sentences, cocoid, split.
    root = home / "coco"
    (root / "val2014").mkdir(parents=True)
    splits = ["train"] * 6 + ["restval"] * 2 + ["val"] * 2 + ["test"] * 2
    rows = []
    for i, split in enumerate(splits):
        name = f"COCO_val2014_{i:012d}.jpg"
        Image.new("RGB", (20, 10), (0, i * 10, 0)).save(root / "val2014" / name, format="JPEG")
        sentences = [f"a cat {i}", f"cat {i}", "x", "y", "z", "extra sixth caption"]
        rows.append(
            {
                "filepath": "val2014",
                "filename": name,
                "sentences": sentences,
                "cocoid": 100 + i,
                "split": split,
            }
        )
    captions = home / "karpathy.parquet"
    pq.write_table(pa.Table.from_pylist(rows), captions)
    spec, _ = load_task("coco-karpathy")
    family = family_for(spec)
    monkeypatch.delenv("COCO_ROOT", raising=False)
    with pytest.raises(SeqbenchError, match="unset variable"):
        family.prepare(spec, None, "tiny", source_override=f"local:{captions}")
    monkeypatch.setenv("COCO_ROOT", str(root))
    prepared, _ = family.prepare(spec, None, "tiny", source_override=f"local:{captions}")
    assert {k: v["size"] for k, v in prepared.manifest["splits"].items()} == {
        "test": 2,
        "dev": 2,
        "train": 6,
    }
    assert prepared.manifest["captions_per_image"] == 5  # the 5K protocol keeps 5 captions

    assert split_data(prepared, "dev").image_ids == ["108", "109"]  # cocoid, the `val` rows


def test_hub_source_offline_fails_fast_and_clearly(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    spec, _ = load_task("flickr30k")
    with pytest.raises(SeqbenchError) as err:
        family_for(spec).prepare(spec, None, "tiny")
    message = str(err.value)
    assert "cannot fetch" in message and "--source local:" in message
    assert "\n" not in message


def test_missing_local_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SeqbenchError, match="no such file"):
        load_records(SourceSpec(local=str(tmp_path / "nope.jsonl")), {"test": 1}, seed=0)
    assert not (tmp_path / "nope.jsonl").exists()  # nothing was created in its place


def test_a_test_split_from_its_own_pool_is_read_whole_whatever_its_size() -> None:
    def records(ids: list[str]) -> list[RetrievalRecord]:
        return [RetrievalRecord(i, ("c",), lambda: b"") for i in ids]

    pools = {"train": records([f"t{i}" for i in range(6)]), "test": records(["a", "b", "c"])}
    mapping = {"test": "test", "dev": "train", "train": "train"}
    out = carve(pools, mapping, {"test": 2, "dev": 2, "train": 3}, seed=0)
    assert [r.image_id for r in out["test"]] == ["a", "b", "c"]  # never capped
    assert len(out["dev"]) == 2 and len(out["train"]) == 3  # train and dev are
