"""The translation family: prepare (cache, atomicity, sources), batches, loss, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from torch import Tensor, nn

from seqbench import paths
from seqbench.config import TaskSpec, load_task_spec
from seqbench.data import cache
from seqbench.errors import SeqbenchError
from seqbench.families.translation import family as translation
from seqbench.families.translation import prepare as translation_prepare
from seqbench.families.translation.family import Seq2SeqBatch, TranslationFamily


@pytest.fixture
def translation_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SEQBENCH_HOME", str(home))
    monkeypatch.setenv("SEQBENCH_QUIET", "1")
    return home


@pytest.fixture
def scan_spec() -> TaskSpec:
    return load_task_spec(paths.tasks_dir() / "scan.yaml")


@pytest.fixture
def family() -> TranslationFamily:
    return TranslationFamily()


def _spec_for(tmp_path: Path, source: dict) -> TaskSpec:
    """A small translation spec with ``source``, word tokenizers and a tiny preset."""
    raw = {
        "name": "toy",
        "family": "translation",
        "source": source,
        "tokenizer": {"model_type": "word", "vocab_size": 100},
        "metrics": ["bleu", "chrf"],
        "models": ["transformer"],
        "presets": {"tiny": {"max_train": None, "max_eval": None, "seed": 0}},
    }
    path = tmp_path / "toy.yaml"
    path.write_text(json.dumps(raw), "utf-8")
    return load_task_spec(path)


def test_prepare_scan_tiny_layout_and_manifest(
    translation_home: Path, scan_spec: TaskSpec, family: TranslationFamily
) -> None:
    prepared, cached = family.prepare(scan_spec, "simple", "tiny")
    assert not cached
    assert prepared.directory.is_relative_to(translation_home / "cache" / "scan__simple")
    m = prepared.manifest
    # A preset caps train and dev; the test split is always kept whole (4,182 official pairs).
    assert m["splits"] == {"train": 300, "dev": 50, "test": 4_182}
    assert m["official_sizes"] == {"train": 16_728, "test": 4_182}
    carved = m["assembly"]["carved_dev"]
    assert carved["train"] + carved["dev"] == carved["official_train"] == 16_728
    assert (m["tokenizer"]["src"]["vocab_size"], m["tokenizer"]["tgt"]["vocab_size"]) == (17, 10)
    assert m["max_len"] > m["lengths"]["test"]["tgt"]["max"]
    table = pq.read_table(prepared.directory / "train.parquet")
    assert table.column_names == ["src", "tgt", "src_ids", "tgt_ids"]
    for name in ("src.model", "tgt.model", "dev.parquet", "test.parquet"):
        assert name in m["files"]
    assert cache.verify(prepared.directory) is not None


def test_prepare_is_cached_then_forced(
    translation_home: Path, scan_spec: TaskSpec, family: TranslationFamily
) -> None:
    first, _ = family.prepare(scan_spec, "length", "tiny")
    again, cached = family.prepare(scan_spec, "length", "tiny")
    assert cached and again.directory == first.directory and again.fingerprint == first.fingerprint
    forced, cached = family.prepare(scan_spec, "length", "tiny", force=True)
    assert not cached and forced.fingerprint == first.fingerprint
    other, _ = family.prepare(scan_spec, "addprim_jump", "tiny")
    assert other.fingerprint != first.fingerprint


def test_corrupt_cache_is_rebuilt_with_a_warning(
    translation_home: Path,
    scan_spec: TaskSpec,
    family: TranslationFamily,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prepared, _ = family.prepare(scan_spec, "simple", "tiny")
    with (prepared.directory / "train.parquet").open("ab") as handle:
        handle.write(b"garbage")
    assert cache.verify(prepared.directory) is None
    rebuilt, cached = family.prepare(scan_spec, "simple", "tiny")
    assert not cached and rebuilt.directory == prepared.directory
    assert "corrupt" in capsys.readouterr().err
    assert cache.verify(rebuilt.directory) is not None


def test_interrupted_prepare_leaves_no_used_folder(
    translation_home: Path,
    scan_spec: TaskSpec,
    family: TranslationFamily,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_build = translation_prepare.build_cache

    def dies_half_way(tmp: Path, *args, **kwargs):
        (tmp / "train.parquet").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(translation_prepare, "build_cache", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        family.prepare(scan_spec, "simple", "tiny")
    task_dir = translation_home / "cache" / "scan__simple"
    assert [p for p in task_dir.iterdir() if not p.name.startswith(".")] == []

    # A killed process cannot clean up: its temp folder stays beside the final one.
    monkeypatch.setattr(translation_prepare, "build_cache", real_build)
    prepared, _ = family.prepare(scan_spec, "simple", "tiny")
    leftover = prepared.directory.with_name(f".{prepared.directory.name}.dead.tmp")
    leftover.mkdir()
    (leftover / "train.parquet").write_bytes(b"half")
    again, cached = family.prepare(scan_spec, "simple", "tiny")
    assert cached and again.directory == prepared.directory
    assert [e["fingerprint"] for e in cache.entries()] == [prepared.fingerprint]


def test_local_override_scan_files(
    translation_home: Path, tmp_path: Path, scan_spec: TaskSpec, family: TranslationFamily
) -> None:
    folder = tmp_path / "simple_split"
    folder.mkdir()
    lines = [f"IN: {c} OUT: {a}" for c, a in translation_pairs()]
    (folder / "tasks_train_simple.txt").write_text("\n".join(lines[:80]) + "\n", "utf-8")
    (folder / "tasks_test_simple.txt").write_text("\n".join(lines[80:]) + "\n", "utf-8")
    prepared, _ = family.prepare(scan_spec, "simple", "tiny", source_override=f"local:{folder}")
    assert prepared.manifest["official_sizes"] == {"train": 80, "test": 20}
    assert prepared.manifest["splits"] == {"train": 76, "dev": 4, "test": 20}
    assert "local" in prepared.manifest["source"]
    # Changing a source file changes the fingerprint.
    (folder / "tasks_test_simple.txt").write_text("\n".join(lines[81:]) + "\n", "utf-8")
    changed, cached = family.prepare(scan_spec, "simple", "tiny", source_override=f"local:{folder}")
    assert not cached and changed.fingerprint != prepared.fingerprint


def translation_pairs() -> list[tuple[str, str]]:
    from seqbench.data.generators.scan import pairs

    return pairs()[::200][:100]


def test_single_tsv_file_is_split(
    translation_home: Path, tmp_path: Path, family: TranslationFamily
) -> None:
    path = tmp_path / "fra.txt"
    path.write_text("".join(f"go {i}\tva {i}\tCC-BY\n" for i in range(100)), "utf-8")
    spec = _spec_for(tmp_path, {"local": str(path)})
    prepared, _ = family.prepare(spec, None, "tiny")
    assert prepared.manifest["splits"] == {"train": 90, "dev": 5, "test": 5}


def test_hub_source_through_load_dataset(
    translation_home: Path, tmp_path: Path, family: TranslationFamily
) -> None:
    folder = tmp_path / "m30k"
    folder.mkdir()
    for split, n in (("train", 40), ("validation", 6), ("test", 6)):
        rows = [json.dumps({"en": f"a dog {i}", "de": f"ein hund {i}"}) for i in range(n)]
        (folder / f"{split}.jsonl").write_text("\n".join(rows) + "\n", "utf-8")
    spec = _spec_for(tmp_path, {"hub": str(folder), "fields": {"src": "de", "tgt": "en"}})
    prepared, _ = family.prepare(spec, None, "tiny")
    assert prepared.manifest["splits"] == {"train": 40, "dev": 6, "test": 6}
    batch = next(family.batches(prepared, "test", 6, shuffle=False, seed=0))
    assert batch.src.shape[0] == 6


def test_unknown_tokenizer_type(
    translation_home: Path, tmp_path: Path, family: TranslationFamily
) -> None:
    spec = _spec_for(tmp_path, {"generator": "scan"})
    bad = TaskSpec(**{**spec.__dict__, "tokenizer": {"type": "bytes"}})
    with pytest.raises(SeqbenchError, match="unknown tokenizer type"):
        family.prepare(bad, None, "tiny")


def test_batches_and_loss(
    translation_home: Path, scan_spec: TaskSpec, family: TranslationFamily
) -> None:
    prepared, _ = family.prepare(scan_spec, "simple", "tiny")
    batches = list(family.batches(prepared, "train", 32, shuffle=True, seed=3))
    assert sum(b.src.shape[0] for b in batches) == 300
    again = list(family.batches(prepared, "train", 32, shuffle=True, seed=3))
    assert all(torch.equal(a.src, b.src) for a, b in zip(batches, again, strict=True))
    batch = batches[0]
    assert batch.src.dtype == torch.long and batch.tgt_in.shape == batch.tgt_out.shape
    assert (batch.tgt_in[:, 0] == 2).all()  # bos
    lengths = (batch.tgt_out != 0).sum(dim=1)
    assert (batch.tgt_out[torch.arange(len(lengths)), lengths - 1] == 3).all()  # eos last
    body = (batch.tgt_out[:, :-1] != 0) & (batch.tgt_out[:, :-1] != 3)  # tgt_in is shifted
    assert torch.equal(batch.tgt_in[:, 1:][body], batch.tgt_out[:, :-1][body])
    in_order = list(family.batches(prepared, "dev", 20, shuffle=False, seed=0))
    assert [b.src.shape[0] for b in in_order] == [20, 20, 10]

    class Uniform(nn.Module):
        def __init__(self, vocab: int) -> None:
            super().__init__()
            self.vocab = vocab
            self.bias = nn.Parameter(torch.zeros(vocab))

        def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
            return self.bias.expand(*tgt_in.shape, self.vocab)

    loss = family.loss(Uniform(10), batch)
    assert loss.shape == () and loss.item() == pytest.approx(torch.log(torch.tensor(10.0)).item())


def test_model_config_merges_preset_and_vocab(
    translation_home: Path, scan_spec: TaskSpec, family: TranslationFamily
) -> None:
    prepared, _ = family.prepare(scan_spec, "simple", "tiny")
    config = family.model_config(prepared.run.with_model("transformer"), prepared)
    assert config["src_vocab_size"] == 17 and config["tgt_vocab_size"] == 10
    assert (config["pad_id"], config["bos_id"], config["eos_id"]) == (0, 2, 3)
    assert config["d_model"] == 32 and config["dropout"] == 0.0
    assert "d_model" not in family.model_config(prepared.run.with_model("gru"), prepared)


def test_evaluate_tiny_untrained_transformer(
    translation_home: Path, scan_spec: TaskSpec, family: TranslationFamily
) -> None:
    from seqbench.models import build_model

    prepared, _ = family.prepare(scan_spec, "simple", "tiny")
    torch.manual_seed(0)
    config = family.model_config(prepared.run.with_model("transformer"), prepared)
    model = build_model("transformer", config, family="translation")
    outcome = family.evaluate(model, prepared, "test", limit=8, batch_size=3, progress=False)
    assert set(outcome.metrics) == {"bleu", "chrf", "exact_match"}
    assert outcome.primary == "exact_match" and outcome.samples == 8
    signature = outcome.signature.format()
    assert "nrefs:1" in signature and f"data:{prepared.fingerprint}" in signature
    assert "spm:word-17/10" in signature
    assert outcome.units > 0 and outcome.unit == "token" and outcome.wall_s > 0
    assert len(outcome.examples) == 3 and set(outcome.examples[0]) == {"src", "hyp", "ref"}
    beam = family.evaluate(model, prepared, "test", limit=4, beam=2, progress=False)
    assert beam.breakdown["decoder"] == "beam" and beam.samples == 4


def test_seq2seq_batch_moves_to_device() -> None:
    batch = translation.make_batch([[5, 6], [7]], [[4], [4, 5, 6]])
    moved = batch.to("cpu")
    assert isinstance(moved, Seq2SeqBatch)
    assert moved.tgt_in.tolist() == [[2, 4, 0, 0], [2, 4, 5, 6]]
    assert moved.tgt_out.tolist() == [[4, 3, 0, 0], [4, 5, 6, 3]]
    assert moved.src.tolist() == [[5, 6], [7, 0]]


@pytest.mark.parametrize("task", ["scan", "multi30k", "wmt14-de-en"])
def test_every_spec_preset_builds_every_model(task: str, family: TranslationFamily) -> None:
    from seqbench.families.base import Prepared, run_spec
    from seqbench.models import build_model

    spec = load_task_spec(paths.tasks_dir() / f"{task}.yaml")
    assert spec.family == "translation" and spec.metrics[0] in translation.METRICS
    manifest = {"tokenizer": {"src": {"vocab_size": 20}, "tgt": {"vocab_size": 20}}}
    for preset in ("tiny", "quick", "full"):
        prepared = Prepared(run_spec(spec, None, preset), Path("unused"), manifest)
        assert prepared.run.data["seed"] == 0
        for model in spec.models:
            config = family.model_config(prepared.run.with_model(model), prepared)
            assert isinstance(build_model(model, config, family="translation"), nn.Module)
