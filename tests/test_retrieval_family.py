"""The retrieval family end to end on the tiny preset: prepare, batches, loss, eval, trace, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from seqbench import ops
from seqbench.config import load_task
from seqbench.families.base import Prepared, family_for, split_data
from seqbench.models import build_model


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> None:
    """Tiny models run faster on one thread, and the test machine is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("retrieval")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQBENCH_HOME", str(path / "home"))
        patch.setenv("SEQBENCH_QUIET", "1")
        yield path


@pytest.fixture(scope="module")
def prepared(home: Path) -> Prepared:
    spec, subset = load_task("shapes-captions")
    prepared, cached = family_for(spec).prepare(spec, subset, "tiny")
    assert not cached
    return prepared


@pytest.fixture(scope="module")
def model(prepared: Prepared) -> torch.nn.Module:
    family = family_for(prepared.spec)
    torch.manual_seed(0)
    return build_model(
        "clip", family.model_config(prepared.run.with_model("clip"), prepared), family="retrieval"
    )


def test_prepare_writes_splits_and_is_cached(prepared: Prepared) -> None:
    splits = prepared.manifest["splits"]
    assert {k: v["size"] for k, v in splits.items()} == {"train": 96, "dev": 24, "test": 24}
    assert splits["test"]["captions"] == 24 * 5
    assert (prepared.directory / prepared.manifest["tokenizer"]["file"]).is_file()
    again, cached = family_for(prepared.spec).prepare(prepared.spec, None, "tiny")
    assert cached and again.directory == prepared.directory
    test = split_data(prepared, "test")
    assert test.images.shape == (24, 64, 64, 3) and test.images.dtype == np.uint8


def test_batches_cover_every_image_once_with_foils_together(prepared: Prepared) -> None:
    family = family_for(prepared.spec)
    batches = list(family.batches(prepared, "train", 32, shuffle=True, seed=1))
    assert sum(len(b.images) for b in batches) == 96
    images, captions = batches[0]
    assert images.shape == (32, 3, 64, 64) and images.min() >= -1 and images.max() <= 1
    assert captions.dtype == torch.long and captions.shape[0] == 32
    data = split_data(prepared, "train")
    order = np.concatenate(
        [
            [
                int(np.flatnonzero((data.images == x).all(axis=(1, 2, 3)))[0])
                for x in ((b.images.permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy()
            ]
            for b in batches
        ]
    )
    groups = data.groups[order]
    changes = int((groups[1:] != groups[:-1]).sum())
    assert changes == len(set(groups.tolist())) - 1, "each foil group is contiguous"
    other = list(family.batches(prepared, "train", 32, shuffle=True, seed=2))
    assert not torch.equal(batches[0].captions, other[0].captions)


def test_loss_is_finite_and_trains(prepared: Prepared, model: torch.nn.Module) -> None:
    family = family_for(prepared.spec)
    batch = next(family.batches(prepared, "train", 8, shuffle=False, seed=0))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = family.loss(model, batch)
    assert torch.isfinite(first) and first.item() == pytest.approx(np.log(8), abs=1.0)
    for _ in range(10):
        optimizer.zero_grad()
        loss = family.loss(model, batch)
        loss.backward()
        optimizer.step()
    assert family.loss(model, batch).item() < first.item() - 0.5


def test_evaluate_reports_recall_both_ways_and_traces_the_search(
    prepared: Prepared, model: torch.nn.Module
) -> None:
    class Recorder(ops.OpHook):
        def __init__(self) -> None:
            self.searches: list = []

        def record(self, op_class, name, inputs, output, meta) -> None:  # noqa: ANN001
            if op_class is ops.OpClass.SIMILARITY_SEARCH:
                self.searches.append((name, [tuple(t.shape) for t in inputs], meta["k"]))

    recorder = Recorder()
    family = family_for(prepared.spec)
    with ops.hooks(recorder):
        outcome = family.evaluate(model, prepared, "test", progress=False)
    keys = {"i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "rsum"}
    assert set(outcome.metrics) == keys
    assert outcome.primary == "rsum" and outcome.unit == "query"
    assert outcome.samples == 24 and outcome.units == 24 + 120
    assert outcome.signature.format().startswith("recall@k:vse++|captions:5|images:24|data:")
    assert all(0 <= v <= 100 for k, v in outcome.metrics.items() if k != "rsum")
    dim = outcome.breakdown["dim"]
    # text -> image: 120 caption queries over 24 images; image -> text: 24 over 120 captions.
    assert recorder.searches == [
        ("search.images", [(120, dim), (24, dim)], 10),
        ("search.captions", [(24, dim), (120, dim)], 10),
    ]
    limited = family.evaluate(model, prepared, "test", limit=8, progress=False)
    assert limited.samples == 8 and limited.breakdown["t2i"] == {"gallery": 8, "queries": 40}


def test_model_config_merges_preset_model_and_data_facts(prepared: Prepared) -> None:
    config = family_for(prepared.spec).model_config(prepared.run.with_model("clip"), prepared)
    assert config["image_encoder"] == "cnn" and config["embed_dim"] == 32
    assert config["image_size"] == 64 and config["pad_id"] == 0
    assert config["vocab_size"] == prepared.manifest["tokenizer"]["actual_vocab_size"]


def test_tiny_cli_train_eval_on_ice_and_report(home: Path, prepared: Prepared) -> None:
    from seqbench.cli.main import cli

    def invoke(*args: str):  # noqa: ANN202
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    result = invoke("train", "shapes-captions", "--model", "clip", "--preset", "tiny")
    assert result.exit_code == 0, result.output
    result = invoke(
        "eval",
        "--task",
        "shapes-captions",
        "--model",
        "clip",
        "--preset",
        "tiny",
        "--accel",
        "cpu,ice",
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(p.read_text()) for p in (home / "home" / "results").rglob("*.json")]
    assert {r["profile"] for r in records} == {"cpu", "ice"}
    assert all("t2i_r1" in r["quality"]["metrics"] for r in records)
    out = home / "boards"
    assert invoke("report", "--out", str(out)).exit_code == 0
    assert "shapes-captions" in (out / "retrieval.md").read_text()
    assert (out / "retrieval.csv").is_file()
