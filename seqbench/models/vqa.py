"""Baseline VQA models: CNN + bag of words, CNN + LSTM, and stacked attention networks.

All share :class:`~seqbench.models.vqa_parts.CNNTrunk` and answer by classification. The
relation network and the single-stream transformer live in ``vqa_rn.py`` and
``vqa_transformer.py``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from seqbench import ops
from seqbench.models.registry import register_model
from seqbench.models.vqa_parts import (
    MLP,
    CNNTrunk,
    VQAConfig,
    per_question,
    question_encoder,
    regions,
)


class CNNQuestionClassifier(ops.Traced):
    """The CNN+MLP baseline: the flattened feature map (position kept by the layout) and the
    question encoding, concatenated, through an MLP: ``f([flatten(CNN(I)); q])``."""

    def __init__(self, cfg: VQAConfig, encoder: str):
        super().__init__()
        self.cnn = CNNTrunk(cfg.channels, cfg.conv_layers)
        side = CNNTrunk.output_side(cfg.image_size, cfg.conv_layers)
        self.question = question_encoder(cfg, encoder)
        dims = [cfg.channels * side * side + cfg.question_dim, cfg.hidden, cfg.hidden]
        self.classifier = MLP([*dims, cfg.num_answers], cfg.dropout)

    def forward(
        self,
        images: Tensor,
        question_ids: Tensor,
        question_vectors: Tensor,
        image_index: Tensor | None = None,
    ) -> Tensor:
        image = per_question(self.cnn(images).flatten(1), image_index)
        q = self.question(question_ids, question_vectors)
        return self.classifier(torch.cat([image, q], dim=-1))


@register_model("cnn-bow", family="vqa")
def build_cnn_bow(config: dict[str, Any]) -> nn.Module:
    """CNN image features + bag-of-words question, MLP classifier."""
    return CNNQuestionClassifier(VQAConfig.from_dict(config, "cnn-bow"), "bow")


@register_model("cnn-lstm", family="vqa")
def build_cnn_lstm(config: dict[str, Any]) -> nn.Module:
    """CNN image features + LSTM question encoder, MLP classifier."""
    return CNNQuestionClassifier(VQAConfig.from_dict(config, "cnn-lstm"), "lstm")


class AttentionHop(ops.Traced):
    """One SAN layer (Yang et al. 2016): ``h_A = tanh(W_I V_I + W_Q u)``,
    ``p_I = softmax(w_P h_A)``, ``v~ = sum_i p_i v_i``, ``u' = v~ + u``."""

    def __init__(self, d: int, k: int):
        super().__init__()
        self.W_I = ops.Linear(d, k, bias=False)
        self.W_Q = ops.Linear(d, k)
        self.w_P = ops.Linear(k, 1)
        self.attention_weights: Tensor | None = None  # [B, R] of the last call

    def forward(self, V_I: Tensor, u: Tensor) -> Tensor:
        """``V_I`` [B,R,d] regions, ``u`` [B,d] query -> refined query [B,d]."""
        name = self.trace_name
        h_A = ops.elementwise("add", self.W_I(V_I), self.W_Q(u).unsqueeze(1), name=f"{name}.add")
        h_A = ops.elementwise("tanh", h_A, name=f"{name}.tanh")
        p_I = ops.softmax(self.w_P(h_A).squeeze(-1), dim=-1, name=f"{name}.softmax")
        self.attention_weights = p_I
        v_tilde = ops.matmul(p_I.unsqueeze(1), V_I, name=f"{name}.pv").squeeze(1)
        return ops.elementwise("add", v_tilde, u, name=f"{name}.residual")


class StackedAttentionNetwork(ops.Traced):
    """SAN: CNN regions (with coordinates) projected to ``d``, an LSTM question ``u``, ``hops``
    attention layers refining ``u``, and a classifier on the final query."""

    def __init__(self, cfg: VQAConfig):
        super().__init__()
        d = cfg.question_dim
        self.cnn = CNNTrunk(cfg.channels, cfg.conv_layers)
        self.W_v = ops.Linear(cfg.channels + 2, d)
        self.question = question_encoder(cfg, "lstm")
        self.hops = nn.ModuleList(AttentionHop(d, cfg.attention_dim) for _ in range(cfg.hops))
        self.classifier = MLP([d, cfg.hidden, cfg.num_answers], cfg.dropout)

    def forward(
        self,
        images: Tensor,
        question_ids: Tensor,
        question_vectors: Tensor,
        image_index: Tensor | None = None,
    ) -> Tensor:
        V = ops.elementwise(
            "tanh", self.W_v(regions(self.cnn(images))), name=f"{self.trace_name}.regions"
        )
        V_I = per_question(V, image_index)
        u = self.question(question_ids, question_vectors)
        for hop in self.hops:
            u = hop(V_I, u)
        return self.classifier(u)


@register_model("san", family="vqa")
def build_san(config: dict[str, Any]) -> nn.Module:
    """Stacked attention networks: two attention hops over CNN feature-map regions."""
    return StackedAttentionNetwork(VQAConfig.from_dict(config, "san"))
