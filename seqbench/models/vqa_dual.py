"""Dual-stream vision-language transformer (ViLBERT-style, Lu et al. NeurIPS 2019).

An image stream (CNN regions or patches with their coordinates, after an ``[IMG]`` token) and
a text stream (``[CLS]`` + question words with positions) each run their own transformer
layers; co-attention (connection) layers join them: each stream's queries attend to the
other stream's keys and values in a shared ``co_d_model`` space, projected back to the
stream's own width, then each stream's feed-forward. The layers run in ViLBERT's order (the
reference ``BertEncoder``): text layers up to each connection's text index, image layers up
to its image index, the connection, the remaining layers last. The pooled ``[CLS]`` and
``[IMG]`` outputs are multiplied element-wise for the answer classifier.

Image-token options (all off by default; the Sort-of-CLEVR full preset turns them on):

- ``image_embedding_norm``: a LayerNorm on the image tokens, as ViLBERT's image embedding
  (and BERT's text one) ends.
- ``colour_channels``: :class:`~seqbench.models.vqa_parts.CellColours` beside the CNN channels.
- ``coordinate_tags: product``: tokens ``[o, o*x, o*y, x, y]`` (as the relation network's).
- ``teacher: {task, model}``: the regions come from that trained model's CNN, frozen (the train
  stage trains or finds it; only its CNN is kept), as ViLBERT's come from a detector trained
  beforehand rather than with the streams.

Why: on Sort-of-CLEVR the plain model sits on the CNN+MLP plateau. Its cross-modal attention
stays uniform (mean entropy of text-over-image weights 3.25 nats of the 3.26 maximum after
three quick-preset epochs), so co-attention acts as a global average: image-wide statistics
answer "count" at its colour-blind optimum (82.8%), while "is the red object on the left?"
stays at chance. The image tokens were small beside the normalised text stream and carried
colour poorly (see ``CellColours``). With the three options left/top rose above chance on the
quick preset within two to three epochs, which no other change tried did (pre-norm, learned
cell embeddings, patches, mean pooling, lr 3e-4 or 3e-3, no clipping, a non-relational
curriculum). On the full preset they still left the plateau late or never (test 80.90 after
six epochs, 71.05 after nine); with regions from the trained rn's frozen CNN (``teacher``) dev
accuracy was 89.9 after one epoch and 98.9 by the fourth (test 98.00, relational 96.25).

Every op runs under ``ops.modality`` (``text``, ``image`` or ``cross``), so the trace labels
each attention product with the modality it works on.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor, nn

from seqbench import ops
from seqbench.dropout import Dropout
from seqbench.errors import SeqbenchError
from seqbench.models.attention import AddNorm, FeedForward, SinusoidalPositionalEncoding
from seqbench.models.registry import register_model
from seqbench.models.transformer import TransformerEncoderLayer
from seqbench.models.vqa_parts import (
    COORDINATE_TAGS,
    MLP,
    CellColours,
    CNNTrunk,
    RegionStudent,
    VQAConfig,
    per_question,
    regions,
    tag_products,
)

# Bump when what training produces changes (checkpoints.code_version): 2 = image-token options
# (embedding norm, cell colours, product coordinate tags; off by default). A region teacher
# (off by default) gives a new config, hence a new run: no bump.
VERSION = 2

# ViLBERT-base (bert_base_6layer_6conect.json of the public code): text = BERT-base, image
# stream 6 x 1024 (FFN 1024, 8 heads), 6 connection layers at 1024 wide with 8 heads.
SHAPES: dict[str, dict[str, int]] = {
    "vilbert-base": {
        "d_model": 768, "num_heads": 12, "num_layers": 12, "d_ff": 3072,
        "image_d_model": 1024, "image_heads": 8, "image_layers": 6, "image_d_ff": 1024,
        "co_d_model": 1024, "co_heads": 8, "co_layers": 6,
    },
}  # fmt: skip


def shaped(cfg: VQAConfig) -> VQAConfig:
    """``cfg`` with its ``dual_shape``'s sizes (unknown shapes fail with the known ones)."""
    if not cfg.dual_shape:
        return cfg
    if cfg.dual_shape not in SHAPES:
        raise SeqbenchError(
            f"unknown vl-dual shape {cfg.dual_shape!r}", f"known: {', '.join(SHAPES)}"
        )
    return dataclasses.replace(cfg, **SHAPES[cfg.dual_shape])


def schedule(text_layers: int, image_layers: int, co_layers: int) -> list[tuple[str, int]]:
    """The layer order: ``("text", i)``, ``("image", i)``, ``("co", k)``. Connection ``k``
    follows text layer ``text_layers - co_layers + k - 1`` and image layer ``k - 1`` (ViLBERT's
    t_biattention_id = the last ``co_layers`` text layers, v_biattention_id = 0..co_layers-1)."""
    if not 1 <= co_layers <= min(text_layers, image_layers):
        raise SeqbenchError(
            f"vl-dual needs 1 <= co_layers <= text and image layers, got {co_layers} "
            f"(text {text_layers}, image {image_layers})",
            "lower co_layers or add stream layers",
        )
    order: list[tuple[str, int]] = []
    t_start = v_start = 0
    for k in range(co_layers):
        t_end, v_end = text_layers - co_layers + k, k
        order += [("text", i) for i in range(t_start, t_end)]
        order += [("image", i) for i in range(v_start, v_end)]
        order.append(("co", k))
        t_start, v_start = t_end, v_end
    order += [("image", i) for i in range(v_start, image_layers)]
    order += [("text", i) for i in range(t_start, text_layers)]
    return order


class CoAttention(ops.Traced):
    """Queries from one stream (width ``d_q``) over keys/values of the other (``d_kv``), in
    a shared ``d_co`` space with ``heads`` heads; the output is back at ``d_q``."""

    def __init__(self, d_q: int, d_kv: int, d_co: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if d_co % heads:
            raise SeqbenchError(
                f"co_d_model {d_co} is not divisible by co_heads {heads}", "change either"
            )
        self.heads = heads
        self.W_q, self.W_o = ops.Linear(d_q, d_co), ops.Linear(d_co, d_q)
        self.W_k, self.W_v = ops.Linear(d_kv, d_co), ops.Linear(d_kv, d_co)
        self.dropout = Dropout(dropout)

    def _split(self, X: Tensor) -> Tensor:
        B, L, d = X.shape
        return X.view(B, L, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, queries: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
        """[B,Lq,d_q] over [B,Lk,d_kv] (``context_mask`` bool [B,Lk], True = real) -> [B,Lq,d_q]."""
        Q, K, V = (
            self._split(self.W_q(queries)),
            self._split(self.W_k(context)),
            self._split(self.W_v(context)),
        )
        out, _ = ops.scaled_dot_product_attention(
            Q, K, V, context_mask[:, None, None, :], name=self.trace_name
        )
        B, h, L, d_head = out.shape
        return self.W_o(self.dropout(out.transpose(1, 2).reshape(B, L, h * d_head)))


class ConnectionLayer(ops.Traced):
    """Both co-attentions (text over image, image over text), add & norm, each stream's FFN."""

    def __init__(self, cfg: VQAConfig):
        super().__init__()
        dt, dv, dc, drop = cfg.d_model, cfg.image_d_model, cfg.co_d_model, cfg.dropout
        self.text_attention = CoAttention(dt, dv, dc, cfg.co_heads, drop)
        self.image_attention = CoAttention(dv, dt, dc, cfg.co_heads, drop)
        self.text_norm, self.image_norm = AddNorm(dt, drop), AddNorm(dv, drop)
        self.text_ffn, self.image_ffn = (
            FeedForward(dt, cfg.d_ff, drop),
            FeedForward(dv, cfg.image_d_ff, drop),
        )
        self.text_ffn_norm, self.image_ffn_norm = AddNorm(dt, drop), AddNorm(dv, drop)

    def forward(
        self, T: Tensor, V: Tensor, text_mask: Tensor, image_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        with ops.modality("cross"):
            T_new = self.text_norm(T, self.text_attention(T, V, image_mask))
            V_new = self.image_norm(V, self.image_attention(V, T, text_mask))
        with ops.modality("text"):
            T_new = self.text_ffn_norm(T_new, self.text_ffn(T_new))
        with ops.modality("image"):
            V_new = self.image_ffn_norm(V_new, self.image_ffn(V_new))
        return T_new, V_new


class DualStreamTransformer(RegionStudent, ops.Traced):
    """ViLBERT-style two-stream encoder with co-attention, answer from ``[CLS] * [IMG]``."""

    def __init__(self, cfg: VQAConfig):
        super().__init__()
        cfg = shaped(cfg)
        dt, dv, dc = cfg.d_model, cfg.image_d_model, cfg.co_d_model
        self.order = schedule(cfg.num_layers, cfg.image_layers, cfg.co_layers)
        channels = self.init_regions(cfg, dv)
        self.colours: CellColours | None = None
        if cfg.colour_channels > 0:
            if cfg.patch_size > 0:
                raise SeqbenchError(
                    "colour_channels applies to CNN regions, not patches (linear in the pixels)",
                    "set colour_channels: 0 or patch_size: 0",
                )
            side = CNNTrunk.output_side(cfg.image_size, cfg.conv_layers)
            self.colours = CellColours(
                cfg.colour_channels, 2**cfg.conv_layers, side, cfg.image_size
            )
            channels += cfg.colour_channels
        if cfg.coordinate_tags not in COORDINATE_TAGS:
            raise SeqbenchError(
                f"unknown coordinate_tags {cfg.coordinate_tags!r}",
                f"choose one of: {', '.join(COORDINATE_TAGS)}",
            )
        self.product_tags = cfg.coordinate_tags == "product"
        self.W_img = ops.Linear((3 if self.product_tags else 1) * channels + 2, dv)
        # ViLBERT's image embedding ends in a LayerNorm (BertImageEmbeddings), like BERT's text one
        self.image_norm = ops.LayerNorm(dv) if cfg.image_embedding_norm else None
        self.img_token = nn.Parameter(torch.randn(1, 1, dv) * 0.02)
        self.embedding = ops.Embedding(cfg.question_vocab_size, dt, padding_idx=cfg.pad_id)
        self.positions = SinusoidalPositionalEncoding(dt, max(cfg.max_question_len, 64) + 1)
        self.cls = nn.Parameter(torch.randn(1, 1, dt) * 0.02)
        drop = cfg.dropout
        self.text_layers = nn.ModuleList(
            TransformerEncoderLayer(dt, cfg.num_heads, cfg.d_ff, drop)
            for _ in range(cfg.num_layers)
        )
        self.image_layers = nn.ModuleList(
            TransformerEncoderLayer(dv, cfg.image_heads, cfg.image_d_ff, drop)
            for _ in range(cfg.image_layers)
        )
        self.co_layers = nn.ModuleList(ConnectionLayer(cfg) for _ in range(cfg.co_layers))
        self.text_pool, self.image_pool = ops.Linear(dt, dc), ops.Linear(dv, dc)
        self.classifier = MLP([dc, cfg.hidden, cfg.num_answers], drop)
        self.pad_id = cfg.pad_id

    def streams(
        self, image_tokens: Tensor, question_ids: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Both encoded streams: ([B,1+Lq,dt] text, [B,1+R,dv] image, their masks)."""
        B = question_ids.shape[0]
        with ops.modality("text"):
            words = self.embedding(question_ids)
            T = self.positions(torch.cat([self.cls.expand(B, -1, -1), words], dim=1))
        V = torch.cat([self.img_token.expand(B, -1, -1), image_tokens], dim=1)
        real = torch.ones(B, 1, dtype=torch.bool, device=T.device)
        text_mask = torch.cat([real, question_ids != self.pad_id], dim=1)
        image_mask = torch.ones(V.shape[:2], dtype=torch.bool, device=V.device)
        for kind, i in self.order:
            if kind == "text":
                with ops.modality("text"):
                    T = self.text_layers[i](T, text_mask)
            elif kind == "image":
                with ops.modality("image"):
                    V = self.image_layers[i](V, image_mask)
            else:
                T, V = self.co_layers[i](T, V, text_mask, image_mask)
        return T, V, text_mask, image_mask

    def forward(
        self,
        images: Tensor,
        question_ids: Tensor,
        question_vectors: Tensor,
        image_index: Tensor | None = None,
    ) -> Tensor:
        with ops.modality("image"):
            features = self.regions_of(images)
            if self.colours is not None:
                features = torch.cat([features, self.colours(images)], dim=1)
            cells = regions(features)
            if self.product_tags:
                cells = tag_products(cells, self.trace_name)
            image_tokens = self.W_img(cells)
            if self.image_norm is not None:
                image_tokens = self.image_norm(image_tokens)
            image_tokens = per_question(image_tokens, image_index)
        T, V, _, _ = self.streams(image_tokens, question_ids)
        with ops.modality("cross"):
            t = ops.elementwise("tanh", self.text_pool(T[:, 0]), name=f"{self.trace_name}.tp")
            v = ops.elementwise("tanh", self.image_pool(V[:, 0]), name=f"{self.trace_name}.ip")
            joint = ops.elementwise("mul", t, v, name=f"{self.trace_name}.joint")
            return self.classifier(joint)


@register_model("vl-dual", family="vqa")
def build_vl_dual(config: dict[str, Any]) -> nn.Module:
    """Dual-stream (ViLBERT-style) transformer: image and text streams joined by co-attention."""
    return DualStreamTransformer(VQAConfig.from_dict(config, "vl-dual"))
