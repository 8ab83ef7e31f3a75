"""What every translation (sequence-to-sequence) model shares: config checking, decoder state.

The interface every translation model implements (teacher forcing plus incremental decoding)::

    logits = model(src, tgt_in)              # [B,T,V]; tgt_in starts with bos
    state = model.start(src)                 # encode once
    logits, state = model.step(state, y_t)   # y_t: Long[B], the previous output token
    state = model.select(state, index)       # gather batch rows (beam expansion/reordering)
"""

from __future__ import annotations

import difflib
from typing import Any, Protocol

import torch
from torch import Tensor

# Accepted by every translation model, whether or not it uses them.
COMMON_DEFAULTS: dict[str, Any] = {"pad_id": 0, "bos_id": 2, "eos_id": 3}
REQUIRED = ("src_vocab_size", "tgt_vocab_size")

State = dict[str, Any]


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


def translation_options(
    config: dict[str, Any], defaults: dict[str, Any], model: str
) -> dict[str, Any]:
    """``defaults`` overridden by ``config``; unknown or missing keys raise ``ValueError``.

    A typo in a preset (``hiden_dim``) must fail loudly rather than silently train the default.
    """
    known = {**COMMON_DEFAULTS, **defaults}
    unknown = sorted(set(config) - set(known) - set(REQUIRED))
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, sorted(known) + list(REQUIRED), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown config key {key!r} for model {model!r}{hint}; "
            f"known keys: {', '.join(list(REQUIRED) + sorted(known))}"
        )
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"model {model!r} needs config key {missing[0]!r}")
    return {**known, **config}


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
