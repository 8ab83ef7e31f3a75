"""Dropout masks (seqbench.dropout): torch's by default, bit for bit; packed masks drop at the
asked rate, scale like torch's, are seeded, and are what ``dropout_masks: packed`` trains with;
``fused_optimizer`` gives the fused AdamW."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from seqbench import dropout, train
from seqbench.errors import SeqbenchError
from seqbench.families.runspec import DEFAULTS, TrainOptions, check_options
from seqbench.families.translation.family import TranslationFamily, make_batch
from seqbench.models import build_model

TINY_TRANSFORMER = {
    "src_vocab_size": 16,
    "tgt_vocab_size": 16,
    "pad_id": 0,
    "bos_id": 1,
    "eos_id": 2,
    "d_model": 16,
    "num_heads": 2,
    "num_encoder_layers": 1,
    "num_decoder_layers": 1,
    "d_ff": 32,
    "dropout": 0.1,
}


def _seeded(seed: int, f, *args):
    torch.manual_seed(seed)
    return f(*args)


def test_default_masks_are_torch_own() -> None:
    X = torch.randn(8, 33, 17)
    ours, theirs = dropout.Dropout(0.3), nn.Dropout(0.3)
    assert torch.equal(_seeded(0, ours, X), _seeded(0, theirs, X))
    with dropout.masks("bernoulli"):
        assert torch.equal(_seeded(0, ours, X), _seeded(0, theirs, X))


def test_packed_masks_drop_at_the_rate_and_scale_like_torch() -> None:
    X = torch.ones(400, 1000)
    layer = dropout.Dropout(0.1)
    with dropout.masks("packed"):
        Y = _seeded(0, layer, X)
        again = _seeded(0, layer, X)
        other_seed = _seeded(1, layer, X)
    dropped = float((Y == 0).float().mean())
    # 400,000 draws: the binomial standard deviation of the rate is 4.7e-4.
    assert abs(dropped - 0.1) < 3e-3
    assert torch.equal(Y.unique(), torch.tensor([0.0, 1.0 / 0.9]))
    assert torch.equal(Y, again)  # seeded by torch's generator
    assert not torch.equal(Y, other_seed)
    assert not torch.equal(Y, _seeded(0, nn.Dropout(0.1), X))  # other masks than torch's


def test_packed_keep_uses_every_slice_of_a_word() -> None:
    # An element per 16-bit slice: the top slice must drop as often as the others (a word
    # drawn with random_() alone has its sign bit 0, so its top slice would keep too often).
    torch.manual_seed(0)
    keep = dropout.packed_keep(torch.Size([4 * 50_000]), 0.5, torch.device("cpu"))
    rates = keep.view(-1, 4).float().mean(0)
    assert torch.all((rates - 0.5).abs() < 0.01), rates


def test_packed_dropout_gradient_is_the_mask() -> None:
    X = torch.randn(64, 50, requires_grad=True)
    with dropout.masks("packed"):
        Y = _seeded(3, dropout.Dropout(0.25), X)
    Y.sum().backward()
    expected = (Y != 0).float() / 0.75
    assert torch.allclose(X.grad, expected)


def test_packed_masks_leave_eval_and_edge_rates_alone() -> None:
    X = torch.randn(10, 10)
    with dropout.masks("packed"):
        assert torch.equal(dropout.Dropout(0.5).eval()(X), X)
        assert torch.equal(dropout.Dropout(0.0)(X), X)
        assert torch.equal(dropout.Dropout(1.0)(X), torch.zeros_like(X))


def test_masks_kind_is_checked_and_scoped() -> None:
    with pytest.raises(ValueError, match="one of bernoulli, packed"):
        with dropout.masks("fast"):
            pass
    X = torch.ones(100, 100)
    with dropout.masks("packed"):
        pass
    # After the block the default is back: torch's masks again.
    assert torch.equal(_seeded(0, dropout.Dropout(0.2), X), _seeded(0, nn.Dropout(0.2), X))


def test_training_options_are_checked() -> None:
    assert check_options({"dropout_masks": "packed"}, "here") == {"dropout_masks": "packed"}
    with pytest.raises(SeqbenchError, match="dropout_masks = 'fast' is not one of"):
        check_options({"dropout_masks": "fast"}, "here")
    with pytest.raises(SeqbenchError, match="fused_optimizer = 1 is not true or false"):
        check_options({"fused_optimizer": 1}, "here")
    default = TrainOptions.from_dict(DEFAULTS)
    assert default.dropout_masks == "bernoulli" and default.fused_optimizer is False
    assert "dropout_masks" not in default.to_dict()  # older runs keep their identity
    assert dataclasses.replace(default, family={"compile": True}).fused_optimizer is True


def _step_losses(opts: TrainOptions, steps: int = 3) -> list[float]:
    """Losses of ``steps`` of seqbench.train's step from the same seeded tiny transformer."""
    torch.manual_seed(0)
    model = build_model("transformer", TINY_TRANSFORMER, family="translation")
    optimizer = train.make_optimizer(model, opts)
    batch = make_batch([[3, 4, 5, 6], [7, 8, 9, 3]], [[5, 6, 7, 8], [9, 10, 11, 12]])
    model.train()
    return [
        train.train_step(
            TranslationFamily(), model, batch, optimizer, opts, "fp32", torch.device("cpu")
        ).item()
        for _ in range(steps)
    ]


def test_train_step_draws_the_masks_the_options_name(monkeypatch) -> None:
    default = TrainOptions.from_dict(DEFAULTS)
    packed = dataclasses.replace(default, family={"dropout_masks": "packed"})
    calls = []
    real = dropout.packed_dropout
    monkeypatch.setattr(dropout, "packed_dropout", lambda X, p: calls.append(p) or real(X, p))
    base = _step_losses(default)
    assert calls == []
    assert _step_losses(default) == base  # seeded: the same run again
    packed_losses = _step_losses(packed)
    assert calls and set(calls) == {0.1}
    assert packed_losses != base
    assert packed_losses[-1] < packed_losses[0]


def test_fused_optimizer_option_makes_a_fused_adamw() -> None:
    model = nn.Linear(4, 4)
    default = TrainOptions.from_dict(DEFAULTS)
    fused = dataclasses.replace(default, family={"fused_optimizer": True})
    assert not train.make_optimizer(model, default).defaults.get("fused")
    assert train.make_optimizer(model, fused).defaults["fused"] is True
