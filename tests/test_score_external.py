"""Any model scored under a profile's effects at the ATen level: the small batches + metric
interface, and a transformers causal LM on a seqbench task through the family's evaluate."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from seqbench.accel.profile import load_named
from seqbench.score import score_batches, score_on_task


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def data():
    generator = torch.Generator().manual_seed(0)
    for _ in range(4):
        x = torch.randn(16, 8, generator=generator)
        yield x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def accuracy(outputs, targets) -> float:  # noqa: ANN001
    predictions, labels = torch.cat(outputs).argmax(-1), torch.cat(targets)
    return float((predictions == labels).float().mean())


def logits(outputs, targets) -> torch.Tensor:  # noqa: ANN001, ARG001
    return torch.cat(outputs)


def test_a_users_model_with_effects_off_scores_exactly_the_host():
    torch.manual_seed(0)
    model = Classifier()
    host = score_batches(model, data, accuracy)
    for name in ("retransformer", "multcim", "pipelayer"):
        profile = load_named(name)
        assert score_batches(model, data, accuracy, profile=profile, effects=False) == host
    # The outputs themselves, bit for bit: tracing alone changes nothing.
    plain = score_batches(model, data, logits)
    off = score_batches(model, data, logits, profile=load_named("pipelayer"), effects=False)
    assert torch.equal(plain, off)


def test_effects_change_a_users_model_outputs_as_they_change_a_reference_model():
    torch.manual_seed(0)
    model = Classifier()
    plain = score_batches(model, data, logits)
    crossbar = score_batches(model, data, logits, profile=load_named("pipelayer"))
    assert not torch.equal(plain, crossbar)  # ADC-quantised partial sums
    assert torch.allclose(plain, crossbar, atol=0.1)  # ... close to the exact product


def test_a_transformers_causal_lm_scored_on_pydoc_lm_with_and_without_effects():
    transformers = pytest.importorskip("transformers")
    from seqbench.external.adapters import adapt

    torch.manual_seed(0)
    sizes = {"n_positions": 32, "n_embd": 32, "n_layer": 1, "n_head": 2}
    config = transformers.GPT2Config(vocab_size=300, bos_token_id=0, eos_token_id=0, **sizes)
    config._attn_implementation = "eager"
    model = adapt(transformers.GPT2LMHeadModel(config), "lm", vocab_size=300)
    host = score_on_task(model, "pydoc-lm", preset="tiny", limit=8).metrics["perplexity"]
    profile = load_named("retransformer")
    off = score_on_task(model, "pydoc-lm", preset="tiny", profile=profile, effects=False, limit=8)
    assert off.metrics["perplexity"] == host
    on = score_on_task(model, "pydoc-lm", preset="tiny", profile=profile, limit=8)
    assert math.isfinite(on.metrics["perplexity"]) and on.metrics["perplexity"] != host
    assert abs(on.metrics["perplexity"] - host) < 0.05 * host


def test_a_model_no_adapter_fits_is_refused():
    from seqbench.errors import SeqbenchError
    from seqbench.external.adapters import adapt

    with pytest.raises(SeqbenchError, match="no adapter scores an external model"):
        adapt(Classifier(), "vqa")
