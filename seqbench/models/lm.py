"""Language models p(x_t | x_<t): a decoder-only Transformer and recurrent (RNN/LSTM) models.

Every LM implements one interface (used by the ``lm`` family and ``seqbench generate``)::

    logits = model(ids)                      # Long[B,T] -> [B,T,V], position t sees ids[:, :t+1]
    logits, state = model.prefill(ids)       # the prompt in one pass; state caches it
    logits, state = model.step(state, tok)   # one more token Long[B] -> [B,V]

``context`` is the longest sequence the model takes (the Transformer's position table).
Output projections are tied to the input embedding (Press & Wolf 2017), functionally, so
checkpoints hold no aliased tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from seqbench import ops
from seqbench.dropout import Dropout
from seqbench.models.attention import (
    KV,
    FeedForward,
    MultiHeadAttention,
    SinusoidalPositionalEncoding,
)
from seqbench.models.config import ModelConfig
from seqbench.models.registry import register_model
from seqbench.models.rnn import RecurrentStack

State = dict[str, Any]


@dataclass
class LMConfig(ModelConfig):
    """Every option a language model reads; ``vocab_size`` and ``context`` come from the data."""

    vocab_size: int
    context: int = 128  # tokens per training window and the longest input
    pad_id: int = 0
    bos_id: int = 2
    eos_id: int = 3
    dropout: float = 0.1
    # transformer-lm
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 512
    # rnn-lm, lstm-lm
    emb_dim: int = 128
    hidden_dim: int = 256
    rnn_layers: int = 1


def causal_mask(new: int, past: int, device: torch.device | None = None) -> Tensor:
    """Bool [new, past+new]: new position i (absolute past+i) may attend to keys 0..past+i."""
    return torch.ones(new, past + new, dtype=torch.bool, device=device).tril(diagonal=past)


class DecoderBlock(ops.Traced):
    """Pre-norm block: ``X + Attn(LN(X))`` then ``X + FFN(LN(X))``, attention causal."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm_1 = ops.LayerNorm(d_model)
        self.self_attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.norm_2 = ops.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.dropout = Dropout(dropout)

    def forward(self, X: Tensor, past_kv: KV | None) -> tuple[Tensor, KV]:
        """New positions ``X`` [B,t,d] after ``past_kv``'s; returns ([B,t,d], grown K/V)."""
        past = 0 if past_kv is None else past_kv[0].shape[2]
        mask = causal_mask(X.shape[1], past, X.device)
        Y, present = self.self_attention.forward_incremental(self.norm_1(X), past_kv, mask)
        X = ops.elementwise("add", X, self.dropout(Y), name=f"{self.trace_name}.add_1")
        Y = self.ffn(self.norm_2(X))
        return ops.elementwise("add", X, self.dropout(Y), name=f"{self.trace_name}.add_2"), present


class TransformerLM(ops.Traced):
    """Token embedding (x sqrt(d)) + sinusoidal positions, causal pre-norm blocks, final norm,
    tied output projection; keys and values are cached for generation."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.context = cfg.context
        self.scale = math.sqrt(cfg.d_model)
        self.embedding = ops.Embedding(cfg.vocab_size, cfg.d_model)
        self.positions = SinusoidalPositionalEncoding(cfg.d_model, cfg.context, cfg.dropout)
        self.blocks = nn.ModuleList(
            DecoderBlock(cfg.d_model, cfg.num_heads, cfg.d_ff, cfg.dropout)
            for _ in range(cfg.num_layers)
        )
        self.norm = ops.LayerNorm(cfg.d_model)
        self.output_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        for name, p in self.named_parameters():
            if p.dim() > 1 and "embedding" not in name:
                nn.init.xavier_uniform_(p)
        nn.init.normal_(self.embedding.weight, std=cfg.d_model**-0.5)

    def _run(self, ids: Tensor, past: list[KV] | None) -> tuple[Tensor, list[KV]]:
        offset = 0 if past is None else past[0][0].shape[2]
        X = self.positions(self.embedding(ids) * self.scale, offset)
        present = []
        for i, block in enumerate(self.blocks):
            X, kv = block(X, None if past is None else past[i])
            present.append(kv)
        logits = ops.linear(
            self.norm(X), self.embedding.weight, self.output_bias, name="output_projection"
        )
        return logits, present

    def forward(self, ids: Tensor) -> Tensor:
        """Long[B,T] -> logits [B,T,V] (T <= context)."""
        return self._run(ids, None)[0]

    def prefill(self, ids: Tensor) -> tuple[Tensor, State]:
        """The prompt Long[B,T] in one pass: (logits [B,T,V], the K/V cache)."""
        logits, kv = self._run(ids, None)
        return logits, {"kv": kv}

    def step(self, state: State, tokens: Tensor) -> tuple[Tensor, State]:
        """One token per row Long[B] against the cache: (logits [B,V], grown cache)."""
        logits, kv = self._run(tokens.unsqueeze(1), state["kv"])
        return logits[:, -1], {"kv": kv}


class RecurrentLM(ops.Traced):
    """Embedding, a recurrent stack (RNN or LSTM), a projection to the embedding width when
    it differs, tied output projection. The state is the stack's per-layer state."""

    def __init__(self, cfg: LMConfig, cell: str):
        super().__init__()
        self.context = cfg.context
        self.embedding = ops.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.rnn = RecurrentStack(cell, cfg.emb_dim, cfg.hidden_dim, cfg.rnn_layers, cfg.dropout)
        self.bridge = (
            ops.Linear(cfg.hidden_dim, cfg.emb_dim) if cfg.hidden_dim != cfg.emb_dim else None
        )
        self.dropout = Dropout(cfg.dropout)
        self.output_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)

    def _project(self, H: Tensor) -> Tensor:
        H = self.dropout(H)
        if self.bridge is not None:
            H = self.bridge(H)
        return ops.linear(H, self.embedding.weight, self.output_bias, name="output_projection")

    def prefill(self, ids: Tensor) -> tuple[Tensor, State]:
        """Long[B,T] -> (logits [B,T,V], the final states)."""
        H, finals, _ = self.rnn(self.dropout(self.embedding(ids)))
        return self._project(H), {"states": finals}

    def forward(self, ids: Tensor) -> Tensor:
        return self.prefill(ids)[0]

    def step(self, state: State, tokens: Tensor) -> tuple[Tensor, State]:
        H, states = self.rnn.step(self.embedding(tokens), state["states"])
        return self._project(H), {"states": states}


@register_model("transformer-lm", family="lm", description="decoder-only causal Transformer LM")
def build_transformer_lm(config: dict[str, Any]) -> nn.Module:
    """Decoder-only Transformer language model with a K/V cache and tied embeddings."""
    return TransformerLM(LMConfig.from_dict(config, "transformer-lm"))


@register_model("lstm-lm", family="lm", description="LSTM language model, tied embeddings")
def build_lstm_lm(config: dict[str, Any]) -> nn.Module:
    """LSTM language model."""
    return RecurrentLM(LMConfig.from_dict(config, "lstm-lm"), "lstm")


@register_model("rnn-lm", family="lm", description="Elman RNN language model, tied embeddings")
def build_rnn_lm(config: dict[str, Any]) -> nn.Module:
    """Elman RNN language model."""
    return RecurrentLM(LMConfig.from_dict(config, "rnn-lm"), "rnn")
