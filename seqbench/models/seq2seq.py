"""What every translation (sequence-to-sequence) model shares: its config, decoder state.

The interface every translation model implements (teacher forcing plus incremental decoding)::

    logits = model(src, tgt_in)              # [B,T,V]; tgt_in starts with bos
    state = model.start(src)                 # encode once
    logits, state = model.step(state, y_t)   # y_t: Long[B], the previous output token
    state = model.select(state, index)       # gather batch rows (beam expansion/reordering)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from seqbench.models.config import ModelConfig

State = dict[str, Any]


@dataclass
class Seq2SeqConfig(ModelConfig):
    """What every translation model takes: the vocabularies (from the data) and special ids."""

    src_vocab_size: int
    tgt_vocab_size: int
    pad_id: int = 0
    bos_id: int = 2
    eos_id: int = 3


class Seq2SeqModel(Protocol):
    """The incremental-decoding half of the translation interface (used by ``decode``)."""

    pad_id: int
    bos_id: int
    eos_id: int
    training: bool

    def start(self, src: Tensor) -> State: ...

    def step(self, state: State, tokens: Tensor) -> tuple[Tensor, State]: ...

    def select(self, state: State, index: Tensor) -> State: ...

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...


def select_rows(tree: Any, index: Tensor) -> Any:
    """Gather rows ``index`` along dim 0 of every tensor in a nested dict/list/tuple state."""
    if isinstance(tree, Tensor):
        return tree.index_select(0, index)
    if isinstance(tree, dict):
        return {k: select_rows(v, index) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(select_rows(v, index) for v in tree)
    return tree  # ints, flags: shared by every row


def causal_mask(length: int, device: torch.device | None = None) -> Tensor:
    """Bool [T,T], True where query position i may attend to key position j (j <= i)."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()
