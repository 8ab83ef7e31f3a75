"""The papers' workloads as real module definitions, to be traced at the ATen level.

:mod:`seqbench.accel.workloads` builds these traces by hand (shape lists); here they are
networks a forward pass runs, so the ATen tracer records them like any user's model and a
test holds the two against each other (per-op-class MACs). torchvision does not import
beside the pinned torch, so AlexNet and VGG are written out here from their papers.

* :func:`transformer_base`: ReTransformer's Model A, the base Transformer of Vaswani et al.
  (6+6 layers x 512, 8 heads, FFN 2048) as ``torch.nn.Transformer`` plus embeddings and the
  output projection;
* :class:`ViLBERTEncoder`: ViLBERT-base's two streams and their co-attention (connection)
  layers, in the order of the reference ``BertEncoder.forward``;
* :class:`AlexNet` (Krizhevsky et al. 2012, with its two-GPU grouped convolutions),
  :class:`VGG` (Simonyan & Zisserman 2015, configurations A-E) and PipeLayer's MNIST
  networks (:class:`MnistMLP`, :class:`LeNet`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from seqbench.external.model import ExternalModel


class Seq2SeqBase(nn.Module):
    """Token embeddings, ``nn.Transformer`` and the output projection (teacher-forced)."""

    def __init__(
        self, vocab: int, d_model: int, heads: int, d_ff: int, layers: tuple[int, int]
    ) -> None:
        super().__init__()
        self.src_embedding = nn.Embedding(vocab, d_model)
        self.tgt_embedding = nn.Embedding(vocab, d_model)
        self.transformer = nn.Transformer(
            d_model, heads, layers[0], layers[1], d_ff, dropout=0.0, batch_first=True
        )
        self.output_projection = nn.Linear(d_model, vocab)

    def forward(self, src: Tensor, tgt: Tensor) -> Tensor:
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
        hidden = self.transformer(self.src_embedding(src), self.tgt_embedding(tgt), tgt_mask=causal)
        return self.output_projection(hidden)


def transformer_base(
    *, src_len: int = 128, tgt_len: int = 128, vocab: int = 32000, batch: int = 1, seed: int = 0
) -> ExternalModel:
    """The base Transformer, one teacher-forced pass (target tokens are the unit)."""
    torch.manual_seed(seed)
    model = Seq2SeqBase(vocab, 512, 8, 2048, (6, 6))
    inputs = (torch.randint(0, vocab, (batch, src_len)), torch.randint(0, vocab, (batch, tgt_len)))
    source = {"kind": "paper", "name": "transformer-base", "weights": "random (seeded)"}
    return ExternalModel("transformer-base", model, inputs, "token", batch * tgt_len, batch, source)


# --- ViLBERT-base --------------------------------------------------------------------------


class Attention(nn.Module):
    """Multi-head attention of a ``d_q`` query stream over a ``d_kv`` stream at width ``d``."""

    def __init__(self, d_q: int, d_kv: int, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.W_q, self.W_k, self.W_v = nn.Linear(d_q, d), nn.Linear(d_kv, d), nn.Linear(d_kv, d)
        self.W_o = nn.Linear(d, d_q)

    def split(self, X: Tensor) -> Tensor:
        B, L, d = X.shape
        return X.view(B, L, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, X: Tensor, Y: Tensor) -> Tensor:
        Q, K, V = self.split(self.W_q(X)), self.split(self.W_k(Y)), self.split(self.W_v(Y))
        scores = torch.matmul(Q, K.transpose(-2, -1)) / math.sqrt(Q.shape[-1])
        context = torch.matmul(torch.softmax(scores, dim=-1), V)
        B, h, L, d_head = context.shape
        return self.W_o(context.transpose(1, 2).reshape(B, L, h * d_head))


class FeedForward(nn.Module):
    def __init__(self, d: int, d_ff: int) -> None:
        super().__init__()
        self.W_1, self.W_2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)

    def forward(self, X: Tensor) -> Tensor:
        return self.W_2(nn.functional.gelu(self.W_1(X)))


class StreamLayer(nn.Module):
    """A post-norm BERT layer of one stream."""

    def __init__(self, d: int, heads: int, d_ff: int) -> None:
        super().__init__()
        self.self_attention = Attention(d, d, d, heads)
        self.norm_1, self.ffn, self.norm_2 = nn.LayerNorm(d), FeedForward(d, d_ff), nn.LayerNorm(d)

    def forward(self, X: Tensor) -> Tensor:
        X = self.norm_1(X + self.self_attention(X, X))
        return self.norm_2(X + self.ffn(X))


class ConnectionLayer(nn.Module):
    """Co-attention: text queries over visual keys/values and the reverse (shared width), then
    each stream's feed-forward."""

    def __init__(self, text: dict[str, int], visual: dict[str, int], co: dict[str, int]) -> None:
        super().__init__()
        dt, dv = text["hidden"], visual["hidden"]
        self.text_attention = Attention(dt, dv, co["hidden"], co["heads"])
        self.visual_attention = Attention(dv, dt, co["hidden"], co["heads"])
        self.text_norm, self.visual_norm = nn.LayerNorm(dt), nn.LayerNorm(dv)
        self.text_ffn, self.visual_ffn = (
            FeedForward(dt, text["ffn"]),
            FeedForward(dv, visual["ffn"]),
        )
        self.text_ffn_norm, self.visual_ffn_norm = nn.LayerNorm(dt), nn.LayerNorm(dv)

    def forward(self, T: Tensor, V: Tensor) -> tuple[Tensor, Tensor]:
        T2 = self.text_norm(T + self.text_attention(T, V))
        V2 = self.visual_norm(V + self.visual_attention(V, T))
        T2 = self.text_ffn_norm(T2 + self.text_ffn(T2))
        return T2, self.visual_ffn_norm(V2 + self.visual_ffn(V2))


class ViLBERTEncoder(nn.Module):
    """ViLBERT-base's encoder (``workloads.VILBERT_BASE``): embeddings and heads excluded."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        t, v = config["text"], config["visual"]
        self.config = config
        self.text = nn.ModuleDict({"layers": _layers(t)})
        self.visual = nn.ModuleDict({"layers": _layers(v)})
        count = len(config["t_biattention_id"])
        self.co = nn.ModuleDict(
            {
                "layers": nn.ModuleList(
                    ConnectionLayer(t, v, config["connection"]) for _ in range(count)
                )
            }
        )

    def forward(self, text: Tensor, regions: Tensor) -> tuple[Tensor, Tensor]:
        cfg = self.config
        t_start = v_start = 0
        text_layers, visual_layers = self.text["layers"], self.visual["layers"]
        for i, (v_end, t_end) in enumerate(
            zip(cfg["v_biattention_id"], cfg["t_biattention_id"], strict=True)
        ):
            for layer in text_layers[t_start:t_end]:
                text = layer(text)
            for layer in visual_layers[v_start:v_end]:
                regions = layer(regions)
            text, regions = self.co["layers"][i](text, regions)
            t_start, v_start = t_end, v_end
        for layer in visual_layers[v_start:]:
            regions = layer(regions)
        for layer in text_layers[t_start:]:
            text = layer(text)
        return text, regions


def _layers(stream: dict[str, int]) -> nn.ModuleList:
    return nn.ModuleList(
        StreamLayer(stream["hidden"], stream["heads"], stream["ffn"])
        for _ in range(stream["layers"])
    )


def vilbert_base(
    config: dict[str, Any], *, text_len: int = 20, regions: int = 37, batch: int = 1, seed: int = 0
) -> ExternalModel:
    """ViLBERT-base's streams on ``text_len`` token and ``regions`` region features."""
    torch.manual_seed(seed)
    model = ViLBERTEncoder(config)
    inputs = (
        torch.randn(batch, text_len, config["text"]["hidden"]),
        torch.randn(batch, regions, config["visual"]["hidden"]),
    )
    source = {"kind": "paper", "name": "vilbert-base", "weights": "random (seeded)"}
    units = batch * (text_len + regions)
    return ExternalModel("vilbert-base", model, inputs, "token", units, batch, source)


# --- convolutional networks ----------------------------------------------------------------


class AlexNet(nn.Module):
    """AlexNet on 227 x 227 images, with the paper's two-GPU groups (conv 2, 4, 5)."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Linear(9216, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, classes),
        )  # fmt: skip

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier(self.features(images).flatten(1))


# Simonyan & Zisserman, Table 1: output channels per 3x3 convolution, "M" a 2x2 max-pool;
# C's 1x1 convolutions are written "1x<channels>".
VGG_CONFIGS: dict[str, list[Any]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, "1x256", "M", 512, 512, "1x512", "M",
          512, 512, "1x512", "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}  # fmt: skip


class VGG(nn.Module):
    """VGG configuration ``A``..``E`` on 224 x 224 images."""

    def __init__(self, config: str = "D", classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in VGG_CONFIGS[config]:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            kernel, out = (1, int(item[2:])) if isinstance(item, str) else (3, item)
            layers += [nn.Conv2d(channels, out, kernel, padding=kernel // 2), nn.ReLU()]
            channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, classes),
        )  # fmt: skip

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier(self.features(images).flatten(1))


class MnistMLP(nn.Module):
    """PipeLayer's fully connected MNIST network, 784-500-250-10."""

    def __init__(self, widths: tuple[int, ...] = (784, 500, 250, 10)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for k, n in zip(widths, widths[1:], strict=False):
            layers += [nn.Linear(k, n), nn.ReLU()]
        self.classifier = nn.Sequential(*layers[:-1])

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier(images.flatten(1))


class LeNet(nn.Module):
    """Caffe's LeNet for MNIST: conv 5x5x20, pool, conv 5x5x50, pool, FC 800-500-10."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 20, 5), nn.MaxPool2d(2, 2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2, 2)
        )
        self.classifier = nn.Sequential(nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier(self.features(images).flatten(1))


def image_model(
    model: nn.Module, name: str, size: int, batch: int = 1, channels: int = 3
) -> ExternalModel:
    """``model`` on ``batch`` images of ``size`` x ``size`` (a sample is an image)."""
    source = {"kind": "paper", "name": name, "weights": "random (seeded)"}
    images = torch.randn(batch, channels, size, size)
    return ExternalModel(name, model, (images,), "sample", batch, batch, source)


def _vilbert(seq_len: int, batch: int, seed: int) -> ExternalModel:
    from seqbench.accel.workloads import VILBERT_BASE  # the configuration both sides share

    return vilbert_base(VILBERT_BASE, text_len=seq_len, batch=batch, seed=seed)


def _image(
    make: Callable[[], nn.Module], name: str, size: int, channels: int = 3
) -> Callable[..., ExternalModel]:
    def build(seq_len: int, batch: int, seed: int) -> ExternalModel:
        torch.manual_seed(seed)
        return image_model(make(), name, size, batch, channels)

    return build


# ``seqbench price --paper NAME``: (seq_len, batch, seed) -> the model (images ignore seq_len).
PAPERS: dict[str, Callable[[int, int, int], ExternalModel]] = {
    "transformer-base": lambda seq_len, batch, seed: transformer_base(
        src_len=seq_len, tgt_len=seq_len, batch=batch, seed=seed
    ),
    "vilbert-base": _vilbert,
    "alexnet": _image(AlexNet, "alexnet", 227),
    "mnist-mlp": _image(MnistMLP, "mnist-mlp", 28, channels=1),
    "mnist-cnn": _image(LeNet, "mnist-cnn", 28, channels=1),
    **{
        f"vgg-{c.lower()}": _image(lambda c=c: VGG(c), f"vgg-{c.lower()}", 224) for c in VGG_CONFIGS
    },
}
