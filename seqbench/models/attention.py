"""Attention building blocks from explicit ops: multi-head (scaled dot-product) and additive.

Every product goes through :mod:`seqbench.ops`, so the trace sees Q.K^T and S.V as
``matmul_dynamic`` ops and the projections as ``matmul_static`` ones.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from seqbench import ops
from seqbench.dropout import Dropout

KV = tuple[Tensor, Tensor]  # keys and values with heads split: [B, h, L, d_head] each


class MultiHeadAttention(ops.Traced):
    """``W_o concat_i softmax(Q_i K_i^T / sqrt(d_head)) V_i`` with ``Q_i = X W_q^i`` etc.

    ``mask`` (bool, True = may attend) is broadcastable to [B, Lq, Lk]. The K/V projections
    can be computed once (:meth:`project_kv`) and reused: precomputed memory K/V for
    cross-attention, a growing cache for incremental self-attention (:meth:`forward_incremental`).
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model {d_model} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.W_q = ops.Linear(d_model, d_model, bias=bias)
        self.W_k = ops.Linear(d_model, d_model, bias=bias)
        self.W_v = ops.Linear(d_model, d_model, bias=bias)
        self.W_o = ops.Linear(d_model, d_model, bias=bias)
        self.dropout = Dropout(dropout)
        self.attention_weights: Tensor | None = None  # [B, h, Lq, Lk] of the last call

    def split_heads(self, X: Tensor) -> Tensor:
        """[B, L, d] -> [B, h, L, d/h]."""
        B, L, d = X.shape
        return X.view(B, L, self.num_heads, d // self.num_heads).transpose(1, 2)

    def merge_heads(self, X: Tensor) -> Tensor:
        """[B, h, L, d/h] -> [B, L, d]."""
        B, h, L, d_head = X.shape
        return X.transpose(1, 2).reshape(B, L, h * d_head)

    def project_kv(self, keys: Tensor, values: Tensor) -> KV:
        """Projected, head-split keys and values: ([B,h,Lk,d/h], [B,h,Lk,d/h])."""
        return self.split_heads(self.W_k(keys)), self.split_heads(self.W_v(values))

    def attend(self, queries: Tensor, kv: KV, mask: Tensor | None = None) -> Tensor:
        """Attention of ``queries`` [B,Lq,d] over already projected ``kv``; returns [B,Lq,d]."""
        Q = self.split_heads(self.W_q(queries))
        K, V = kv
        if mask is not None:
            mask = mask.unsqueeze(-3)  # broadcast over heads
        # Dropout sits on the attended values: the op fuses softmax and .V, leaving no hook
        # between them for dropout on the weights themselves.
        context, self.attention_weights = ops.scaled_dot_product_attention(
            Q, K, V, mask, name=self.trace_name
        )
        return self.W_o(self.merge_heads(self.dropout(context)))

    def forward(
        self, queries: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None
    ) -> Tensor:
        """[B,Lq,d] x [B,Lk,d] x [B,Lk,d] -> [B,Lq,d]."""
        return self.attend(queries, self.project_kv(keys, values), mask)

    def forward_incremental(
        self, X: Tensor, past_kv: KV | None, mask: Tensor | None = None
    ) -> tuple[Tensor, KV]:
        """Self-attention of new positions ``X`` [B,t,d] over the cached ones plus themselves.

        Only the new positions are projected; returns (output [B,t,d], the grown cache).
        """
        K, V = self.project_kv(X, X)
        if past_kv is not None:
            K, V = torch.cat([past_kv[0], K], dim=2), torch.cat([past_kv[1], V], dim=2)
        return self.attend(X, (K, V), mask), (K, V)


class AdditiveAttention(ops.Traced):
    """Bahdanau attention: ``score_j = w_v^T tanh(W_q s + W_k h_j)``, softmax over ``j``.

    The keys' projection ``W_k H`` is the same at every decoder step: compute it once with
    :meth:`project_keys` and pass it in.
    """

    def __init__(self, query_dim: int, key_dim: int, hidden: int):
        super().__init__()
        self.W_q = ops.Linear(query_dim, hidden, bias=False)
        self.W_k = ops.Linear(key_dim, hidden, bias=False)
        self.w_v = ops.Linear(hidden, 1, bias=False)
        self.attention_weights: Tensor | None = None  # [B, Lk] of the last call

    def project_keys(self, keys: Tensor) -> Tensor:
        """``W_k H``: [B,Lk,key_dim] -> [B,Lk,hidden]."""
        return self.W_k(keys)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor | None = None,
        projected_keys: Tensor | None = None,
        *,
        padding: Tensor | None = None,
        has_empty_row: bool = True,
    ) -> tuple[Tensor, Tensor]:
        """Context ``sum_j a_j v_j`` for one query per row.

        ``query`` [B,q], ``keys`` [B,Lk,k], ``values`` [B,Lk,v], ``mask`` bool [B,Lk]
        (True = real position); ``projected_keys`` is ``project_keys(keys)`` when cached.
        A decoder calling once per step may pass ``padding`` (``~mask``, inverted once) and
        ``has_empty_row=False`` when every row has a real position: the same result with two
        kernels fewer per step. Returns (context [B,v], attention_weights [B,Lk]).
        """
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        features = ops.elementwise(
            "add", self.W_q(query).unsqueeze(1), projected_keys, name=f"{self.trace_name}.add"
        )
        features = ops.elementwise("tanh", features, name=f"{self.trace_name}.tanh")
        scores = self.w_v(features).squeeze(-1)
        if padding is None and mask is not None:
            padding = ~mask
        if padding is not None:
            scores = scores.masked_fill(padding, float("-inf"))
        weights = ops.softmax(scores, dim=-1, name=f"{self.trace_name}.softmax")
        if has_empty_row:
            weights = torch.nan_to_num(weights, nan=0.0)  # an all-pad row attends to nothing
        self.attention_weights = weights
        context = ops.matmul(weights.unsqueeze(1), values, name=f"{self.trace_name}.sv")
        return context.squeeze(1), weights


class SinusoidalPositionalEncoding(ops.Traced):
    """``X + P`` with ``P[t, 2i] = sin(t / 10000^(2i/d))``, ``P[t, 2i+1] = cos(...)``."""

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0):
        super().__init__()
        t = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        inv_freq = torch.exp(
            torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(1e4) / d_model)
        )
        P = torch.zeros(max_len, d_model)
        P[:, 0::2] = torch.sin(t * inv_freq)
        P[:, 1::2] = torch.cos(t * inv_freq[: d_model // 2])
        self.register_buffer("P", P, persistent=False)
        self.max_len = max_len
        self.dropout = Dropout(dropout)

    def forward(self, X: Tensor, offset: int = 0) -> Tensor:
        """``X`` [B,L,d] holding positions ``offset .. offset+L-1``."""
        end = offset + X.shape[1]
        if end > self.max_len:
            raise ValueError(f"positions up to {end} exceed max_len {self.max_len}; raise max_len")
        return self.dropout(ops.elementwise("add", X, self.P[offset:end], name=self.trace_name))


class FeedForward(ops.Traced):
    """Position-wise ``W_2 relu(W_1 x + b_1) + b_2``."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.W_1 = ops.Linear(d_model, d_ff)
        self.W_2 = ops.Linear(d_ff, d_model)
        self.dropout = Dropout(dropout)

    def forward(self, X: Tensor) -> Tensor:
        hidden = ops.elementwise("relu", self.W_1(X), name=f"{self.trace_name}.relu")
        return self.W_2(self.dropout(hidden))


class AddNorm(ops.Traced):
    """Post-norm residual: ``LayerNorm(X + dropout(Y))``."""

    def __init__(self, d_model: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = Dropout(dropout)
        self.norm = ops.LayerNorm(d_model)

    def forward(self, X: Tensor, Y: Tensor) -> Tensor:
        return self.norm(ops.elementwise("add", X, self.dropout(Y), name=f"{self.trace_name}.add"))
