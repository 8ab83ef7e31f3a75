"""Models that travel: export, import into a fresh home, eval --checkpoint, and bad bundles.

One tiny relation network on Sort-of-CLEVR is trained once per module; every test works on
copies of its export.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from seqbench import bundle
from seqbench.cli.main import cli

TASK, MODEL, PRESET = "sort-of-clevr", "rn", "tiny"
ACCELS = "cpu,retransformer"
SAME_FIELDS = ("task", "split", "model", "profile", "preset", "seed", "data_fingerprint")


def invoke(home: Path, *args: str) -> Any:
    env = {"SEQBENCH_HOME": str(home), "SEQBENCH_QUIET": "1"}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def records(home: Path) -> list[dict[str, Any]]:
    found = sorted((home / "results").rglob("*.json"))
    return [json.loads(p.read_text(encoding="utf-8")) for p in found]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("portable")
    home = root / "home-a"
    result = invoke(
        home, "eval", "--task", TASK, "--model", MODEL, "--preset", PRESET, "--accel", ACCELS
    )
    assert result.exit_code == 0, result.output
    archive, folder = root / "rn.tar.gz", root / "rn-folder"
    for out in (archive, folder):
        result = invoke(
            home, "export", "--task", TASK, "--model", MODEL, "--preset", PRESET, "--out", str(out)
        )
        assert result.exit_code == 0, result.output
    return {"root": root, "home": home, "archive": archive, "folder": folder}


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: record[k] for k in SAME_FIELDS},
        "sha256": record["checkpoint"]["sha256"],
        "quality": record["quality"],
        "simulated": record["simulated"],
        "trace": record["trace"],
    }


def test_bundle_holds_what_travels(trained: dict[str, Path]) -> None:
    folder = trained["folder"]
    manifest = json.loads((folder / bundle.MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format"] == bundle.FORMAT and manifest["model"] == MODEL
    assert {
        "model.safetensors",
        "config.json",
        "train_log.jsonl",
        "data/manifest.json",
        "data/question.model",
        "README.md",
    } <= set(manifest["files"])
    assert manifest["task_spec"]["name"] == TASK and manifest["data_fingerprint"]
    assert "vqa_accuracy" in manifest["quality_at_export"]["metrics"]
    assert manifest["weights_sha256"] in (folder / "README.md").read_text(encoding="utf-8")
    with tarfile.open(trained["archive"]) as archive:
        assert set(archive.getnames()) == set(manifest["files"]) | {bundle.MANIFEST}


def test_round_trip_import_into_a_fresh_home_gives_the_identical_record(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    home_b = tmp_path / "home-b"
    result = invoke(home_b, "import", str(trained["archive"]))
    assert result.exit_code == 0, result.output
    result = invoke(
        home_b,
        "eval",
        "--task",
        TASK,
        "--model",
        MODEL,
        "--preset",
        PRESET,
        "--accel",
        ACCELS,
        "--no-train",
    )  # --no-train: it must find the import
    assert result.exit_code == 0, result.output
    original = sorted(map(_comparable, records(trained["home"])), key=lambda r: r["profile"])
    again = records(home_b)
    assert sorted(map(_comparable, again), key=lambda r: r["profile"]) == original
    assert again[0]["checkpoint"]["origin"]["bundle"] == str(trained["archive"])
    # Importing the same bundle again is a no-op.
    assert invoke(home_b, "import", str(trained["archive"])).exit_code == 0


def test_eval_checkpoint_from_another_home_names_its_hash_and_origin(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    home_c = tmp_path / "home-c"
    result = invoke(home_c, "eval", "--checkpoint", str(trained["folder"]), "--accel", ACCELS)
    assert result.exit_code == 0, result.output
    original = sorted(map(_comparable, records(trained["home"])), key=lambda r: r["profile"])
    scored = records(home_c)
    assert sorted(map(_comparable, scored), key=lambda r: r["profile"]) == original
    origin = scored[0]["checkpoint"]["origin"]
    assert origin["home"] == str(trained["home"]) and origin["bundle"] == str(trained["folder"])
    assert not (home_c / "runs").exists()  # scored, not imported


def test_incompatible_task_is_a_plain_error(trained: dict[str, Path], tmp_path: Path) -> None:
    result = invoke(
        tmp_path / "h",
        "eval",
        "--checkpoint",
        str(trained["folder"]),
        "--task",
        "scan",
        "--preset",
        "tiny",
    )
    assert result.exit_code == 2
    assert "is a vqa model" in result.output and "translation task" in result.output


# --- bad bundles: a one-line error each, nothing written ---------------------------------


def _fails_cleanly(home: Path, path: Path, expected: str, tmp_root: Path) -> None:
    before = sorted(p for p in tmp_root.rglob("*"))
    result = invoke(home, "import", str(path))
    assert result.exit_code == 2, result.output
    assert expected in result.output, result.output
    assert result.output.strip().count("\n") <= 2  # one line (Rich may wrap it)
    assert "Traceback" not in result.output
    models = home / "models"
    assert not models.exists() or not any(models.iterdir()), list(models.iterdir())
    assert not (home / "runs").exists()
    assert sorted(p for p in tmp_root.rglob("*") if not p.is_relative_to(home)) == [
        p for p in before if not p.is_relative_to(home)
    ]


def test_truncated_archive(trained: dict[str, Path], tmp_path: Path) -> None:
    data = trained["archive"].read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    _fails_cleanly(tmp_path / "home", cut, "truncated", tmp_path)


def test_weights_hash_mismatch(trained: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "altered"
    shutil.copytree(trained["folder"], copy)
    weights = bytearray((copy / "model.safetensors").read_bytes())
    weights[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(weights))
    _fails_cleanly(tmp_path / "home", copy, "model.safetensors has sha256", tmp_path)


def test_unregistered_model(trained: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "unknown-model"
    shutil.copytree(trained["folder"], copy)
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["model"] = "capsnet"
    (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    manifest = json.loads((copy / bundle.MANIFEST).read_text(encoding="utf-8"))
    manifest["files"]["config.json"] = bundle.sha256_file(copy / "config.json")
    manifest["model"] = "capsnet"
    (copy / bundle.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    _fails_cleanly(tmp_path / "home", copy, "'capsnet' is not registered", tmp_path)


def test_path_escaping_the_archive(trained: dict[str, Path], tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as archive:
        for path in sorted(trained["folder"].rglob("*")):
            if path.is_file():
                archive.add(path, arcname=path.relative_to(trained["folder"]).as_posix())
        payload = b"gotcha"
        info = tarfile.TarInfo("../escaped.txt")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    _fails_cleanly(tmp_path / "home", evil, "outside the archive", tmp_path)
    assert not (tmp_path / "escaped.txt").exists()
    assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("*"))


def test_export_refuses_to_overwrite(trained: dict[str, Path]) -> None:
    result = invoke(
        trained["home"],
        "export",
        "--task",
        TASK,
        "--model",
        MODEL,
        "--preset",
        PRESET,
        "--out",
        str(trained["folder"]),
    )
    assert result.exit_code == 2 and "exists" in result.output


def test_external_test_set_is_read_whole_with_the_checkpoints_encoding(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    from PIL import Image

    from seqbench.data.generators import sort_of_clevr as soc

    split = soc.generate_split(2, seed=5, stream=1, counts={"non_relational": 2})
    folder = tmp_path / "external"
    folder.mkdir()
    lines = []
    for i, image in enumerate(split.images):
        Image.fromarray(image).save(folder / f"{i}.png")
    vectors = split.questions.vectors().tolist()
    words = split.columns()["question"]
    answers = split.columns()["answer"]
    for q in range(len(split.questions)):
        lines.append(
            {
                "image": f"{split.questions.image[q]}.png",
                "question": "what shape is the purple object?" if q == 0 else words[q],
                "answers": ["triangle"] if q == 1 else [answers[q]],
                "split": "train" if q % 2 else "test",  # read whole all the same: never re-split
                "vector": vectors[q],
            }
        )
    (folder / "set.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = invoke(
        tmp_path / "home",
        "eval",
        "--checkpoint",
        str(trained["archive"]),
        "--test-set",
        f"local:{folder}",
    )
    assert result.exit_code == 0, result.output
    (record,) = records(tmp_path / "home")
    assert record["task"] == "sort-of-clevr@external" and record["quality"]["samples"] == 4
    info = record["test_set"]
    assert info["questions"] == 4 and info["vector"] == "read"
    assert info["unknown_answers"] == 1 and info["unknown_answer_values"] == ["triangle"]
    assert info["questions_with_unknown_words"] == 1
    assert [w.strip("▁") for w in info["unknown_words"]] == ["purple"]
    assert record["checkpoint"]["sha256"] == records(trained["home"])[0]["checkpoint"]["sha256"]


def test_external_translation_test_set_uses_the_checkpoints_tokenizers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = invoke(home, "train", "scan", "--model", "gru", "--preset", "tiny")
    assert result.exit_code == 0, result.output
    pairs = [
        ("jump twice", "I_JUMP I_JUMP"),
        ("walk left", "I_TURN_LEFT I_WALK"),
        ("hop thrice", "I_HOP I_HOP I_HOP"),  # 'hop' and I_HOP are in neither vocabulary
    ]
    tsv = tmp_path / "extra.tsv"
    tsv.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    result = invoke(
        home,
        "eval",
        "--task",
        "scan",
        "--model",
        "gru",
        "--preset",
        "tiny",
        "--test-set",
        f"local:{tsv}",
    )
    assert result.exit_code == 0, result.output
    (record,) = records(home)
    assert record["task"] == "scan@extra" and record["quality"]["samples"] == 3  # not re-split
    unknown = record["test_set"]["unknown"]
    assert unknown["src"]["sentences"] == 1 and unknown["tgt"]["sentences"] == 1
    # Another split scheme's data is tokenized by its own SentencePiece models: refused plainly.
    bundle_path = tmp_path / "gru.tar.gz"
    result = invoke(
        home,
        "export",
        "--task",
        "scan",
        "--model",
        "gru",
        "--preset",
        "tiny",
        "--out",
        str(bundle_path),
    )
    assert result.exit_code == 0, result.output
    result = invoke(
        tmp_path / "other", "eval", "--checkpoint", str(bundle_path), "--task", "scan:length"
    )
    assert result.exit_code == 2 and "tokenized differently" in result.output


def test_external_retrieval_test_set_is_one_whole_gallery(tmp_path: Path) -> None:
    from PIL import Image

    home = tmp_path / "home"
    result = invoke(home, "train", "shapes-captions", "--model", "clip", "--preset", "tiny")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "gallery"
    (folder / "img").mkdir(parents=True)
    colours = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
    rows = []
    for i, (name, rgb) in enumerate(colours.items()):
        Image.new("RGB", (32, 32), rgb).save(folder / "img" / f"{i}.png")
        rows.append(
            {"image": f"img/{i}.png", "captions": [f"a {name} image", "a zebra"], "split": "train"}
        )  # read whole as the test gallery all the same
    (folder / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = invoke(
        home,
        "eval",
        "--task",
        "shapes-captions",
        "--model",
        "clip",
        "--preset",
        "tiny",
        "--test-set",
        f"local:{folder / 'captions.jsonl'}",
    )
    assert result.exit_code == 0, result.output
    (record,) = records(home)
    assert record["task"] == "shapes-captions@captions"
    info = record["test_set"]
    assert info["images"] == 3 and info["captions"] == 6
    assert info["captions_with_unknown_pieces"] >= 3  # 'zebra' is no caption word of the task


def test_suite_cell_scores_its_external_test_sets_and_knows_when_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    from seqbench.data.generators import sort_of_clevr as soc
    from seqbench.executor import Cell, is_done
    from seqbench.stages import run_cell

    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    split = soc.generate_split(2, seed=9, stream=1, counts={"relational": 2})
    folder = tmp_path / "ref"
    folder.mkdir()
    columns = split.columns()
    for i, image in enumerate(split.images):
        Image.fromarray(image).save(folder / f"{i}.png")
    rows = [
        {
            "image": f"{split.questions.image[q]}.png",
            "question": columns["question"][q],
            "answers": [columns["answer"][q]],
        }
        for q in range(len(split.questions))
    ]
    (folder / "ref.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cell = Cell(TASK, MODEL, PRESET, 0, "test", "cpu", None, (f"local:{folder}",))
    made = run_cell(cell)
    assert sorted(r["task"] for r in made) == ["sort-of-clevr", "sort-of-clevr@ref"]
    assert is_done(cell, made)
    assert not is_done(cell, [r for r in made if r["task"] == TASK])
