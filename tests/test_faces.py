"""The faces family: synth-faces, LFW pairs, verification metrics, face-embed, gallery search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seqbench import ops
from seqbench.config import SourceSpec, load_task
from seqbench.data.generators.synth_faces import (
    SPLIT_OFFSET,
    Identity,
    draw_identity,
    generate,
)
from seqbench.errors import SeqbenchError
from seqbench.families.base import Prepared, family_for
from seqbench.families.faces.protocol import gallery_and_probes, make_pairs, read_pairs_file
from seqbench.families.faces.scaling import scaling_table
from seqbench.families.faces.sources import from_lfw
from seqbench.metrics.verification import best_threshold, rank1, tar_at_far, ten_fold_accuracy
from seqbench.models import build_model
from seqbench.models.face_embed import add_angular_margin
from seqbench.trace import Tracer

DATA = {"seed": 0, "image_size": 24, "pairs": {"dev": 20, "test": 40}, "folds": 10}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faces")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQBENCH_HOME", str(path / "home"))
        patch.setenv("SEQBENCH_QUIET", "1")
        yield path


@pytest.fixture(scope="module")
def prepared(home: Path) -> Prepared:
    spec, subset = load_task("synth-faces")
    prepared, _ = family_for(spec).prepare(spec, subset, "tiny")
    return prepared


def test_generator_is_deterministic_and_identities_differ_between_splits() -> None:
    one = generate({"image_size": 24, "images_per_identity": 2}, {"train": 2, "test": 2}, 3)
    two = generate({"image_size": 24, "images_per_identity": 2}, {"train": 2, "test": 2}, 3)
    for split in one:
        for (p, i, x), (q, j, y) in zip(one[split], two[split], strict=True):
            assert (p, i) == (q, j) and np.array_equal(x, y)
    # Same person index, different split: a different person (split seeds are offset).
    assert not np.array_equal(one["train"][0][2], one["test"][0][2])
    assert one["train"][0][2].shape == (24, 24, 3)


def test_no_identity_is_in_both_train_and_test() -> None:
    """Split seeds differ, so the people drawn for test are not the people drawn for train."""

    def people(split: str, count: int) -> set[Identity]:
        return {
            draw_identity(np.random.default_rng([0, SPLIT_OFFSET[split], i])) for i in range(count)
        }

    train, test = people("train", 500), people("test", 300)
    assert len(train) == 500 and len(test) == 300 and not train & test


def test_pairs_are_balanced_distinct_and_in_equal_folds() -> None:
    labels = np.repeat(np.arange(24), 4)
    pairs = make_pairs(labels, 200, 10, 0)
    assert len(pairs) == 200 and pairs.same.sum() == 100
    assert np.array_equal(labels[pairs.a] == labels[pairs.b], pairs.same)
    assert len({(a, b) for a, b in zip(pairs.a, pairs.b, strict=True)}) == 200
    for fold in range(10):
        held = pairs.fold == fold
        assert held.sum() == 20 and pairs.same[held].sum() == 10
    with pytest.raises(SeqbenchError, match="multiple of 20"):
        make_pairs(labels, 210, 10, 0)


def test_verification_metrics_on_a_hand_made_score_list() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.4, 0.6, 0.3, 0.2, 0.1])
    same = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    # One threshold between 0.4 and 0.6 would miss 0.4; between 0.6 and 0.7 misses 0.4 only.
    t = best_threshold(scores, same)
    assert np.mean((scores > t) == same) == pytest.approx(7 / 8)
    # FAR 1e-3 of 4 impostors allows none above the threshold: t = 0.6, genuine above: 3/4.
    assert tar_at_far(scores, same, 1e-3) == pytest.approx(0.75)
    assert tar_at_far(scores, same, 0.25) == pytest.approx(1.0)  # one impostor (0.6) may pass
    # Two folds: each fold's threshold comes from the other fold.
    folds = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    accuracy, _, thresholds = ten_fold_accuracy(scores, same, folds)
    assert len(thresholds) == 2
    held0 = folds == 0
    expect0 = np.mean((scores[held0] > thresholds[0]) == same[held0])
    expect1 = np.mean((scores[~held0] > thresholds[1]) == same[~held0])
    assert accuracy == pytest.approx((expect0 + expect1) / 2)
    assert rank1(np.array([0, 1, 1]), np.array([5, 6, 7]), np.array([5, 6])) == pytest.approx(2 / 3)


def test_gallery_enrols_the_first_image_of_each_identity() -> None:
    gallery, probes = gallery_and_probes(np.array([3, 3, 1, 3, 1]))
    assert gallery.tolist() == [0, 2] and probes.tolist() == [1, 3, 4]


def _lfw(root: Path, people: dict[str, int], pairs: list[str]) -> Path:
    folder = root / "lfw"
    for name, count in people.items():
        (folder / name).mkdir(parents=True)
        for i in range(1, count + 1):
            colour = (hash((name, i)) % 255, 40, 90)
            Image.new("RGB", (40, 40), colour).save(folder / name / f"{name}_{i:04d}.jpg")
    (folder / "pairs.txt").write_text("\n".join(pairs) + "\n")
    return folder


def test_lfw_local_source_keeps_test_identities_out_of_train(tmp_path: Path) -> None:
    people = {"Ann": 2, "Bob": 2, "Cid": 1, "Dee": 3, "Eve": 3, "Fay": 3, "Gus": 3}
    folder = _lfw(tmp_path, people, ["2 1", "Ann 1 2", "Cid 1 Bob 1", "Bob 1 2", "Ann 1 Cid 1"])
    named = read_pairs_file(folder / "pairs.txt")
    assert [p.fold for p in named] == [0, 0, 1, 1] and [p.same for p in named] == [1, 0, 1, 0]
    source = SourceSpec(local=str(folder))
    splits = from_lfw(source, {**DATA, "pairs": {"dev": 4}, "folds": 2}, lambda n: None)
    test_people = {i.rsplit("_", 1)[0] for i in splits["test"].image_ids}
    train_people = {i.rsplit("_", 1)[0] for i in splits["train"].image_ids}
    dev_people = {i.rsplit("_", 1)[0] for i in splits["dev"].image_ids}
    assert test_people == {"Ann", "Bob", "Cid"}
    assert not test_people & train_people and not test_people & dev_people
    assert not train_people & dev_people
    test = splits["test"]
    assert test.pairs is not None and test.pairs.same.tolist() == [True, False, True, False]
    assert test.images.shape[1:] == (24, 24, 3)


def test_malformed_pairs_line_names_the_file_and_line(tmp_path: Path) -> None:
    bad = _lfw(tmp_path, {"Ann": 2}, ["1 1", "Ann 1 2", "Ann one Bob 1"])
    with pytest.raises(SeqbenchError, match=r"pairs.txt:3: image numbers must be integers"):
        read_pairs_file(bad / "pairs.txt")
    (bad / "pairs.txt").write_text("1 1\nAnn 1\nAnn 1 Bob 1\n")
    with pytest.raises(SeqbenchError, match=r"pairs.txt:2: expected `name i j`"):
        read_pairs_file(bad / "pairs.txt")


def test_image_missing_for_a_pair_is_named(tmp_path: Path) -> None:
    folder = _lfw(tmp_path, {"Ann": 1, "Bob": 1, "Dee": 2}, ["1 1", "Ann 1 2", "Ann 1 Bob 1"])
    with pytest.raises(SeqbenchError, match=r"Ann_0002.jpg named by pairs.txt is missing"):
        from_lfw(SourceSpec(local=str(folder)), DATA, lambda n: None)


def test_additive_angular_margin_lowers_only_the_true_class() -> None:
    cosine = torch.tensor([[0.5, 0.2], [0.1, 0.9]])
    out = add_angular_margin(cosine, torch.tensor([0, 1]), 0.5)
    assert out[0, 0] == pytest.approx(np.cos(np.arccos(0.5) + 0.5), abs=1e-5)
    assert out[1, 1] == pytest.approx(np.cos(np.arccos(0.9) + 0.5), abs=1e-5)
    assert out[0, 1] == cosine[0, 1] and out[1, 0] == cosine[1, 0]


def test_tiny_end_to_end_trains_evaluates_and_traces_the_gallery_search(
    prepared: Prepared,
) -> None:
    family = family_for(prepared.spec)
    torch.manual_seed(0)
    model = build_model(
        "face-embed",
        family.model_config(prepared.run.with_model("face-embed"), prepared),
        family="faces",
    )
    batch = next(family.batches(prepared, "train", 16, shuffle=True, seed=0))
    loss = family.loss(model, batch)
    loss.backward()
    assert torch.isfinite(loss) and model.centres.grad is not None
    tracer = Tracer()
    with ops.hooks(tracer):
        outcome = family.evaluate(model, prepared, "test", progress=False)
    test = family.split_data(prepared, "test")
    assert outcome.units == len(test) - 10  # 10 identities enrolled, the rest probe
    assert set(outcome.metrics) >= {"accuracy", "tar_at_far_1e-3", "rank1", "raw_pixel_accuracy"}
    assert len(outcome.breakdown["roc"]) == 21 and len(outcome.breakdown["thresholds"]) == 10
    trace = tracer.finish(samples=outcome.samples, units=outcome.units, unit="query")
    searches = [r for r in trace.records if r.op_class == "similarity_search"]
    assert searches and searches[0].shapes[1][0] == 10  # the gallery: one face per identity


def test_scaling_runs_each_size_in_bounded_chunks_and_finds_real_faces() -> None:
    gallery = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    probes = gallery + 0.01
    labels = np.arange(5)
    ran, skipped = scaling_table(gallery, labels, probes, labels, max_vectors=10_000, queries=5)
    assert [r.name for r in ran] == ["1K", "10K"]
    assert {s["name"] for s in skipped} >= {"100K", "1M"}
    for row in ran:
        searched = sum(r.shapes[1][0] for r in row.trace.records)
        assert searched == row.vectors and row.rank1 == 1.0
