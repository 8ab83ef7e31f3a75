"""``clip``: a contrastive dual encoder (Radford et al. 2021) from explicit ops.

An image encoder (a small strided CNN or a small ViT, ``image_encoder: cnn|vit``) and a
Transformer text encoder over SentencePiece ids map into one ``embed_dim`` space through
linear projections; both embeddings are L2-normalised, so a dot product is the cosine
similarity the search stage ranks by. Training minimises the symmetric InfoNCE loss over
``logit_scale * I T^T`` with a learnable temperature, clamped as CLIP does (scale <= 100).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbench import ops
from seqbench.models.attention import SinusoidalPositionalEncoding
from seqbench.models.config import ModelConfig
from seqbench.models.registry import register_model
from seqbench.models.transformer import TransformerEncoder
from seqbench.registry import Registry


@dataclass
class DualEncoderConfig(ModelConfig):
    """The dual encoder's options; ``vocab_size`` comes from the prepared data."""

    vocab_size: int
    pad_id: int = 0
    image_encoder: str = "cnn"  # cnn | vit (IMAGE_ENCODERS)
    image_size: int = 64  # px
    embed_dim: int = 128
    dropout: float = 0.0
    # text Transformer
    text_d_model: int = 128
    text_heads: int = 4
    text_layers: int = 2
    text_d_ff: int = 256
    max_len: int = 64
    # CNN: one stride-2 3x3 conv per entry, then a linear layer of cnn_width
    cnn_channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    cnn_width: int = 256
    # ViT: non-overlapping patches, a class token, learned positions
    vit_patch: int = 8
    vit_d_model: int = 128
    vit_heads: int = 4
    vit_layers: int = 4
    vit_d_ff: int = 256
    # temperature: logit_scale = ln(1 / T), clamped to <= ln(max_logit_scale)
    init_temperature: float = 0.07
    max_logit_scale: float = 100.0


def l2_normalize(x: Tensor, *, name: str, eps: float = 1e-6) -> Tensor:
    """``x / ||x||`` along the last axis; the scaling goes through the traced op layer."""
    inv_norm = x.pow(2).sum(-1, keepdim=True).clamp_min(eps * eps).rsqrt()
    return ops.elementwise("mul", x, inv_norm, name=name)


def masked_mean(X: Tensor, mask: Tensor, *, name: str) -> Tensor:
    """Mean of ``X`` [B,L,d] over the True positions of ``mask`` [B,L], as a traced matmul."""
    weights = mask.float()
    weights = weights / weights.sum(-1, keepdim=True).clamp_min(1.0)
    return ops.matmul(weights.unsqueeze(1), X, name=name).squeeze(1)


# --- image encoders ---------------------------------------------------------------------------


class CNNImageEncoder(ops.Traced):
    """Stride-2 3x3 convs with ReLU, then a linear layer over the flattened feature map.

    Flattening (not global pooling) keeps *where* each feature is, which the relations in
    the captions ("to the left of") need.
    """

    def __init__(self, image_size: int, channels: list[int], width: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        previous, side = 3, image_size
        for c in channels:
            self.convs.append(ops.Conv2d(previous, c, kernel_size=3, stride=2, padding=1))
            previous, side = c, (side + 1) // 2
        self.fc = ops.Linear(previous * side * side, width)
        self.out_dim = width

    def forward(self, pixels: Tensor) -> Tensor:
        """[B,3,H,W] in [-1,1] -> [B,width]."""
        X = pixels
        for conv in self.convs:
            X = ops.elementwise("relu", conv(X), name=f"{conv.trace_name}.relu")
        return ops.elementwise("relu", self.fc(X.flatten(1)), name=f"{self.trace_name}.relu")


class ViTImageEncoder(ops.Traced):
    """Patch embedding (a stride-``patch`` conv), class token, learned positions, Transformer."""

    def __init__(
        self,
        image_size: int,
        patch: int,
        d_model: int,
        heads: int,
        layers: int,
        d_ff: int,
        dropout: float,
    ) -> None:
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image_size {image_size} is not a multiple of vit_patch {patch}")
        num_patches = (image_size // patch) ** 2
        self.patch_embedding = ops.Conv2d(3, d_model, kernel_size=patch, stride=patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.positions = nn.Parameter(torch.randn(1, num_patches + 1, d_model) * 0.02)
        self.encoder = TransformerEncoder(d_model, heads, layers, d_ff, dropout)
        self.norm = ops.LayerNorm(d_model)
        self.out_dim = d_model

    def forward(self, pixels: Tensor) -> Tensor:
        """[B,3,H,W] -> the class token's final state [B,d_model]."""
        patches = self.patch_embedding(pixels).flatten(2).transpose(1, 2)  # [B, N, d]
        X = torch.cat([self.class_token.expand(patches.shape[0], -1, -1), patches], dim=1)
        X = ops.elementwise("add", X, self.positions, name=f"{self.trace_name}.positions")
        return self.norm(self.encoder(X)[:, 0])


IMAGE_ENCODERS: Registry[Any] = Registry("image encoder")
IMAGE_ENCODERS.add(
    "cnn", lambda c: CNNImageEncoder(c.image_size, list(c.cnn_channels), c.cnn_width)
)
IMAGE_ENCODERS.add(
    "vit",
    lambda c: ViTImageEncoder(
        c.image_size, c.vit_patch, c.vit_d_model, c.vit_heads, c.vit_layers, c.vit_d_ff, c.dropout
    ),
)


# --- text encoder -----------------------------------------------------------------------------


class TextEncoder(ops.Traced):
    """Token embeddings (scaled by sqrt(d)) + sinusoidal positions, Transformer, masked mean."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        heads: int,
        layers: int,
        d_ff: int,
        max_len: int,
        dropout: float,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.scale = math.sqrt(d_model)
        self.embedding = ops.Embedding(vocab_size, d_model, padding_idx=pad_id)
        with torch.no_grad():  # std d^-1/2, times sqrt(d) on lookup: unit-variance inputs
            nn.init.normal_(self.embedding.weight, std=d_model**-0.5)
            self.embedding.weight[pad_id].zero_()
        self.positional_encoding = SinusoidalPositionalEncoding(d_model, max_len, dropout)
        self.encoder = TransformerEncoder(d_model, heads, layers, d_ff, dropout)
        self.out_dim = d_model

    def forward(self, ids: Tensor) -> Tensor:
        """Long [B,L] (pad = ``pad_id``) -> [B,d_model]."""
        mask = ids != self.pad_id
        X = self.positional_encoding(self.embedding(ids) * self.scale)
        return masked_mean(self.encoder(X, mask), mask, name=f"{self.trace_name}.pool")


# --- the dual encoder -------------------------------------------------------------------------


class DualEncoder(ops.Traced):
    """``I = norm(W_i f_img(x))``, ``T = norm(W_t f_txt(y))``; logits ``s * I T^T``."""

    def __init__(self, c: DualEncoderConfig) -> None:
        super().__init__()
        self.image_encoder = IMAGE_ENCODERS.get(c.image_encoder)(c)
        self.text_encoder = TextEncoder(
            c.vocab_size,
            c.text_d_model,
            c.text_heads,
            c.text_layers,
            c.text_d_ff,
            c.max_len,
            c.dropout,
            c.pad_id,
        )
        self.W_image = ops.Linear(self.image_encoder.out_dim, c.embed_dim, bias=False)
        self.W_text = ops.Linear(self.text_encoder.out_dim, c.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / c.init_temperature)))
        self.max_log_scale = math.log(c.max_logit_scale)

    def encode_image(self, pixels: Tensor) -> Tensor:
        """[B,3,H,W] in [-1,1] -> unit vectors [B,embed_dim]."""
        return l2_normalize(self.W_image(self.image_encoder(pixels)), name="image_embedding")

    def encode_text(self, ids: Tensor) -> Tensor:
        """Long [B,L] -> unit vectors [B,embed_dim]."""
        return l2_normalize(self.W_text(self.text_encoder(ids)), name="text_embedding")

    def scale(self) -> Tensor:
        """``exp(logit_scale)`` clamped to ``max_logit_scale`` (CLIP's bound of 100)."""
        return self.logit_scale.clamp(max=self.max_log_scale).exp()

    def forward(self, pixels: Tensor, ids: Tensor) -> tuple[Tensor, Tensor]:
        """(image embeddings [B,D], text embeddings [B,D])."""
        return self.encode_image(pixels), self.encode_text(ids)

    def logits(self, image_emb: Tensor, text_emb: Tensor) -> Tensor:
        """Scaled cosine similarities ``s * I T^T`` [B_img, B_txt]."""
        return self.scale() * ops.matmul(image_emb, text_emb.transpose(0, 1), name="logits")


def symmetric_info_nce(logits: Tensor) -> Tensor:
    """Mean of the image->text and text->image cross-entropies; pair i matches pair i."""
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


@register_model("clip", family="retrieval")
def build_clip(config: dict[str, Any]) -> DualEncoder:
    """CLIP-style dual encoder: CNN or ViT images, Transformer text, symmetric InfoNCE."""
    return DualEncoder(DualEncoderConfig.from_dict(config, "clip"))
