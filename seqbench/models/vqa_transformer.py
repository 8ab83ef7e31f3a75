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
    CNNTrunk,
    VQAConfig,
    per_question,
    region_teacher,
    regions,
)

IMAGE, TEXT = 0, 1  # rows of the type embedding


class PatchEmbedding(ops.Traced):
    """Non-overlapping ``p x p`` patches, each linearly mapped to ``d``: a stride-p conv."""

    def __init__(self, d: int, patch_size: int):
        super().__init__()
        self.proj = ops.Conv2d(3, d, kernel_size=patch_size, stride=patch_size)
        self.channels = d

    def forward(self, images: Tensor) -> Tensor:
        return self.proj(images)


class VisionLanguageTransformer(ops.Traced):
    """``[CLS] ; W_img regions ; E(question) + P`` -> TransformerEncoder -> MLP on [CLS]."""

    def __init__(self, cfg: VQAConfig):
        super().__init__()
        d = cfg.d_model
        self.teacher = region_teacher(cfg)
        self.vision: nn.Module | None = None
        if self.teacher is not None:
            channels = self.teacher.cnn.channels
        elif cfg.patch_size > 0:
            self.vision = PatchEmbedding(d, cfg.patch_size)
            channels = d
        else:
            self.vision = CNNTrunk(cfg.channels, cfg.conv_layers)
            channels = cfg.channels
        self.W_img = ops.Linear(channels + 2, d)
        self.embedding = ops.Embedding(cfg.question_vocab_size, d, padding_idx=cfg.pad_id)
        self.positions = SinusoidalPositionalEncoding(d, max(cfg.max_question_len, 64))
        self.type_embedding = nn.Parameter(torch.randn(2, d) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.encoder = TransformerEncoder(d, cfg.num_heads, cfg.num_layers, cfg.d_ff, cfg.dropout)
        self.classifier = MLP([d, cfg.hidden, cfg.num_answers], cfg.dropout)
        self.pad_id = cfg.pad_id

    def train(self, mode: bool = True) -> VisionLanguageTransformer:
        """Train the encoder; a region teacher stays in eval mode (frozen batch statistics)."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def regions_of(self, images: Tensor) -> Tensor:
        """The image's feature map (the teacher's CNN when there is one)."""
        if self.teacher is not None:
            return self.teacher.cnn(images)
        assert self.vision is not None
        return self.vision(images)

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
