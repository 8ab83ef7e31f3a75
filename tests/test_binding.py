"""The binding family on the tiny preset: the teacher resolved through the train path, the
frozen image encoder, the log-mel recipe, the R@K fields end to end, and bad input."""

from __future__ import annotations

import dataclasses
import json
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from seqbench import paths, train
from seqbench.config import load_task, load_task_spec
from seqbench.data.generators.shapes_captions import Scene, ShapeObject
from seqbench.errors import SeqbenchError
from seqbench.families.base import Prepared, family_for, split_data
from seqbench.families.binding.arithmetic import combinations, combined
from seqbench.models import build_model


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("binding")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQBENCH_HOME", str(path / "home"))
        patch.setenv("SEQBENCH_QUIET", "1")
        yield path


@pytest.fixture(scope="module")
def prepared(home: Path) -> Prepared:
    spec, subset = load_task("shapes-sounds")
    prepared, cached = family_for(spec).prepare(spec, subset, "tiny")
    assert not cached
    return prepared


@pytest.fixture(scope="module")
def plan(prepared: Prepared) -> train.RunPlan:
    """The bind-audio run plan, its teacher trained through the normal train path."""
    return train.plan_run(prepared.run.with_model("bind-audio"), prepared, train_teacher=True)


def test_prepare_uses_the_teachers_tokenizer_and_the_deck_spectrogram(
    prepared: Prepared, plan: train.RunPlan
) -> None:
    test = split_data(prepared, "test")
    # 2 s at 16 kHz, 25 ms windows every 10 ms, 128 mel bins: [128, 201] per clip.
    assert test.mels.shape == (48, 128, 201) and test.images.shape == (48, 64, 64, 3)
    teacher_data = family_for(load_task("shapes-captions")[0]).prepare(
        load_task("shapes-captions")[0], None, "tiny"
    )[0]
    tok = teacher_data.directory / teacher_data.manifest["tokenizer"]["file"]
    assert (prepared.directory / "caption.model").read_bytes() == tok.read_bytes()
    assert prepared.manifest["arithmetic"]["size"] == 8
    model = build_model("bind-audio", plan.model_config)
    # ImageBind's patching: 16x16 patches with stride 10 -> 12 x 19 = 228 patches.
    conv = model.audio_encoder.patch_embedding
    assert conv.kernel_size == (16, 16) and conv.stride == (10, 10)
    assert model.audio_encoder.num_patches == 12 * 19


def test_the_teacher_is_resolved_and_a_new_teacher_means_a_new_student(
    prepared: Prepared, plan: train.RunPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert plan.teacher is not None and plan.teacher.model_name == "clip"
    entry = plan.model_config["teacher"]
    assert entry["weights_sha256"] == plan.teacher.sha256 and entry["config"]
    # Found again without training (what eval does first).
    again = train.plan_run(prepared.run.with_model("bind-audio"), prepared)
    assert again.directory == plan.directory
    other = dataclasses.replace(
        plan.teacher, info={**plan.teacher.info, "weights_sha256": "f" * 64}
    )
    monkeypatch.setattr(train, "teacher_checkpoint", lambda *a, **k: other)
    retrained = train.plan_run(prepared.run.with_model("bind-audio"), prepared)
    assert retrained.directory != plan.directory


def test_a_training_step_leaves_the_image_encoder_unchanged(
    prepared: Prepared, plan: train.RunPlan
) -> None:
    family = family_for(prepared.spec)
    torch.manual_seed(0)
    model = build_model("bind-audio", plan.model_config, family="binding")
    model.teacher.load_state_dict(_teacher_state(plan))  # as the train stage does
    model.train()
    frozen = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    audio = {k: v.clone() for k, v in model.audio_encoder.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
    batch = next(family.batches(prepared, "train", 16, shuffle=True, seed=0))
    loss = family.loss(model, batch)
    # bind-audio never sees an audio-text pair: its loss ignores the captions entirely.
    other_captions = batch._replace(captions=torch.randint(4, 20, batch.captions.shape))
    assert torch.equal(loss, family.loss(model, other_captions))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and not model.teacher.training
    assert all(torch.equal(v, model.teacher.state_dict()[k]) for k, v in frozen.items())
    assert any(not torch.equal(v, model.audio_encoder.state_dict()[k]) for k, v in audio.items())


def _teacher_state(plan: train.RunPlan) -> dict[str, torch.Tensor]:
    from seqbench import checkpoints

    assert plan.teacher is not None
    return checkpoints.load_model(plan.teacher).state_dict()


def test_tiny_cli_end_to_end_reports_every_recall(home: Path, prepared: Prepared) -> None:
    from seqbench.cli.main import cli

    def invoke(*args: str):  # noqa: ANN202
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    assert (
        invoke("train", "shapes-sounds", "--model", "bind-audio", "--preset", "tiny").exit_code == 0
    )
    args = ["eval", "--task", "shapes-sounds", "--preset", "tiny"]
    result = invoke(*args, "--model", "bind-audio", "--accel", "cpu,ice")
    assert result.exit_code == 0, result.output
    result = invoke(*args, "--model", "bind-audio-text")
    assert result.exit_code == 0, result.output
    records = [json.loads(p.read_text()) for p in (home / "home" / "results").rglob("*.json")]
    records = [r for r in records if r["task"] == "shapes-sounds"]
    assert {(r["model"], r["profile"]) for r in records} == {
        ("bind-audio", "cpu"),
        ("bind-audio", "ice"),
        ("bind-audio-text", "cpu"),
    }
    for record in records:
        metrics = record["quality"]["metrics"]
        for direction in ("a2i", "i2a", "a2t", "t2a", "arith"):
            for k in (1, 5, 10):
                assert 0.0 <= metrics[f"{direction}_r{k}"] <= 100.0
        assert {"arith_image_only_r1", "arith_audio_only_r1"} <= set(metrics)
        # The whole gallery is traced: the searches and the audio ViT's patch conv are priced.
        assert {"similarity_search", "conv"} <= set(record["trace"]["ops"])
    out = home / "boards"
    assert invoke("report", "--out", str(out)).exit_code == 0
    board = (out / "binding.md").read_text()
    assert "bind-audio-text" in board and "a2t_r10" in board
    assert (out / "binding.csv").is_file()


def test_combined_scene_needs_disjoint_cells_and_at_most_four_objects() -> None:
    red = ShapeObject("circle", "red", "small", 0, 0)
    blue = ShapeObject("square", "blue", "large", 0, 0)
    green = ShapeObject("diamond", "green", "large", 2, 2)
    assert combined(Scene((red,)), Scene((blue,))) is None  # the same cell
    assert combined(Scene((red,)), Scene((green,))) == Scene((red, green))
    four = Scene(tuple(ShapeObject("circle", "red", "small", 1, c) for c in range(3)))
    assert combined(four, Scene((red, green))) is None  # five objects
    scenes = [
        Scene((red,)),
        Scene((green,)),
        Scene((ShapeObject("circle", "cyan", "small", 1, 1),)),
    ]
    combos = combinations(scenes, 10, 3, seed=0)
    assert combos == combinations(scenes, 10, 3, seed=0)
    assert len({c.audio for c in combos}) == len(combos) and all(
        len(c.captions) == 3 for c in combos
    )


# --- bad input ---------------------------------------------------------------------------------


def _tone(path: Path) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        samples = 0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16_000) * 32767
        out.writeframes(samples.astype("<i2").tobytes())


def _folder(root: Path) -> Path:
    root.mkdir()
    for split in ("train", "dev", "test"):
        rows = []
        for i in range(2):
            Image.new("RGB", (32, 32), (40 * i, 80, 120)).save(root / f"{split}{i}.png")
            _tone(root / f"{split}{i}.wav")
            image, audio = f"{split}{i}.png", f"{split}{i}.wav"
            rows.append({"image": image, "audio": audio, "captions": [f"a red circle {i}"]})
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_a_local_folder_prepares_and_bad_pairs_are_named(
    tmp_path: Path, prepared: Prepared
) -> None:
    spec = prepared.spec
    family = family_for(spec)
    folder = _folder(tmp_path / "pairs")
    local, _ = family.prepare(spec, None, "tiny", source_override=f"local:{folder}")
    assert split_data(local, "dev").mels.shape == (2, 128, 201)
    assert "arithmetic" not in local.manifest  # a folder has no scenes to combine
    (folder / "dev1.png").unlink()
    with pytest.raises(SeqbenchError, match=r"image .*dev1.png of the pair on .*dev.jsonl line 2"):
        family.prepare(spec, None, "tiny", source_override=f"local:{folder}")
    Image.new("RGB", (32, 32)).save(folder / "dev1.png")
    (folder / "test0.wav").write_bytes(b"RIFF\x00\x00not really a wave file")
    with pytest.raises(SeqbenchError, match=r"cannot decode audio file .*test0.wav"):
        family.prepare(spec, None, "tiny", source_override=f"local:{folder}")
    (folder / "train.jsonl").write_text('{"image": "train0.png"}\n')
    with pytest.raises(SeqbenchError, match=r"train.jsonl line 1: the pair lacks audio, captions"):
        family.prepare(spec, None, "tiny", source_override=f"local:{folder}")


def test_a_malformed_teacher_entry_is_refused_on_load(tmp_path: Path) -> None:
    text = (paths.tasks_dir() / "shapes-sounds.yaml").read_text()
    path = tmp_path / "t.yaml"
    path.write_text(text.replace("teacher: {task: shapes-captions, model: clip}", "teacher: clip"))
    with pytest.raises(SeqbenchError, match="teacher must be a mapping"):
        load_task_spec(path)
    path.write_text(text.replace("model: clip}", "modle: clip}"))
    with pytest.raises(SeqbenchError, match=r"teacher has unknown field\(s\) \['modle'\]"):
        load_task_spec(path)
