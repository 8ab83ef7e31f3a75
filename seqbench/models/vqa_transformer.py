"""Single-stream vision-language transformer: image and question tokens in one encoder.

The input sequence is ``[CLS] + image tokens + question tokens``. Image tokens are the CNN
feature-map cells (or, with ``patch_size > 0``, linearly embedded image patches), each with
its (x, y) coordinates, projected to ``d_model`` (with ``teacher: {task, model}`` the cells come
from that trained model's frozen CNN, as vl-dual's can); question tokens are word embeddings plus
sinusoidal positions. A learned type vector marks each modality. The encoder's attention is
written from explicit ops (:mod:`seqbench.models.attention`), so the trace sees Q.K^T,
softmax and S.V; the answer is a classifier on the ``[CLS]`` output.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from seqbench import ops
from seqbench.models.attention import SinusoidalPositionalEncoding
from seqbench.models.registry import register_model
from seqbench.models.transformer import TransformerEncoder
from seqbench.models.vqa_parts import (
    MLP,
    RegionStudent,
    VQAConfig,
    per_question,
    regions,
)

IMAGE, TEXT = 0, 1  # rows of the type embedding


class VisionLanguageTransformer(RegionStudent, ops.Traced):
    """``[CLS] ; W_img regions ; E(question) + P`` -> TransformerEncoder -> MLP on [CLS]."""

    def __init__(self, cfg: VQAConfig):
        super().__init__()
        d = cfg.d_model
        channels = self.init_regions(cfg, d)
        self.W_img = ops.Linear(channels + 2, d)
        self.embedding = ops.Embedding(cfg.question_vocab_size, d, padding_idx=cfg.pad_id)
        self.positions = SinusoidalPositionalEncoding(d, max(cfg.max_question_len, 64))
        self.type_embedding = nn.Parameter(torch.randn(2, d) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.encoder = TransformerEncoder(d, cfg.num_heads, cfg.num_layers, cfg.d_ff, cfg.dropout)
        self.classifier = MLP([d, cfg.hidden, cfg.num_answers], cfg.dropout)
        self.pad_id = cfg.pad_id

    def forward(
        self,
        images: Tensor,
        question_ids: Tensor,
        question_vectors: Tensor,
        image_index: Tensor | None = None,
    ) -> Tensor:
        name = self.trace_name
        image_tokens = self.W_img(regions(self.regions_of(images)))
        image_tokens = ops.elementwise(
            "add", image_tokens, self.type_embedding[IMAGE], name=f"{name}.image_type"
        )
        image_tokens = per_question(image_tokens, image_index)  # [B,R,d]
        words = self.positions(self.embedding(question_ids))
        words = ops.elementwise("add", words, self.type_embedding[TEXT], name=f"{name}.text_type")
        B, R = words.shape[0], image_tokens.shape[1]
        X = torch.cat([self.cls.expand(B, -1, -1), image_tokens, words], dim=1)
        real = torch.ones(B, 1 + R, dtype=torch.bool, device=X.device)
        key_padding_mask = torch.cat([real, question_ids != self.pad_id], dim=1)
        H = self.encoder(X, key_padding_mask)
        return self.classifier(H[:, 0])


@register_model("vl-transformer", family="vqa")
def build_vl_transformer(config: dict[str, Any]) -> nn.Module:
    """Single-stream transformer over CNN regions (or patches) and question tokens."""
    return VisionLanguageTransformer(VQAConfig.from_dict(config, "vl-transformer"))
