"""Greedy and beam-search decoding: cached == uncached, beam 1 == greedy, a known beam win."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from seqbench.decode import beam_search, greedy
from seqbench.models import build_model
from seqbench.models.seq2seq import select_rows

TINY: dict[str, dict[str, Any]] = {
    "rnn": {"emb_dim": 8, "hidden_dim": 16},
    "gru": {"emb_dim": 8, "hidden_dim": 16},
    "lstm": {"emb_dim": 8, "hidden_dim": 16},
    "gru-attn": {"emb_dim": 8, "hidden_dim": 16},
    "transformer": {
        "d_model": 16,
        "num_heads": 2,
        "num_encoder_layers": 2,
        "num_decoder_layers": 2,
        "d_ff": 32,
    },
}


def make(name: str, **overrides: Any) -> nn.Module:
    torch.manual_seed(0)
    return build_model(name, {"src_vocab_size": 11, "tgt_vocab_size": 9, **TINY[name], **overrides})


@pytest.fixture
def src() -> Tensor:
    src = torch.randint(4, 11, (6, 7), generator=torch.Generator().manual_seed(3))
    src[2, 3:] = 0
    src[4, 5:] = 0
    return src


def test_transformer_cached_greedy_equals_uncached(src: Tensor) -> None:
    models = [make("transformer", use_cache=use_cache) for use_cache in (True, False)]
    for model in models:
        with torch.no_grad():
            model.output_bias[:4] = -1e4  # no special ids: every row decodes all 12 steps
    cached, uncached = (greedy(model, src, max_len=12) for model in models)
    assert cached == uncached
    assert all(len(row) == 12 for row in cached)


@pytest.mark.parametrize("name", list(TINY))
def test_beam_of_one_equals_greedy(name: str, src: Tensor) -> None:
    model = make(name)
    assert beam_search(model, src, beam_size=1, max_len=10) == greedy(model, src, max_len=10)


@pytest.mark.parametrize("name", ["transformer", "gru-attn"])
def test_batched_beam_equals_one_row_at_a_time(name: str, src: Tensor) -> None:
    model = make(name).eval()
    batched = beam_search(model, src, beam_size=3, max_len=10)
    for i, row in enumerate(src):
        single = row[row != 0].unsqueeze(0)  # no padding when decoded alone
        assert beam_search(model, single, beam_size=3, max_len=10) == [batched[i]]


def test_outputs_hold_no_special_ids_and_respect_max_len(src: Tensor) -> None:
    model = make("gru")
    for out in (greedy(model, src, 4), beam_search(model, src, 3, 4)):
        assert len(out) == src.shape[0]
        assert all(len(row) <= 4 and not {0, 2, 3} & set(row) for row in out)


def test_mode_is_restored(src: Tensor) -> None:
    model = make("lstm").train()
    greedy(model, src, 3)
    beam_search(model, src, 2, 3)
    assert model.training
    model.eval()
    greedy(model, src, 3)
    assert not model.training


class BigramModel(nn.Module):
    """Next-token distribution depends only on the previous token: a hand-checkable model.

    Ids: pad 0, unk 1, bos 2, eos 3, a 4, b 5. From bos: a 0.6, b 0.4; after a: eos 0.4,
    a 0.3, b 0.3; after b: eos 1.0. Greedy says "a" (p=0.24), the best sequence is "b" (0.4).
    """

    pad_id, bos_id, eos_id = 0, 2, 3

    def __init__(self) -> None:
        super().__init__()
        table = torch.full((6, 6), 1e-9)
        table[2, 4], table[2, 5] = 0.6, 0.4
        table[4, 3], table[4, 4], table[4, 5] = 0.4, 0.3, 0.3
        table[5, 3] = 1.0
        table[3, 3] = table[0, 0] = table[1, 3] = 1.0
        self.register_buffer("log_table", table.log())

    def start(self, src: Tensor) -> dict[str, Tensor]:
        return {"rows": torch.arange(src.shape[0])}

    def step(self, state: dict[str, Tensor], tokens: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return self.log_table[tokens], state

    def select(self, state: dict[str, Tensor], index: Tensor) -> dict[str, Tensor]:
        return select_rows(state, index)


def test_beam_search_finds_the_more_likely_sequence() -> None:
    model, src = BigramModel(), torch.ones(2, 3, dtype=torch.long)
    assert greedy(model, src, 5) == [[4], [4]]
    assert beam_search(model, src, beam_size=2, max_len=5, length_penalty=0.0) == [[5], [5]]


def test_beam_size_must_be_positive(src: Tensor) -> None:
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(make("rnn"), src, beam_size=0, max_len=3)
