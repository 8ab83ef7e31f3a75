"""``face-embed``: a small CNN face embedder trained with ArcFace's additive angular margin.

The embedder (stride-2 3x3 convs with ReLU, a linear layer, a linear projection) maps a face
to an L2-normalised ``embed_dim`` vector, so verification is a cosine similarity (a dot
product) and identification a :func:`seqbench.ops.similarity_search` against the gallery.
Training (Deng et al. 2019, ArcFace) classifies the train identities with normalised class
centres ``W``: the logit of class j is ``s * cos(theta_j)``, and the true class's angle gets
the margin ``m`` added, ``s * cos(theta_y + m)``. The classifier is training-only: evaluation
never sees it, and test identities are disjoint from train.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbench import ops
from seqbench.models.config import ModelConfig
from seqbench.models.dual_encoder import CNNImageEncoder, l2_normalize
from seqbench.models.registry import register_model

# Bump when what training produces changes (forward pass, initialisation, loss).
VERSION = 1


@dataclass
class FaceEmbedConfig(ModelConfig):
    """The face embedder's options; ``num_classes`` and ``image_size`` come from the data."""

    num_classes: int
    image_size: int = 48
    cnn_channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    cnn_width: int = 256
    embed_dim: int = 128
    margin: float = 0.5  # ArcFace's m (radians)
    scale: float = 32.0  # ArcFace's s


class FaceEmbedder(ops.Traced):
    """``embed(x) = norm(W f_cnn(x))``; ``arcface_logits`` for training."""

    def __init__(self, c: FaceEmbedConfig) -> None:
        super().__init__()
        self.encoder = CNNImageEncoder(c.image_size, list(c.cnn_channels), c.cnn_width)
        self.project = ops.Linear(c.cnn_width, c.embed_dim)
        self.centres = nn.Parameter(torch.randn(c.num_classes, c.embed_dim) * 0.01)
        self.margin = c.margin
        self.scale = c.scale

    def embed(self, pixels: Tensor) -> Tensor:
        """[B,3,H,W] in [-1,1] -> unit vectors [B,embed_dim]."""
        return l2_normalize(self.project(self.encoder(pixels)), name="face_embedding")

    def forward(self, pixels: Tensor) -> Tensor:
        return self.embed(pixels)

    def arcface_logits(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """``s * cos(theta_j)``, with ``cos(theta_y + m)`` for the true class [B, classes]."""
        cosine = embeddings @ F.normalize(self.centres, dim=-1).T
        return self.scale * add_angular_margin(cosine, labels, self.margin)


def add_angular_margin(cosine: Tensor, labels: Tensor, margin: float) -> Tensor:
    """``cos(theta + m)`` at each row's true class, ``cos(theta)`` elsewhere.

    Where ``theta + m`` would pass pi the target would stop being monotonic in theta;
    there ArcFace's reference code falls back to ``cos(theta) - m sin(m)``, as here."""
    cos_m, sin_m = math.cos(margin), math.sin(margin)
    target = cosine.gather(1, labels[:, None])
    sine = (1.0 - target.pow(2)).clamp_min(1e-7).sqrt()
    with_margin = target * cos_m - sine * sin_m
    with_margin = torch.where(
        target > math.cos(math.pi - margin),
        with_margin,
        target - math.sin(math.pi - margin) * margin,
    )
    return cosine.scatter(1, labels[:, None], with_margin)


@register_model("face-embed", family="faces")
def build_face_embed(config: dict[str, Any]) -> FaceEmbedder:
    """Small CNN face embedder trained with the ArcFace additive angular margin loss."""
    return FaceEmbedder(FaceEmbedConfig.from_dict(config, "face-embed"))
