"""``bind-audio``: an audio encoder bound to a frozen ``clip``'s embedding space (ImageBind).

ImageBind (Girdhar et al. 2023) binds each new modality to a frozen image encoder with
InfoNCE on (image, modality) pairs alone; text then lines up with audio *through* the image
space, never seeing an audio-text pair. Its audio encoder is a ViT on the 128-bin log-mel of a
2-second 16 kHz clip, cut into 16x16 patches with stride 10 (overlapping). Here:

- :class:`AudioViT`: that ViT (a stride-10 16x16 conv as patch embedding, class token,
  learned positions, Transformer, LayerNorm), projected into the teacher's ``embed_dim``.
- :class:`BindAudio`: the audio tower plus the whole teacher (``teacher``, a
  :class:`~seqbench.models.dual_encoder.DualEncoder` rebuilt from the teacher checkpoint's
  config, its weights loaded by the train stage), frozen: no gradient, always in eval mode.
  ``target`` says which frozen tower the audio is trained against: ``image`` (``bind-audio``,
  ImageBind's recipe) or ``text`` (``bind-audio-text``: supervised audio-text pairs, the
  upper bound the emergent audio->text retrieval is compared with).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from seqbench import ops
from seqbench.errors import SeqbenchError
from seqbench.models.config import ModelConfig
from seqbench.models.dual_encoder import l2_normalize
from seqbench.models.registry import build_teacher, register_model
from seqbench.models.transformer import TransformerEncoder

VERSION = 1


@dataclass
class BindAudioConfig(ModelConfig):
    """The audio tower's options; ``teacher`` comes from the train stage, the sizes from the
    prepared data (``n_mels``, ``frames``)."""

    teacher: dict[str, Any]  # {task, model, config, identity, weights_sha256}
    n_mels: int = 128
    frames: int = 201
    patch: int = 16  # ImageBind: 16x16 patches ...
    stride: int = 10  # ... every 10 bins/frames (overlapping)
    d_model: int = 128
    heads: int = 4
    layers: int = 4
    d_ff: int = 256
    dropout: float = 0.0
    init_temperature: float = 0.07
    max_logit_scale: float = 100.0


def patch_grid(n_mels: int, frames: int, patch: int, stride: int) -> tuple[int, int]:
    """(patches along frequency, patches along time) of a strided patch embedding."""
    if n_mels < patch or frames < patch:
        raise SeqbenchError(
            f"a {n_mels} x {frames} spectrogram is smaller than one {patch} x {patch} patch",
            "use longer clips or a smaller patch",
        )
    return (n_mels - patch) // stride + 1, (frames - patch) // stride + 1


class AudioViT(ops.Traced):
    """Log-mel [B, n_mels, frames] -> the class token's final state [B, d_model]."""

    def __init__(self, c: BindAudioConfig) -> None:
        super().__init__()
        rows, cols = patch_grid(c.n_mels, c.frames, c.patch, c.stride)
        self.num_patches = rows * cols
        self.patch_embedding = ops.Conv2d(1, c.d_model, kernel_size=c.patch, stride=c.stride)
        self.class_token = nn.Parameter(torch.zeros(1, 1, c.d_model))
        self.positions = nn.Parameter(torch.randn(1, self.num_patches + 1, c.d_model) * 0.02)
        self.encoder = TransformerEncoder(c.d_model, c.heads, c.layers, c.d_ff, c.dropout)
        self.norm = ops.LayerNorm(c.d_model)
        self.out_dim = c.d_model

    def forward(self, mel: Tensor) -> Tensor:
        patches = self.patch_embedding(mel.unsqueeze(1)).flatten(2).transpose(1, 2)  # [B,N,d]
        X = torch.cat([self.class_token.expand(patches.shape[0], -1, -1), patches], dim=1)
        X = ops.elementwise("add", X, self.positions, name=f"{self.trace_name}.positions")
        return self.norm(self.encoder(X)[:, 0])


class BindAudio(ops.Traced):
    """``A = norm(W_a f_audio(mel))`` in the frozen teacher's space; logits ``s * A E^T``."""

    target = "image"

    def __init__(self, c: BindAudioConfig) -> None:
        super().__init__()
        self.teacher = build_teacher(c.teacher)
        embed_dim = int(self.teacher.W_image.out_features)  # the teacher's shared space
        self.audio_encoder = AudioViT(c)
        self.W_audio = ops.Linear(self.audio_encoder.out_dim, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / c.init_temperature)))
        self.max_log_scale = math.log(c.max_logit_scale)

    def train(self, mode: bool = True) -> BindAudio:
        """Train the audio tower; the teacher stays in eval mode (frozen, no dropout)."""
        super().train(mode)
        self.teacher.eval()
        return self

    def encode_audio(self, mel: Tensor) -> Tensor:
        """Normalised log-mel [B, n_mels, frames] -> unit vectors [B, embed_dim]."""
        with ops.modality("audio"):
            return l2_normalize(self.W_audio(self.audio_encoder(mel)), name="audio_embedding")

    def encode_image(self, pixels: Tensor) -> Tensor:
        """The frozen teacher's image embedding [B, embed_dim]."""
        with ops.modality("image"):
            return self.teacher.encode_image(pixels)

    def encode_text(self, ids: Tensor) -> Tensor:
        """The frozen teacher's text embedding [B, embed_dim]."""
        with ops.modality("text"):
            return self.teacher.encode_text(ids)

    def scale(self) -> Tensor:
        return self.logit_scale.clamp(max=self.max_log_scale).exp()

    def logits(self, audio_emb: Tensor, target_emb: Tensor) -> Tensor:
        """Scaled cosine similarities ``s * A E^T`` [B_audio, B_target]."""
        return self.scale() * ops.matmul(audio_emb, target_emb.transpose(0, 1), name="logits")


class BindAudioText(BindAudio):
    """The same audio tower trained against the teacher's *text* tower (audio-text pairs)."""

    target = "text"


@register_model(
    "bind-audio",
    family="binding",
    description="ViT audio encoder bound to a frozen clip image encoder (ImageBind, no text)",
)
def build_bind_audio(config: dict[str, Any]) -> BindAudio:
    return BindAudio(BindAudioConfig.from_dict(config, "bind-audio"))


@register_model(
    "bind-audio-text",
    family="binding",
    description="the same audio encoder trained on audio-text pairs: the supervised upper bound",
)
def build_bind_audio_text(config: dict[str, Any]) -> BindAudioText:
    return BindAudioText(BindAudioConfig.from_dict(config, "bind-audio-text"))
