"""Real VQA sources on small local files shaped like the real data: hub-shaped parquet
(VQAv2), the CLEVR v1.0 folder, generic JSONL + images; broken inputs fail clearly."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from seqbench.config import SourceSpec, load_task
from seqbench.data.images import load_array, open_image
from seqbench.errors import SeqbenchError
from seqbench.families.base import Prepared, family_for, split_data
from seqbench.families.vqa import readers as vqa_readers
from seqbench.families.vqa import sources as vqa_sources

COLOURS = ["red", "green", "blue", "yellow"]


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEQBENCH_QUIET", "1")
    return tmp_path


def png(colour: str, size: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def hub_parquet(path: Path, n_images: int = 30, per_image: int = 3) -> Path:
    """A parquet file with lmms-lab/VQAv2's columns: 10 answers per question as structs."""
    rows = []
    for i in range(n_images):
        colour = COLOURS[i % 4]
        for j in range(per_image):
            humans = [colour.capitalize()] * 7 + ["orange", "Two", "a red"]
            if j == 2:
                humans = ["yes"] * 10
            rows.append(
                {
                    "question": f"what colour is picture {i}?" if j != 2 else "is it a picture?",
                    "answers": [
                        {"answer": a, "answer_confidence": "yes", "answer_id": k + 1}
                        for k, a in enumerate(humans)
                    ],
                    "multiple_choice_answer": humans[0].lower(),
                    "image": {"bytes": png(colour), "path": f"COCO_{i}.jpg"},
                    "image_id": i,
                    "question_id": i * 10 + j,
                    "answer_type": "yes/no" if j == 2 else "other",
                    "question_type": "is it" if j == 2 else "what color is the",
                }
            )
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def clevr_folder(root: Path, n_images: int = 12) -> Path:
    for split in ("train", "val", "test"):
        (root / "images" / split).mkdir(parents=True)
        questions = []
        for i in range(n_images):
            name = f"CLEVR_{split}_{i:06d}.png"
            (root / "images" / split / name).write_bytes(png(COLOURS[i % 4], 48))
            for q, (text, function, answer) in enumerate(
                [
                    ("How many cubes are there?", "count", str(i % 3)),
                    ("Is there a sphere?", "exist", "yes" if i % 2 else "no"),
                    ("What colour is the big thing?", "query_color", COLOURS[i % 4]),
                ]
            ):
                entry = {
                    "image_index": i,
                    "image_filename": name,
                    "question": text,
                    "question_index": i * 3 + q,
                    "program": [{"function": "scene"}, {"function": function}],
                    "split": split,
                }
                if split != "test":  # CLEVR's test questions come without answers
                    entry["answer"] = answer
                questions.append(entry)
        (root / "questions").mkdir(exist_ok=True)
        text = json.dumps({"info": {}, "questions": questions})
        (root / "questions" / f"CLEVR_{split}_questions.json").write_text(text)
    return root


def jsonl_source(folder: Path, lines: list[dict], images: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        (folder / name).write_bytes(data)
    path = folder / "questions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def prepare(task: str, source: str) -> Prepared:
    spec, subset = load_task(task)
    return family_for(spec).prepare(spec, subset, "tiny", source_override=source)[0]


# --- VQAv2-shaped parquet -------------------------------------------------------------------


def test_vqav2_from_local_parquet(home: Path) -> None:
    path = hub_parquet(home / "validation-00000-of-00001.parquet")
    prepared = prepare("vqav2", f"local:{path}")
    splits = prepared.manifest["splits"]
    assert sum(s["size"] for s in splits.values()) == 90
    train, dev, test = (split_data(prepared, s) for s in ("train", "dev", "test"))
    # Carved by image: no image in two splits.
    assert not set(train.image_ids) & set(dev.image_ids) | set(test.image_ids) & set(dev.image_ids)
    assert train.images.shape[1:] == (32, 32, 3)  # resized to the preset's image_size
    # Ten answers kept, normalised at prepare time ("Two" -> "2", articles dropped).
    row = train.question.index(next(q for q in train.question if q.startswith("what")))
    assert len(train.answers[row]) == 10 and {"2", "red"} <= set(train.answers[row])
    assert set(train.qtype) == {"other", "yes/no"}
    assert "yes" in prepared.manifest["answers"]
    # The pixels are the image's: a red picture stays red.
    red = train.image_ids.index("0")
    assert tuple(train.images[red, 5, 5]) == (255, 0, 0)


def test_max_eval_caps_dev_but_never_the_test_split(home: Path) -> None:
    from seqbench.families.base import split_caps

    assert split_caps({"max_train": 5, "max_eval": 7}) == {"train": 5, "dev": 7, "test": None}
    folder = clevr_folder(home / "clevr", n_images=20)
    spec, subset = load_task("clevr")
    family = family_for(spec)
    # the tiny preset caps dev at max_eval questions; CLEVR's val (our test) has 60
    assert spec.preset("tiny")["max_eval"] < 60
    prepared = family.prepare(spec, subset, "tiny", source_override=f"local:{folder}")[0]
    sizes = {name: s["size"] for name, s in prepared.manifest["splits"].items()}
    assert sizes["test"] == 60
    assert sizes["dev"] <= spec.preset("tiny")["max_eval"]


def test_vqav2_scores_ten_human_answers(home: Path) -> None:
    from seqbench.families.vqa.family import score

    path = hub_parquet(home / "val.parquet")
    test = split_data(prepare("vqav2", f"local:{path}"), "test")
    rows = [r for r, q in enumerate(test.question) if q.startswith("what")][:1]
    colour = test.answers[rows[0]][0]
    metrics, _ = score([colour], test, rows)  # 7 of 10 humans -> full credit
    assert metrics["vqa_accuracy"] == 100.0
    metrics, _ = score(["orange"], test, rows)  # 1 of 10 -> 0.3 after averaging
    assert metrics["vqa_accuracy"] == pytest.approx(30.0)
    metrics, _ = score(["two"], test, rows)  # normalised to "2", said by 1 of 10
    assert metrics["vqa_accuracy"] == pytest.approx(30.0)


def test_hub_offline_fails_fast_with_the_local_fix(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqbench.data import hub

    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    spec, subset = load_task("vqav2")
    began = time.perf_counter()
    with pytest.raises(SeqbenchError) as err:
        family_for(spec).prepare(spec, subset, "tiny")
    assert time.perf_counter() - began < 5
    assert "lmms-lab/VQAv2" in err.value.message and "unreachable" in err.value.message
    assert "--source local:PATH" in err.value.fix


# --- CLEVR ---------------------------------------------------------------------------------


def test_clevr_folder(home: Path) -> None:
    root = clevr_folder(home / "CLEVR_v1.0")
    prepared = prepare("clevr", f"local:{root}")
    test = split_data(prepared, "test")
    assert set(test.image_ids) == {f"val/CLEVR_val_{i:06d}.png" for i in range(12)}
    assert set(test.qtype) == {"count", "exist", "query_attribute"}
    assert "query_attribute.query_color" in set(
        f"{t}.{s}" for t, s in zip(test.qtype, test.subtype, strict=True)
    )
    train, dev = split_data(prepared, "train"), split_data(prepared, "dev")
    assert not set(train.image_ids) & set(dev.image_ids)
    assert len(train) + len(dev) == 36
    assert all(len(a) == 1 for a in train.answers)


def test_clevr_type_from_program() -> None:
    question_type = vqa_readers.ClevrReader.question_type
    assert question_type([{"function": "scene"}, {"function": "equal_size"}]) == (
        "compare_attribute",
        "equal_size",
    )
    assert question_type([{"type": "less_than"}]) == ("compare_integer", "less_than")
    assert question_type(None) == ("all", "all")


def test_clevr_missing_folder_is_one_clear_error(home: Path) -> None:
    with pytest.raises(SeqbenchError, match="no such"):
        prepare("clevr", f"local:{home / 'nowhere'}")
    with pytest.raises(SeqbenchError, match="no such CLEVR folder"):
        prepare("clevr", f"local:{home / 'nowhere'}::clevr")
    (home / "empty" / "questions").mkdir(parents=True)
    with pytest.raises(SeqbenchError, match="not a CLEVR folder"):
        prepare("clevr", f"local:{home / 'empty'}")


# --- generic JSONL + image folder, and broken inputs ---------------------------------------


def generic_lines(n: int = 20) -> list[dict]:
    return [
        {"image": f"img{i % 10}.png", "question": f"what colour is image {i % 10}?",
         "answers": [COLOURS[i % 4]], "type": "colour"}
        for i in range(n)
    ]  # fmt: skip


def generic_images() -> dict[str, bytes]:
    return {f"img{i}.png": png(COLOURS[i % 4]) for i in range(10)}


def test_generic_jsonl(home: Path) -> None:
    path = jsonl_source(home / "data", generic_lines(), generic_images())
    prepared = prepare("vqav2", f"local:{path}")
    assert sum(s["size"] for s in prepared.manifest["splits"].values()) == 20
    train = split_data(prepared, "train")
    assert set(train.qtype) == {"colour"}


def test_jsonl_split_field_selects_splits(home: Path) -> None:
    lines = generic_lines(30)
    for i, line in enumerate(lines):
        line["split"] = "test" if i >= 24 else "train"
    path = jsonl_source(home / "data", lines, generic_images())
    reader = vqa_readers.open_reader(SourceSpec(local=str(path)))
    assert reader.splits() == ["test", "train"]
    plan = vqa_sources.plan_splits(reader)
    assert plan.source_of == {"train": "train", "dev": "train", "test": "test"}
    assert set(plan.shares) == {"dev"}


def test_missing_image_file_names_the_file(home: Path) -> None:
    images = generic_images()
    del images["img3.png"]
    path = jsonl_source(home / "data", generic_lines(), images)
    with pytest.raises(SeqbenchError) as err:
        prepare("vqav2", f"local:{path}")
    assert "img3.png" in err.value.message and "not found" in err.value.message
    assert err.value.fix


def test_truncated_image_is_a_clear_error(home: Path) -> None:
    images = generic_images()
    whole = png("red", 200)
    images["img5.png"] = whole[: len(whole) // 2]
    path = jsonl_source(home / "data", generic_lines(), images)
    with pytest.raises(SeqbenchError, match=r"img5\.png.*(truncated|cannot read)"):
        prepare("vqav2", f"local:{path}")


def test_unreadable_image_bytes() -> None:
    with pytest.raises(SeqbenchError, match="cannot read image"):
        open_image(b"this is not an image", where="q7 image")
    with pytest.raises(SeqbenchError, match="not found"):
        open_image("/nowhere/at/all.png")
    array = load_array(png("blue", 20), 8)
    assert array.shape == (8, 8, 3) and tuple(array[4, 4]) == (0, 0, 255)


def test_question_without_answers_is_skipped_and_counted(home: Path) -> None:
    lines = generic_lines()
    lines[0]["answers"] = []
    lines[1]["answers"] = ["   "]
    path = jsonl_source(home / "data", lines, generic_images())
    prepared = prepare("vqav2", f"local:{path}")
    assert sum(s["size"] for s in prepared.manifest["splits"].values()) == 18
    skipped = prepared.manifest["notes"]["skipped"]
    assert sum(s["no_answers"] for s in skipped.values()) == 2


def test_answer_outside_the_vocabulary_is_scored_wrong(home: Path) -> None:
    from seqbench.families.vqa.family import score

    lines = generic_lines(40)
    for i, line in enumerate(lines):
        line["split"] = "test" if i >= 30 else "train"
    lines[35]["answers"] = ["purple"]  # never an answer in train
    path = jsonl_source(home / "data", lines, generic_images())
    prepared = prepare("vqav2", f"local:{path}")
    assert "purple" not in prepared.manifest["answers"]
    assert prepared.manifest["splits"]["test"]["out_of_vocabulary"] == 1
    test = split_data(prepared, "test")
    row = test.answers.index(["purple"])
    assert test.answer[row] == -1
    metrics, breakdown = score(["red"], test, [row])
    assert metrics["vqa_accuracy"] == 0.0 and breakdown["out_of_vocabulary"] == 1


def test_bad_jsonl_line_names_its_number(home: Path) -> None:
    path = jsonl_source(home / "data", generic_lines(3), generic_images())
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(SeqbenchError, match=r"questions\.jsonl line 4: not JSON"):
        prepare("vqav2", f"local:{path}")


def test_carving_is_stable_per_image() -> None:
    reader = vqa_sources.Reader(SourceSpec(local="x"))
    plan = vqa_sources.SplitPlan({"train": "a", "dev": "a", "test": "a"}, {"dev": 0.2, "test": 0.3})
    routes = [vqa_sources._route(plan, ["train", "dev", "test"], f"img{i}", 0) for i in range(2000)]
    shares = {s: routes.count(s) / 2000 for s in ("train", "dev", "test")}
    assert shares["dev"] == pytest.approx(0.2, abs=0.04)
    assert shares["test"] == pytest.approx(0.3, abs=0.04)
    again = [vqa_sources._route(plan, ["train", "dev", "test"], f"img{i}", 0) for i in range(2000)]
    assert routes == again and reader.fields["answers"] == "answers"
    assert np.mean([r == "train" for r in routes]) > 0.4
