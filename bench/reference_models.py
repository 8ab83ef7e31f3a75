"""Plain-PyTorch twins of seqbench's translation models, for the training-speed comparison.

Same sizes, same interface (``model(src, tgt_in) -> logits [B,T,V]``), built the way a
PyTorch user would: ``nn.Transformer`` for the Transformer, ``nn.GRU`` / ``nn.GRUCell`` and a
hand-written additive-attention loop for the attention GRU. Not used by seqbench itself.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def sinusoids(max_len: int, d_model: int) -> Tensor:
    """``P[t, 2i] = sin(t / 10000^(2i/d))``, ``P[t, 2i+1] = cos(...)``: [max_len, d]."""
    t = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    inv_freq = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(1e4) / d_model))
    P = torch.zeros(max_len, d_model)
    P[:, 0::2] = torch.sin(t * inv_freq)
    P[:, 1::2] = torch.cos(t * inv_freq[: d_model // 2])
    return P


class ReferenceTransformer(nn.Module):
    """``nn.Transformer`` (post-norm, batch-first) with scaled embeddings, sinusoidal
    positions and an output projection tied to the target embedding, like seqbench's."""

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        d_model: int,
        num_heads: int,
        num_encoder_layers: int,
        num_decoder_layers: int,
        d_ff: int,
        dropout: float,
        max_len: int = 256,
        pad_id: int = 0,
    ):
        super().__init__()
        self.pad_id, self.scale = pad_id, math.sqrt(d_model)
        self.src_embedding = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_id)
        self.register_buffer("P", sinusoids(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.transformer = nn.Transformer(
            d_model,
            num_heads,
            num_encoder_layers,
            num_decoder_layers,
            d_ff,
            dropout,
            batch_first=True,
        )
        self.output_bias = nn.Parameter(torch.zeros(tgt_vocab_size))

    def embed(self, embedding: nn.Embedding, ids: Tensor) -> Tensor:
        return self.dropout(embedding(ids) * self.scale + self.P[: ids.shape[1]])

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Long[B,S] x Long[B,T] -> logits [B,T,V]; causal over ``tgt_in``."""
        src_padding = src == self.pad_id  # nn convention: True = ignore
        T = tgt_in.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=src.device).triu(1)
        Y = self.transformer(
            self.embed(self.src_embedding, src),
            self.embed(self.tgt_embedding, tgt_in),
            tgt_mask=causal,
            src_key_padding_mask=src_padding,
            memory_key_padding_mask=src_padding,
            tgt_is_causal=True,
        )
        return F.linear(Y, self.tgt_embedding.weight, self.output_bias)


class ReferenceAttentionGRU(nn.Module):
    """Bahdanau GRU: packed bidirectional ``nn.GRU`` encoder, ``tanh(W_bridge [fwd; bwd])``
    initial state, then per target step additive attention and one ``nn.GRUCell`` step."""

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        emb_dim: int,
        hidden_dim: int,
        dropout: float,
        pad_id: int = 0,
    ):
        super().__init__()
        self.pad_id = pad_id
        key_dim = 2 * hidden_dim
        self.src_embedding = nn.Embedding(src_vocab_size, emb_dim, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, emb_dim, padding_idx=pad_id)
        self.encoder = nn.GRU(emb_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(key_dim, hidden_dim)
        self.W_q = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.W_k = nn.Linear(key_dim, hidden_dim, bias=False)
        self.w_v = nn.Linear(hidden_dim, 1, bias=False)
        self.decoder = nn.GRUCell(emb_dim + key_dim, hidden_dim)
        self.output = nn.Linear(hidden_dim + key_dim, tgt_vocab_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Long[B,S] x Long[B,T] -> logits [B,T,V] (teacher forcing)."""
        mask = src != self.pad_id
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(
            self.dropout(self.src_embedding(src)), lengths, batch_first=True, enforce_sorted=False
        )
        H_packed, H_n = self.encoder(packed)  # H_n [2, B, h]: forward last, backward first
        H, _ = pad_packed_sequence(H_packed, batch_first=True, total_length=src.shape[1])
        s = torch.tanh(self.bridge(torch.cat([H_n[0], H_n[1]], dim=-1)))
        keys = self.W_k(H)
        E = self.dropout(self.tgt_embedding(tgt_in))
        features = []
        for t in range(tgt_in.shape[1]):
            scores = self.w_v(torch.tanh(self.W_q(s).unsqueeze(1) + keys)).squeeze(-1)
            weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
            context = torch.bmm(weights.unsqueeze(1), H).squeeze(1)
            s = self.decoder(torch.cat([E[:, t], context], dim=-1), s)
            features.append(torch.cat([s, context], dim=-1))
        return self.output(self.dropout(torch.stack(features, dim=1)))
