"""The lm family and language models: topic split, sources, perplexity, causality, K/V cache,
generation, trace phases and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from torch import Tensor, nn

from seqbench import ops, paths
from seqbench.cli.main import cli
from seqbench.config import TaskSpec, load_task_spec
from seqbench.errors import SeqbenchError
from seqbench.families.lm import sources
from seqbench.families.lm.family import LMFamily, windows
from seqbench.families.lm.generate import Sampling, generate
from seqbench.families.lm.kneser_ney import KneserNeyTrigram
from seqbench.models.registry import build_model
from seqbench.trace import Tracer

TINY = {
    "context": 16,
    "d_model": 16,
    "num_heads": 2,
    "num_layers": 2,
    "d_ff": 32,
    "emb_dim": 16,
    "hidden_dim": 24,
    "dropout": 0.0,
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def family() -> LMFamily:
    return LMFamily()


def _spec(tmp_path: Path, source: dict, vocab: int = 60, max_eval: int | None = None) -> TaskSpec:
    raw = {
        "name": "toy-lm",
        "family": "lm",
        "source": source,
        "tokenizer": {"vocab_size": vocab},
        "metrics": ["perplexity"],
        "models": ["transformer-lm"],
        "presets": {
            "tiny": {"max_train": None, "max_eval": max_eval, "seed": 0, "model": {"context": 8}}
        },
    }
    path = tmp_path / "toy-lm.yaml"
    path.write_text(json.dumps(raw), "utf-8")
    return load_task_spec(path)


def _paragraphs(n: int, seed: int = 0) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "away", "home"]
    return [
        " ".join(words[int(i)] for i in torch.randint(len(words), (20,), generator=g))
        for _ in range(n)
    ]


def _model(name: str, vocab: int = 50) -> nn.Module:
    torch.manual_seed(0)
    return build_model(name, {**TINY, "vocab_size": vocab}).eval()


# --- the pydoc-lm split -------------------------------------------------------------------


def test_pydoc_topics_split_by_topic_without_leakage() -> None:
    docs = sources.pydoc_topics()
    split = sources.split_documents(docs, seed=0)
    titles = {s: {t for t, _ in d} for s, d in split.items()}
    assert not titles["train"] & titles["dev"]
    assert not titles["train"] & titles["test"]
    assert not titles["dev"] & titles["test"]
    assert sum(map(len, titles.values())) == len(docs) == len({t for t, _ in docs})
    total = sum(len(t) for _, t in docs)
    for held in ("dev", "test"):
        assert 0.03 < sum(len(t) for _, t in split[held]) / total < 0.07
    assert split == sources.split_documents(docs, seed=0)  # deterministic


def test_topics_that_share_text_stay_in_one_split() -> None:
    """pydoc's `compound` topic contains `if`, `while`, `try`...: no held-out line (of 60+
    characters) may also be a train line."""
    split = sources.split_documents(sources.pydoc_topics(), seed=0)

    def lines(split_name: str) -> set[str]:
        return {
            line.strip()
            for _, text in split[split_name]
            for line in text.splitlines()
            if len(line.strip()) >= 60
        }

    assert not lines("train") & (lines("dev") | lines("test"))
    assert not lines("dev") & lines("test")
    groups = sources.text_groups(sources.pydoc_topics())
    names = [t for t, _ in sources.pydoc_topics()]
    assert any({"compound", "if", "while"} <= {names[i] for i in g} for g in groups)


def test_prepare_pydoc_tiny_trains_the_tokenizer_on_train_only(
    home: Path, family: LMFamily
) -> None:
    spec = load_task_spec(paths.tasks_dir() / "pydoc-lm.yaml")
    prepared, cached = family.prepare(spec, None, "tiny")
    m = prepared.manifest
    assert not cached and m["splits"]["train"] == 6 and m["splits"]["dev"] >= 1
    docs = m["documents"]
    assert not set(docs["train"]) & (set(docs["dev"]) | set(docs["test"]))
    # The SentencePiece training text is exactly the (capped) train topics.
    assert m["tokens"]["test"] == len(family.split_data(prepared, "test")) - 1
    assert m["tokenizer"]["file"] == "spm.model" and m["characters"]["test"] > 0


# --- sources ------------------------------------------------------------------------------


def test_hub_shaped_parquet_folder(home: Path, tmp_path: Path, family: LMFamily) -> None:
    folder = tmp_path / "wikitext"
    folder.mkdir()
    for split, n in (("train", 12), ("validation", 3), ("test", 3)):
        rows = []
        for i in range(n):
            rows += [f" = Article {split} {i} = \n", *[p + " \n" for p in _paragraphs(2, i)]]
        pq.write_table(pa.table({"text": rows}), folder / f"{split}-00000-of-00001.parquet")
    spec = _spec(tmp_path, {"hub": str(folder)})
    prepared, _ = family.prepare(spec, None, "tiny")
    assert prepared.manifest["splits"] == {"train": 12, "dev": 3, "test": 3}
    assert prepared.manifest["documents"]["test"][0] == "Article test 0"


def test_max_eval_caps_dev_documents_but_never_the_test_split(
    home: Path, tmp_path: Path, family: LMFamily
) -> None:
    folder = tmp_path / "wikitext"
    folder.mkdir()
    for split, n in (("train", 6), ("validation", 4), ("test", 4)):
        rows = [f" = Article {split} {i} = \n{_paragraphs(1, i)[0]} \n" for i in range(n)]
        pq.write_table(pa.table({"text": rows}), folder / f"{split}-00000-of-00001.parquet")
    prepared, _ = family.prepare(_spec(tmp_path, {"hub": str(folder)}, max_eval=1), None, "tiny")
    assert prepared.manifest["splits"] == {"train": 6, "dev": 1, "test": 4}


def test_local_txt_single_file_is_split_by_paragraph(
    home: Path, tmp_path: Path, family: LMFamily
) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(_paragraphs(40)), "utf-8")
    prepared, _ = family.prepare(_spec(tmp_path, {"local": str(path)}), None, "tiny")
    sizes = prepared.manifest["splits"]
    assert sum(sizes.values()) == 40 and 2 <= sizes["dev"] <= 3 and 2 <= sizes["test"] <= 3


def test_empty_text_file_fails_clearly(home: Path, tmp_path: Path, family: LMFamily) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("  \n", "utf-8")
    with pytest.raises(SeqbenchError, match="empty.txt is empty"):
        family.prepare(_spec(tmp_path, {"local": str(path)}), None, "tiny")


def test_offline_hub_fails_with_the_local_alternative(
    home: Path, tmp_path: Path, family: LMFamily, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    spec = _spec(tmp_path, {"hub": "Salesforce/wikitext", "config": "wikitext-2-raw-v1"})
    with pytest.raises(SeqbenchError, match="offline.*--source local:PATH"):
        family.prepare(spec, None, "tiny")


# --- scoring ------------------------------------------------------------------------------


class Uniform(nn.Module):
    """Equal logits for every token: perplexity must be the vocabulary size."""

    def __init__(self, vocab: int):
        super().__init__()
        self.vocab, self.context = vocab, 8
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, ids: Tensor) -> Tensor:
        return torch.zeros(*ids.shape, self.vocab)


def test_uniform_model_perplexity_is_the_vocabulary_size(
    home: Path, tmp_path: Path, family: LMFamily
) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(_paragraphs(40)), "utf-8")
    prepared, _ = family.prepare(_spec(tmp_path, {"local": str(path)}), None, "tiny")
    vocab = prepared.manifest["tokenizer"]["vocab_size"]
    outcome = family.evaluate(Uniform(vocab), prepared, "test", progress=False)
    assert outcome.metrics["perplexity"] == pytest.approx(vocab, rel=1e-5)
    assert outcome.breakdown["whole_stream"] and outcome.breakdown["stride"] == 4
    tokens, chars = outcome.breakdown["tokens_scored"], prepared.manifest["characters"]["test"]
    assert outcome.metrics["bpc"] == pytest.approx(tokens * math.log2(vocab) / chars, rel=1e-5)
    # The trigram fitted on in-domain text beats the uniform model.
    assert outcome.metrics["kn3_perplexity"] < vocab
    assert outcome.lower_is_better and outcome.gain == -outcome.score


@pytest.mark.parametrize(("length", "context", "stride"), [(50, 8, 4), (9, 8, 8), (30, 7, 3)])
def test_windows_score_every_target_once(length: int, context: int, stride: int) -> None:
    scored = []
    for w in windows(length, context, stride):
        assert w.end - w.begin <= context and w.scored >= 1
        scored += range(w.end - w.scored + 1, w.end + 1)
    assert scored == list(range(1, length))


def test_kneser_ney_distributions_sum_to_one() -> None:
    stream = [int(x) for x in torch.randint(12, (400,), generator=torch.Generator().manual_seed(1))]
    kn = KneserNeyTrigram(stream, vocab_size=15)  # ids 12..14 never seen
    for u, v in ((stream[0], stream[1]), (3, 4), (-1, 13), (14, 14)):
        assert sum(kn.prob(u, v, w) for w in range(15)) == pytest.approx(1.0, abs=1e-9)
    assert kn.prob(-1, 13, 14) > 0
    nll, n = kn.nll(stream[:50])
    assert n == 49 and nll > 0


# --- models -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["transformer-lm", "lstm-lm", "rnn-lm"])
def test_changing_a_later_token_never_changes_an_earlier_output(name: str) -> None:
    model = _model(name)
    ids = torch.randint(4, 50, (2, 12), generator=torch.Generator().manual_seed(0))
    changed = ids.clone()
    changed[:, 7] = (changed[:, 7] + 5) % 50
    a, b = model(ids), model(changed)
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-6)
    assert not torch.allclose(a[:, 7:], b[:, 7:])


@pytest.mark.parametrize("name", ["transformer-lm", "lstm-lm"])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_cached_generation_equals_uncached(name: str, temperature: float) -> None:
    model = _model(name)
    sampling = Sampling(max_tokens=10, temperature=temperature, top_k=5, seed=3, stop_at_eos=False)
    cached = generate(model, [5, 6, 7], sampling)
    uncached = generate(model, [5, 6, 7], sampling, use_cache=False)
    assert cached == uncached and len(cached) == 10


def test_incremental_logits_match_the_full_pass() -> None:
    model = _model("transformer-lm")
    ids = torch.randint(4, 50, (2, 10), generator=torch.Generator().manual_seed(2))
    full = model(ids)
    logits, state = model.prefill(ids[:, :6])
    steps = [logits[:, -1]]
    for t in range(6, 10):
        step_logits, state = model.step(state, ids[:, t])
        steps.append(step_logits)
    assert torch.allclose(torch.stack(steps[:-1], 1), full[:, 5:9], atol=1e-5)


def test_generation_trace_keeps_prefill_and_decode_apart() -> None:
    tracer = Tracer(stats=False)
    with ops.hooks(tracer):
        generate(_model("transformer-lm"), [5, 6, 7, 8], Sampling(4, 0.0, 0, 0, False))
    phases = {r.meta.get("phase") for r in tracer._records.values()}
    assert phases == {"prefill", "decode"}
    qk = [r for r in tracer._records.values() if r.name.endswith(".qk")]
    prefill = [r for r in qk if r.meta["phase"] == "prefill"]
    assert all(r.dims["m"] == 5 for r in prefill)  # bos + 4 prompt tokens at once
    assert {r.dims["m"] for r in qk if r.meta["phase"] == "decode"} == {1}


def test_tied_output_projection_has_no_separate_weight() -> None:
    model = _model("transformer-lm")
    shapes = [tuple(p.shape) for n, p in model.named_parameters() if "output" in n]
    assert shapes == [(50,)]  # only the bias: the weight is the embedding


# --- bad input ----------------------------------------------------------------------------


def test_prompt_longer_than_the_context_is_refused() -> None:
    with pytest.raises(SeqbenchError, match="context of 16"):
        generate(_model("transformer-lm"), list(range(4, 14)), Sampling(max_tokens=10))
    with pytest.raises(SeqbenchError, match="shorten the prompt"):
        generate(_model("transformer-lm"), list(range(4, 24)), Sampling(max_tokens=1))


def test_generate_cli_rejects_unknown_and_non_lm_models(home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["generate", "--model", "transfomer-lm", "--prompt", "x"])
    assert result.exit_code == 2 and "did you mean 'transformer-lm'" in result.output
    result = runner.invoke(cli, ["generate", "--model", "gru", "--prompt", "x"])
    assert result.exit_code == 2 and "needs a language model" in result.output


def test_eval_record_prices_prefill_and_decode_separately(home: Path) -> None:
    from seqbench.stages import eval_task

    (record,) = eval_task("pydoc-lm", "transformer-lm", "tiny", accels="cpu")
    phases = record["simulated"]["phases"]
    # Two traced prompts of 15 tokens + bos, then 16 generated tokens each (context 32).
    assert (phases["prefill"]["units"], phases["decode"]["units"]) == (32, 32)
    assert phases["decode"]["samples"] == 2 and phases["decode"]["energy_J_per_unit"] > 0
    assert record["quality"]["breakdown"]["context"] == 32
    assert record["quality"]["breakdown"]["stride"] == 16
    assert record["quality"]["metrics"]["kn3_perplexity"] > 1
