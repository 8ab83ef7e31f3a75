"""The Transformer (Vaswani et al. 2017): post-norm encoder-decoder from explicit ops.

``TransformerEncoder`` is reusable on its own (VQA, retrieval): it takes already-embedded
inputs and a key padding mask. ``Seq2SeqTransformer`` is the registered translation model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from seqbench import ops
from seqbench.models.attention import (
    KV,
    AddNorm,
    FeedForward,
    MultiHeadAttention,
    SinusoidalPositionalEncoding,
)
from seqbench.models.registry import register_model
from seqbench.models.seq2seq import Seq2SeqConfig, State, causal_mask, select_rows


class TransformerEncoderLayer(ops.Traced):
    """Self-attention then feed-forward, each followed by add & norm."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.add_norm_1 = AddNorm(d_model, dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.add_norm_2 = AddNorm(d_model, dropout)

    def forward(self, X: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """``X`` [B,L,d]; ``key_padding_mask`` bool [B,L], True = real token."""
        mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(1)
        Y = self.add_norm_1(X, self.self_attention(X, X, X, mask))
        return self.add_norm_2(Y, self.ffn(Y))


class TransformerEncoder(ops.Traced):
    """A stack of :class:`TransformerEncoderLayer`; adds no embeddings or positions itself."""

    def __init__(
        self, d_model: int, num_heads: int, num_layers: int, d_ff: int, dropout: float = 0.0
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers)
        )

    def forward(self, X: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """[B,L,d] -> [B,L,d]; ``key_padding_mask`` bool [B,L], True = real token."""
        for layer in self.layers:
            X = layer(X, key_padding_mask)
        return X


class TransformerDecoderLayer(ops.Traced):
    """Masked self-attention, cross-attention over the memory, feed-forward; add & norm each."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.add_norm_1 = AddNorm(d_model, dropout)
        self.cross_attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.add_norm_2 = AddNorm(d_model, dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.add_norm_3 = AddNorm(d_model, dropout)

    def forward(
        self,
        X: Tensor,
        memory_kv: KV,
        memory_mask: Tensor,
        self_mask: Tensor | None = None,
        past_kv: KV | None = None,
    ) -> tuple[Tensor, KV]:
        """New positions ``X`` [B,t,d] -> ([B,t,d], self-attention K/V cache incl. them).

        ``memory_kv``: the cross-attention's projected memory; ``memory_mask`` bool [B,1,S].
        """
        Y, present_kv = self.self_attention.forward_incremental(X, past_kv, self_mask)
        X = self.add_norm_1(X, Y)
        X = self.add_norm_2(X, self.cross_attention.attend(X, memory_kv, memory_mask))
        return self.add_norm_3(X, self.ffn(X)), present_kv


class TransformerDecoder(ops.Traced):
    """A stack of :class:`TransformerDecoderLayer` over embedded targets."""

    def __init__(
        self, d_model: int, num_heads: int, num_layers: int, d_ff: int, dropout: float = 0.0
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerDecoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers)
        )

    def project_memory(self, memory: Tensor) -> list[KV]:
        """Every layer's cross-attention K/V of ``memory`` [B,S,d] (computed once per source)."""
        return [layer.cross_attention.project_kv(memory, memory) for layer in self.layers]

    def forward(self, Y: Tensor, memory: Tensor, memory_padding_mask: Tensor) -> Tensor:
        """Teacher forcing: ``Y`` [B,T,d] causally over itself, ``memory`` [B,S,d]."""
        self_mask = causal_mask(Y.shape[1], Y.device)
        memory_mask = memory_padding_mask.unsqueeze(1)
        for layer, memory_kv in zip(self.layers, self.project_memory(memory), strict=True):
            Y, _ = layer(Y, memory_kv, memory_mask, self_mask)
        return Y

    def step(
        self, Y: Tensor, memory_kv: list[KV], memory_mask: Tensor, past_kv: list[KV] | None
    ) -> tuple[Tensor, list[KV]]:
        """The next position ``Y`` [B,1,d] against every layer's cached K/V; grows the cache."""
        present = []
        for i, layer in enumerate(self.layers):
            past = None if past_kv is None else past_kv[i]
            Y, kv = layer(Y, memory_kv[i], memory_mask, None, past)
            present.append(kv)
        return Y, present


@dataclass
class TransformerConfig(Seq2SeqConfig):
    """The translation Transformer's options (defaults: the SCAN-sized model)."""

    d_model: int = 128
    num_heads: int = 4
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    d_ff: int = 256
    dropout: float = 0.1
    max_len: int = 256  # positions of the sinusoidal table
    tie_output: bool = True  # the output projection reuses the target embedding
    use_cache: bool = True  # incremental decoding keeps K/V instead of rerunning the prefix


class Seq2SeqTransformer(ops.Traced):
    """Embeddings (scaled by sqrt(d)) + sinusoidal positions, encoder, decoder, output projection.

    ``tie_output`` shares the target embedding matrix with the output projection. Incremental
    decoding caches every layer's self-attention K/V and the memory's cross-attention K/V;
    with ``use_cache=False`` each step reruns the whole decoder over the prefix instead.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = cfg.pad_id, cfg.bos_id, cfg.eos_id
        self.use_cache = cfg.use_cache
        d_model, dropout = cfg.d_model, cfg.dropout
        self.scale = math.sqrt(d_model)
        self.src_embedding = ops.Embedding(cfg.src_vocab_size, d_model, padding_idx=cfg.pad_id)
        self.tgt_embedding = ops.Embedding(cfg.tgt_vocab_size, d_model, padding_idx=cfg.pad_id)
        self.positional_encoding = SinusoidalPositionalEncoding(d_model, cfg.max_len, dropout)
        self.encoder = TransformerEncoder(
            d_model, cfg.num_heads, cfg.num_encoder_layers, cfg.d_ff, dropout
        )
        self.decoder = TransformerDecoder(
            d_model, cfg.num_heads, cfg.num_decoder_layers, cfg.d_ff, dropout
        )
        if cfg.tie_output:
            # Tied functionally (no shared Parameter), so checkpoints hold no aliased tensors.
            self.output_bias = nn.Parameter(torch.zeros(cfg.tgt_vocab_size))
        else:
            self.output = ops.Linear(d_model, cfg.tgt_vocab_size)
        self.tie_output = cfg.tie_output
        self._init_weights(d_model)

    def _init_weights(self, d_model: int) -> None:
        for name, p in self.named_parameters():
            if p.dim() > 1 and "embedding" not in name:
                nn.init.xavier_uniform_(p)
        with torch.no_grad():
            for embedding in (self.src_embedding, self.tgt_embedding):
                # std d^-1/2, times sqrt(d) on lookup: unit-variance inputs and, tied, O(1) logits.
                nn.init.normal_(embedding.weight, std=d_model**-0.5)
                embedding.weight[self.pad_id].zero_()

    def embed(self, embedding: ops.Embedding, ids: Tensor, offset: int = 0) -> Tensor:
        """Scaled token embeddings plus positions ``offset..``: Long[B,L] -> [B,L,d]."""
        return self.positional_encoding(embedding(ids) * self.scale, offset)

    def project(self, Y: Tensor) -> Tensor:
        """Decoder states [..., d] -> logits [..., V]."""
        if self.tie_output:
            return ops.linear(
                Y, self.tgt_embedding.weight, self.output_bias, name="output_projection"
            )
        return self.output(Y)

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """Long[B,S] -> (memory [B,S,d], source mask bool [B,S], True = real token)."""
        src_mask = src != self.pad_id
        return self.encoder(self.embed(self.src_embedding, src), src_mask), src_mask

    def decode(self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor) -> Tensor:
        """Teacher-forced logits [B,T,V] of ``tgt_in`` Long[B,T] given the encoded source."""
        return self.project(self.decoder(self.embed(self.tgt_embedding, tgt_in), memory, src_mask))

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Long[B,S] x Long[B,T] -> logits [B,T,V]; causal over ``tgt_in``."""
        return self.decode(tgt_in, *self.encode(src))

    def start(self, src: Tensor, use_cache: bool | None = None) -> State:
        """Encode ``src`` once; the state ``step`` continues from."""
        memory, src_mask = self.encode(src)
        if not (self.use_cache if use_cache is None else use_cache):
            prefix = src.new_empty(src.shape[0], 0)
            return {"memory": memory, "src_mask": src_mask, "prefix": prefix}
        memory_kv = self.decoder.project_memory(memory)
        memory_mask = src_mask.unsqueeze(1)
        return {"memory_kv": memory_kv, "memory_mask": memory_mask, "past_kv": None, "t": 0}

    def step(self, state: State, tokens: Tensor) -> tuple[Tensor, State]:
        """Feed ``tokens`` Long[B] (the previous outputs); returns (logits [B,V], new state)."""
        if "prefix" in state:
            prefix = torch.cat([state["prefix"], tokens.unsqueeze(1)], dim=1)
            logits = self.decode(prefix, state["memory"], state["src_mask"])[:, -1]
            return logits, {**state, "prefix": prefix}
        t = state["t"]
        Y = self.embed(self.tgt_embedding, tokens.unsqueeze(1), offset=t)
        Y, past_kv = self.decoder.step(
            Y, state["memory_kv"], state["memory_mask"], state["past_kv"]
        )
        return self.project(Y[:, 0]), {**state, "past_kv": past_kv, "t": t + 1}

    def select(self, state: State, index: Tensor) -> State:
        """Keep batch rows ``index`` Long[N] of every cached tensor."""
        return select_rows(state, index)


@register_model(
    "transformer", family="translation", description="post-norm Transformer encoder-decoder"
)
def build_transformer(config: dict[str, Any]) -> nn.Module:
    """Post-norm Transformer encoder-decoder with sinusoidal positions."""
    return Seq2SeqTransformer(TransformerConfig.from_dict(config, "transformer"))
