"""The vqa family on generated Sort-of-CLEVR: prepare/cache, batches, loss, evaluation with
per-type accuracy, out-of-vocabulary answers, and a tiny end-to-end CLI run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from torch import Tensor, nn

from seqbench import paths
from seqbench.config import load_task
from seqbench.errors import SeqbenchError
from seqbench.families.base import Prepared, family_for, split_data
from seqbench.families.vqa import store as vqa_store
from seqbench.families.vqa.family import VQABatch, curriculum_types, training_order
from seqbench.models import build_model


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEQBENCH_QUIET", "1")
    return tmp_path


@pytest.fixture()
def prepared(home: Path) -> Prepared:
    spec, subset = load_task("sort-of-clevr")
    return family_for(spec).prepare(spec, subset, "tiny")[0]


class Oracle(nn.Module):
    """Answers from a lookup of the question row: ``logits[b, answer[row]] = 1``."""

    def __init__(self, answers: np.ndarray, wrong_rows: set[int] = frozenset()) -> None:
        super().__init__()
        self.answers = torch.from_numpy(answers)
        self.wrong_rows = wrong_rows
        self.dummy = nn.Parameter(torch.zeros(1))
        self.rows: list[int] = []

    def forward(self, images: Tensor, ids: Tensor, vectors: Tensor, image_index: Tensor) -> Tensor:
        rows = self.rows[: len(ids)]
        del self.rows[: len(ids)]
        logits = torch.zeros(len(rows), 10)
        for i, r in enumerate(rows):
            answer = int(self.answers[r])
            logits[i, (answer + 1) % 10 if r in self.wrong_rows else max(answer, 0)] = 1.0
        return logits


def test_prepare_writes_cache_and_reuses_it(home: Path) -> None:
    spec, subset = load_task("sort-of-clevr")
    family = family_for(spec)
    first, cached = family.prepare(spec, subset, "tiny")
    assert not cached
    again, cached = family.prepare(spec, subset, "tiny")
    assert cached and again.fingerprint == first.fingerprint
    manifest = first.manifest
    # 50 train images, 20% carved off as dev, 10 test images; 20 questions each.
    assert manifest["splits"]["train"] == {"size": 800, "images": 40, "out_of_vocabulary": 0}
    assert manifest["splits"]["dev"]["images"] == 10 and manifest["splits"]["test"]["size"] == 200
    assert manifest["answers"] == ["yes", "no", "square", "circle", "1", "2", "3", "4", "5", "6"]
    assert manifest["image_shape"] == [75, 75, 3] and manifest["question_vector_size"] == 11
    assert (first.directory / "question.model").is_file()
    assert family.prepare(spec, subset, "tiny", force=True)[0].fingerprint == first.fingerprint


def test_dev_is_carved_from_train_by_image(prepared: Prepared) -> None:
    train, dev = split_data(prepared, "train"), split_data(prepared, "dev")
    assert not set(train.image_ids) & set(dev.image_ids)
    assert all(i.startswith("train/") for i in dev.image_ids)
    assert {"non_relational", "relational"} == set(dev.qtype)


def test_stored_split_round_trips(prepared: Prepared) -> None:
    test = split_data(prepared, "test")
    assert test.images.shape == (10, 75, 75, 3) and test.images.dtype == np.uint8
    assert test.vector.shape == (200, 11)
    assert all(len(a) == 1 for a in test.answers)
    assert test.question[0].endswith("?") and test.question_ids[0][0] > 3
    assert prepared.manifest["answers"][test.answer[0]] == test.answers[0][0]


def test_model_config_merges_preset_and_data(prepared: Prepared) -> None:
    family = family_for(prepared.spec)
    config = family.model_config(prepared.run.with_model("rn"), prepared)
    assert config["num_answers"] == 10 and config["image_size"] == 75
    assert config["question_vector_size"] == 11 and config["channels"] == 8
    assert config["question_vocab_size"] == prepared.manifest["tokenizer"]["actual_vocab_size"]


def test_batches_share_images_and_cover_the_split(prepared: Prepared) -> None:
    family = family_for(prepared.spec)
    batches = list(family.batches(prepared, "train", 64, shuffle=True, seed=1))
    assert sorted(r for b in batches for r in b.rows) == list(range(800))
    first: VQABatch = batches[0]
    assert first.images.shape[1:] == (3, 75, 75) and first.images.shape[0] <= 16
    assert -1.0 <= float(first.images.min()) and float(first.images.max()) <= 1.0
    assert first.question_ids.shape[0] == 64 and first.question_vectors.shape == (64, 11)
    assert int(first.image_index.max()) == first.images.shape[0] - 1
    assert first.types[0].split(".")[0] in {"non_relational", "relational"}
    again = next(iter(family.batches(prepared, "train", 64, shuffle=True, seed=1)))
    assert again.rows == first.rows


def test_training_order_groups_questions_per_image(prepared: Prepared) -> None:
    data = split_data(prepared, "train")
    order = training_order(data, 64, 4, seed=0)
    flat = [r for batch in order for r in batch]
    groups = [data.image[flat[i : i + 4]] for i in range(0, len(flat), 4)]
    assert all(len(set(g.tolist())) == 1 for g in groups)


def test_curriculum_epoch_draws_only_its_question_types(prepared: Prepared) -> None:
    data = split_data(prepared, "train")
    plan = {"curriculum": {"types": ["non_relational"], "epochs": 1}}
    assert curriculum_types(plan, 0) == ["non_relational"] and curriculum_types(plan, 1) is None
    order = training_order(data, 64, 4, seed=0, types=["non_relational"])
    flat = [r for batch in order for r in batch]
    assert len(flat) == len(data.image)  # as many steps as a full epoch
    assert {data.qtype[r] for r in flat} == {"non_relational"}
    with pytest.raises(SeqbenchError, match="curriculum"):
        training_order(data, 64, 4, seed=0, types=["counting"])


def test_loss_trains_a_model(prepared: Prepared) -> None:
    family = family_for(prepared.spec)
    torch.manual_seed(0)
    model = build_model(
        "cnn-bow", family.model_config(prepared.run.with_model("cnn-bow"), prepared), "vqa"
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = next(family.batches(prepared, "train", 32, shuffle=True, seed=0))
    losses = []
    for _ in range(8):  # fitting one batch: the loss must fall
        loss = family.loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_evaluate_scores_per_type_and_subtype(prepared: Prepared) -> None:
    family = family_for(prepared.spec)
    test = split_data(prepared, "test")
    wrong = {r for r in range(200) if test.qtype[r] == "relational"}
    model = Oracle(test.answer, wrong)
    model.rows = list(range(200))
    outcome = family.evaluate(model, prepared, "test", progress=False)
    assert outcome.metrics["vqa_accuracy"] == pytest.approx(50.0)
    assert outcome.metrics["non_relational"] == 100.0 and outcome.metrics["relational"] == 0.0
    assert outcome.metrics["non_relational.left"] == 100.0
    assert outcome.metrics["relational.closest"] == 0.0
    assert outcome.primary == "vqa_accuracy" and outcome.unit == "sample"
    assert outcome.samples == outcome.units == 200
    assert outcome.signature.format() == f"vqa-acc:official|answers:10|data:{prepared.fingerprint}"
    assert outcome.breakdown["by_type"]["relational"]["count"] == 100
    assert set(outcome.breakdown["by_subtype"]) == {
        "non_relational.shape", "non_relational.left", "non_relational.top",
        "relational.closest", "relational.furthest", "relational.count",
    }  # fmt: skip


def test_evaluate_limit(prepared: Prepared) -> None:
    family = family_for(prepared.spec)
    model = build_model("san", family.model_config(prepared.run.with_model("san"), prepared), "vqa")
    outcome = family.evaluate(model, prepared, "dev", limit=30, batch_size=16, progress=False)
    assert outcome.samples == 30 and 0.0 <= outcome.score <= 100.0
    assert model.training  # evaluate restores the mode it found


def test_batch_of_unknown_answers_has_zero_loss(prepared: Prepared) -> None:
    family = family_for(prepared.spec)
    batch = next(family.batches(prepared, "test", 10, shuffle=False, seed=0))
    batch.answers = torch.full((10,), vqa_store.OUT_OF_VOCABULARY)  # answers the vocabulary lacks
    model = build_model(
        "cnn-bow", family.model_config(prepared.run.with_model("cnn-bow"), prepared), "vqa"
    )
    loss = family.loss(model, batch)
    assert loss.item() == 0.0  # nothing to learn from, and no NaN
    loss.backward()


def test_tiny_cli_train_and_eval(home: Path) -> None:
    from seqbench.cli.main import cli

    runner = CliRunner()
    train = runner.invoke(cli, ["train", "sort-of-clevr", "--model", "rn", "--preset", "tiny"])
    assert train.exit_code == 0, train.output
    result = runner.invoke(
        cli, ["eval", "--task", "sort-of-clevr", "--model", "rn", "--preset", "tiny"]
    )
    assert result.exit_code == 0, result.output
    assert "vqa_" in result.output
    records = list((home / "home" / "results").rglob("*.json"))
    assert records


def _tasks_with_vl_dual_teacher(tmp_path: Path, teacher: object) -> Path:
    folder = tmp_path / "tasks"
    shutil.copytree(paths.tasks_dir(), folder)
    spec = yaml.safe_load((folder / "sort-of-clevr.yaml").read_text())
    spec["presets"]["tiny"].setdefault("model_overrides", {})["vl-dual"]["teacher"] = teacher
    (folder / "sort-of-clevr.yaml").write_text(yaml.safe_dump(spec))
    return folder


def test_vl_dual_starts_from_its_region_teachers_checkpoint(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teacher = {"task": "sort-of-clevr", "model": "rn"}
    monkeypatch.setenv("SEQBENCH_TASKS", str(_tasks_with_vl_dual_teacher(home, teacher)))
    from seqbench import checkpoints
    from seqbench.stages import train_task

    student = train_task("sort-of-clevr", "vl-dual", "tiny").checkpoint  # trains rn first
    entry = student.config["teacher"]
    rn = train_task("sort-of-clevr", "rn", "tiny")
    assert rn.reused and entry["weights_sha256"] == rn.checkpoint.sha256
    rn_cnn = checkpoints.load_model(rn.checkpoint).cnn.state_dict()
    loaded = checkpoints.load_model(student).teacher.cnn.state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in rn_cnn.items())


def test_a_malformed_model_teacher_is_named(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _tasks_with_vl_dual_teacher(home, {"task": "sort-of-clevr"})
    monkeypatch.setenv("SEQBENCH_TASKS", str(folder))
    from seqbench.stages import train_task

    with pytest.raises(SeqbenchError, match=r"model vl-dual: teacher.model must be a name"):
        train_task("sort-of-clevr", "vl-dual", "tiny")
