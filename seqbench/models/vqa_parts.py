"""Parts shared by the VQA models: the config, a small CNN trunk, question encoders, MLPs.

Every VQA model maps ``(images [N,3,H,W], question_ids [B,L], question_vectors [B,V],
image_index [B])`` to answer logits ``[B, num_answers]``; ``image_index`` says which of the
``N`` images each of the ``B`` questions asks about, so an image shared by several questions
goes through the CNN once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn

from seqbench import ops
from seqbench.dropout import Dropout
from seqbench.errors import SeqbenchError
from seqbench.models.config import ModelConfig
from seqbench.models.registry import build_teacher
from seqbench.models.rnn import RecurrentStack
from seqbench.registry import Registry


@dataclass
class VQAConfig(ModelConfig):
    """Every option a VQA model reads; the family fills the data-given ones."""

    num_answers: int = 10
    question_vocab_size: int = 64
    question_vector_size: int = 0
    image_size: int = 75  # px
    max_question_len: int = 32  # tokens
    pad_id: int = 0
    channels: int = 24  # CNN width (the RN paper's 4 x 24 stride-2 convolutions)
    conv_layers: int = 4
    embed: int = 32  # word embedding size
    question_dim: int = 128  # question encoding size (LSTM hidden size)
    question_encoder: str = ""  # bow | lstm | vector; empty: the model's own default
    hidden: int = 256  # classifier MLP width
    dropout: float = 0.0
    # san
    attention_dim: int = 128
    hops: int = 2
    # rn
    g_hidden: int = 256
    g_layers: int = 4
    f_hidden: int = 256
    g_conditioning: str = "concat"  # concat (the paper) | film (question gains on o_i, o_j)
    object_film: bool = False  # the question scales and shifts the CNN channels (FiLM)
    coordinate_tags: str = "concat"  # concat: (x, y) | product: also every channel times x, y
    relation_norm: bool = False  # batch-normalise the pooled relations before f
    # vl-transformer
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 128
    patch_size: int = 0  # px; > 0: linearly embedded patches instead of CNN regions
    # vl-dual (text stream: d_model, num_heads, num_layers, d_ff above)
    image_d_model: int = 64
    image_heads: int = 4
    image_layers: int = 1
    image_d_ff: int = 128
    co_d_model: int = 64  # the shared co-attention space
    co_heads: int = 4
    co_layers: int = 1
    dual_shape: str = ""  # "vilbert-base": ViLBERT-base's stream and co-attention sizes
    image_embedding_norm: bool = False  # LayerNorm on the image tokens (ViLBERT's embedding)
    colour_channels: int = 0  # > 0: each CNN region also gets its CellColours (that many)
    # {task, model, config, weights_sha256...}: a trained model whose CNN gives the regions
    # (frozen), filled by the train stage from the model's `teacher: {task, model}` option
    teacher: dict[str, Any] = field(default_factory=dict)


def per_question(x: Tensor, image_index: Tensor | None) -> Tensor:
    """Rows of per-image ``x`` [N, ...] for each question: [B, ...]."""
    return x if image_index is None else x.index_select(0, image_index)


class _TracedBatchNorm(ops.Traced):
    """Batch normalisation whose inference form (``x * scale + shift``) the trace sees.

    Training uses batch statistics (not traced: only inference runs on accelerators).
    """

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return super().forward(x)  # type: ignore[misc]
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)
        shift = self.bias - self.running_mean * scale
        per_channel = (-1,) + (1,) * (x.dim() - 2)  # channels on dim 1 of [B, C, ...]
        x = ops.elementwise("mul", x, scale.view(per_channel), name=f"{self.trace_name}.scale")
        return ops.elementwise("add", x, shift.view(per_channel), name=f"{self.trace_name}.shift")


class BatchNorm2d(_TracedBatchNorm, nn.BatchNorm2d):
    """Traced batch norm over ``[B, C, H, W]`` feature maps."""


class BatchNorm1d(_TracedBatchNorm, nn.BatchNorm1d):
    """Traced batch norm over ``[B, C]`` features."""


class ConvBlock(ops.Traced):
    """3x3 stride-2 convolution, batch norm, ReLU: halves the feature map."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = ops.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1)
        self.norm = BatchNorm2d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        return ops.elementwise("relu", self.norm(self.conv(x)), name=f"{self.trace_name}.relu")


class CNNTrunk(ops.Traced):
    """``conv_layers`` stride-2 blocks: [N,3,75,75] -> [N,C,5,5] (the RN paper's CNN)."""

    def __init__(self, channels: int, conv_layers: int):
        super().__init__()
        widths = [3] + [channels] * conv_layers
        self.blocks = nn.Sequential(*(ConvBlock(a, b) for a, b in pairwise(widths)))
        self.channels = channels

    def forward(self, images: Tensor) -> Tensor:
        return self.blocks(images)

    @staticmethod
    def output_side(image_size: int, conv_layers: int) -> int:
        side = image_size
        for _ in range(conv_layers):
            side = (side - 1) // 2 + 1  # kernel 3, stride 2, padding 1
        return side


class PatchEmbedding(ops.Traced):
    """Non-overlapping ``p x p`` patches, each linearly mapped to ``d``: a stride-p conv."""

    def __init__(self, d: int, patch_size: int):
        super().__init__()
        self.proj = ops.Conv2d(3, d, kernel_size=patch_size, stride=patch_size)
        self.channels = d

    def forward(self, images: Tensor) -> Tensor:
        return self.proj(images)


class RegionTeacher(nn.Module):
    """The part of a trained VQA model a region student keeps: its CNN, under the teacher's
    own key ``cnn`` (so the teacher checkpoint's ``cnn.*`` weights load as they are)."""

    def __init__(self, cnn: CNNTrunk) -> None:
        super().__init__()
        self.cnn = cnn


def region_teacher(cfg: VQAConfig) -> RegionTeacher | None:
    """The CNN of the trained model that gives a transformer's regions, frozen (ViLBERT's
    regions come from a detector trained beforehand); None without ``teacher``. Its weights
    arrive with the train stage (from the teacher's checkpoint) or with the model's own."""
    teacher = cfg.teacher
    if not teacher:
        return None
    if cfg.patch_size > 0:
        raise SeqbenchError(
            "a region teacher gives CNN regions, not patches", "set patch_size: 0 or drop teacher"
        )
    model = build_teacher(teacher)  # frozen, eval
    if not isinstance(getattr(model, "cnn", None), CNNTrunk):
        raise SeqbenchError(
            f"region teacher {teacher.get('model')!r} has no CNN trunk to give regions",
            "name a CNN VQA model (e.g. rn)",
        )
    return RegionTeacher(model.cnn).eval()


class RegionStudent(nn.Module):
    """A model whose regions come from its frozen ``teacher`` (a :class:`RegionTeacher`) when
    it has one, else from its own ``vision`` module."""

    teacher: RegionTeacher | None
    vision: nn.Module | None

    def init_regions(self, cfg: VQAConfig, patch_width: int) -> int:
        """Set ``teacher`` and ``vision`` from ``cfg`` (the teacher's CNN, ``patch_width``-wide
        patches or an own CNN); returns the channels each region has."""
        self.teacher = region_teacher(cfg)
        self.vision = None
        if self.teacher is not None:
            return self.teacher.cnn.channels
        if cfg.patch_size > 0:
            self.vision = PatchEmbedding(patch_width, cfg.patch_size)
            return patch_width
        self.vision = CNNTrunk(cfg.channels, cfg.conv_layers)
        return cfg.channels

    def train(self, mode: bool = True) -> RegionStudent:
        """Train the model; a region teacher stays in eval mode (frozen batch statistics)."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def regions_of(self, images: Tensor) -> Tensor:
        """The image's feature map [N, C, side, side] (the teacher's CNN when there is one)."""
        if self.teacher is not None:
            return self.teacher.cnn(images)
        assert self.vision is not None
        return self.vision(images)


class CellColours(ops.Traced):
    """How much of each learned colour every feature-map cell holds: per-pixel colour features
    (a 1x1 convolution and ReLU) averaged over the pixels nearest each cell's centre.

    A stack of strided 3x3 convolutions mixes colour with shape and neighbours. Measured on
    Sort-of-CLEVR with a linear probe for "this cell holds colour c": 64-77% balanced accuracy
    from a fresh 4-layer trunk, 74-82% after three quick-preset epochs of vl-dual, 97-98% from
    the trained relation network's trunk (whose FiLM gives the CNN a direct question signal).
    A model that finds an object by its colour name through attention alone starts with
    little to match; here colour is a per-pixel function, pooled linearly, for every cell.
    """

    def __init__(self, channels: int, stride: int, side: int, image_size: int):
        super().__init__()
        self.conv = ops.Conv2d(3, channels, kernel_size=1)
        # Cell (i, j) of a trunk of this stride is centred on pixel (stride*i, stride*j) (the
        # convolutions pad by 1); it averages the pixels within stride/2 of that centre.
        centre = torch.arange(image_size)
        owner = torch.div(centre + stride // 2, stride, rounding_mode="floor").clamp(max=side - 1)
        rows = nn.functional.one_hot(owner, side).float()  # [H, side]
        pool = torch.einsum("ya,xb->yxab", rows, rows).reshape(image_size**2, side * side)
        pool = (pool / pool.sum(0, keepdim=True)).T.contiguous()  # [R, H*W]: a fixed weight
        self.register_buffer("pool", pool, persistent=False)
        self.side = side

    def forward(self, images: Tensor) -> Tensor:
        """[N,3,H,W] -> [N,channels,side,side] mean colour features per cell."""
        name = self.trace_name
        colours = ops.elementwise("relu", self.conv(images), name=f"{name}.relu")
        n, c = colours.shape[:2]
        pooled = ops.linear(colours.flatten(2), self.pool, name=f"{name}.pool")  # [N,C,R]
        return pooled.view(n, c, self.side, self.side)


def regions(feature_map: Tensor) -> Tensor:
    """Feature-map cells as objects with their coordinates: [N,C,h,w] -> [N, h*w, C+2].

    Coordinates (x, y) in [-1, 1] let attention and relation models reason about position.
    """
    n, c, h, w = feature_map.shape
    ys = torch.linspace(-1, 1, h, device=feature_map.device)
    xs = torch.linspace(-1, 1, w, device=feature_map.device)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(1, h * w, 2)
    cells = feature_map.flatten(2).transpose(1, 2)
    return torch.cat([cells, grid.expand(n, -1, -1)], dim=-1)


COORDINATE_TAGS = ("concat", "product")


def tag_products(objects: Tensor, name: str) -> Tensor:
    """Regions ``[o, x, y]`` -> ``[o, o*x, o*y, x, y]``: "channel c at position (x, y)" becomes
    linear in the input (with ``(x, y)`` alone a ReLU has to form the product)."""
    features, xy = objects[..., :-2], objects[..., -2:]
    at_x = ops.elementwise("mul", features, xy[..., :1], name=f"{name}.tag_x")
    at_y = ops.elementwise("mul", features, xy[..., 1:], name=f"{name}.tag_y")
    return torch.cat([features, at_x, at_y, xy], dim=-1)


class MLP(ops.Traced):
    """``Linear -> ReLU`` per hidden layer, then a final ``Linear`` (dropout before it)."""

    def __init__(self, dims: list[int], dropout: float = 0.0, final_relu: bool = False):
        super().__init__()
        self.layers = nn.ModuleList(ops.Linear(a, b) for a, b in pairwise(dims))
        self.dropout = Dropout(dropout)
        self.final_relu = final_relu

    def forward(self, x: Tensor) -> Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if i == last:
                x = self.dropout(x)
            x = layer(x)
            if i < last or self.final_relu:
                x = ops.elementwise("relu", x, name=f"{layer.trace_name}.relu")
        return x


# --- question encoders: [B, L] ids (+ [B, V] vectors) -> [B, question_dim] -----------------

QUESTION_ENCODERS: Registry[Callable[[VQAConfig], nn.Module]] = Registry("question encoder")


@QUESTION_ENCODERS.register("bow")
class BagOfWords(ops.Traced):
    """Mean of the word embeddings of the non-pad tokens, then a linear map."""

    def __init__(self, cfg: VQAConfig):
        super().__init__()
        self.embedding = ops.Embedding(cfg.question_vocab_size, cfg.embed, padding_idx=cfg.pad_id)
        self.W = ops.Linear(cfg.embed, cfg.question_dim)
        self.pad_id = cfg.pad_id

    def forward(self, ids: Tensor, vectors: Tensor) -> Tensor:
        real = (ids != self.pad_id).float()
        weights = (real / real.sum(1, keepdim=True).clamp(min=1)).unsqueeze(1)  # [B,1,L]
        mean = ops.matmul(weights, self.embedding(ids), name=f"{self.trace_name}.mean")
        return self.W(mean.squeeze(1))


@QUESTION_ENCODERS.register("lstm")
class LSTMEncoder(ops.Traced):
    """An LSTM over the word embeddings; the question is its last state ``H_T``."""

    def __init__(self, cfg: VQAConfig):
        super().__init__()
        self.embedding = ops.Embedding(cfg.question_vocab_size, cfg.embed, padding_idx=cfg.pad_id)
        self.lstm = RecurrentStack("lstm", cfg.embed, cfg.question_dim, num_layers=1)
        self.pad_id = cfg.pad_id

    def forward(self, ids: Tensor, vectors: Tensor) -> Tensor:
        _, finals, _ = self.lstm(self.embedding(ids), mask=ids != self.pad_id)
        return finals[-1][0]


@QUESTION_ENCODERS.register("vector")
class VectorEncoder(ops.Traced):
    """The compact question vector (Sort-of-CLEVR's 11 numbers) through a linear map."""

    def __init__(self, cfg: VQAConfig):
        super().__init__()
        if cfg.question_vector_size <= 0:
            raise SeqbenchError(
                "question_encoder 'vector' needs question vectors, and this task has none",
                "use question_encoder: lstm or bow",
            )
        self.W = ops.Linear(cfg.question_vector_size, cfg.question_dim)

    def forward(self, ids: Tensor, vectors: Tensor) -> Tensor:
        return self.W(vectors)


def question_encoder(cfg: VQAConfig, default: str) -> nn.Module:
    return QUESTION_ENCODERS.get(cfg.question_encoder or default)(cfg)
