"""Relation network (Santoro et al., NeurIPS 2017): ``f(mean_{i,j} g(o_i, o_j, q))``.

Objects ``o_i`` are the CNN feature-map cells with their coordinates; ``g`` is an MLP over
every ordered pair (``R^2`` of them, 625 for a 5x5 map) conditioned on the question ``q``.
``g``'s first layer is linear in its concatenated input, so it is computed as
``W_a o_i + W_b o_j + W_q q`` (per object, then broadcast over pairs) rather than on ``R^2``
concatenations: the same function with ``R`` times fewer multiplications in that layer.

Options that shorten the plateaus a narrow ``g`` (64 wide here, 256 in the paper) sits on:

- ``g_conditioning: film`` scales the o_i and o_j parts by question-dependent gains
  ``(1 + W_gamma q)`` (FiLM, Perez et al. 2018).
- ``object_film``: FiLM on the CNN channels before the pairs form, so "the red object" is
  picked out by a product with the question rather than built from ReLUs.
- ``coordinate_tags: product``: objects ``[o, o*x, o*y, x, y]``; "where is channel c" is then
  linear in the input (with ``(x, y)`` alone a ReLU has to form the product).
- ``relation_norm``: batch-normalise ``mean g``: with 625 pairs averaged, image-to-image
  differences are small next to the shared part and ``f`` barely sees them at first.

Measured on Sort-of-CLEVR (full preset, 1 CPU thread): the paper's form with a 64-wide ``g``
stayed near 69% dev for 12 epochs; with these three and a first epoch of non-relational
questions only (the family's ``curriculum`` train option) it passed 88% dev after epoch 2.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from seqbench import ops
from seqbench.errors import SeqbenchError
from seqbench.models.registry import register_model
from seqbench.models.vqa_parts import (
    COORDINATE_TAGS,
    MLP,
    BatchNorm1d,
    CNNTrunk,
    VQAConfig,
    per_question,
    question_encoder,
    regions,
    tag_products,
)

CONDITIONING = ("concat", "film")


class RelationNetwork(ops.Traced):
    """CNN objects, an LSTM (or vector) question, ``g`` over all pairs, mean, ``f``."""

    def __init__(self, cfg: VQAConfig):
        super().__init__()
        h = cfg.g_hidden
        if cfg.coordinate_tags not in COORDINATE_TAGS:
            raise SeqbenchError(
                f"unknown coordinate_tags {cfg.coordinate_tags!r}",
                f"choose one of: {', '.join(COORDINATE_TAGS)}",
            )
        self.product_tags = cfg.coordinate_tags == "product"
        object_dim = (3 if self.product_tags else 1) * cfg.channels + 2
        self.cnn = CNNTrunk(cfg.channels, cfg.conv_layers)
        self.question = question_encoder(cfg, "lstm")
        self.W_a = ops.Linear(object_dim, h)  # g's first layer, o_i part (carries the bias)
        self.W_b = ops.Linear(object_dim, h, bias=False)  # o_j part
        self.W_q = ops.Linear(cfg.question_dim, h, bias=False)  # question part
        if cfg.g_conditioning not in CONDITIONING:
            raise SeqbenchError(
                f"unknown g_conditioning {cfg.g_conditioning!r}",
                f"choose one of: {', '.join(CONDITIONING)}",
            )
        self.film = cfg.g_conditioning == "film"
        # FiLM on the CNN channels: the question picks "the red object" before the pairs form.
        self.object_film = (
            ops.Linear(cfg.question_dim, 2 * cfg.channels) if cfg.object_film else None
        )
        if self.film:  # question-dependent gains on the o_i and o_j parts (1 + W_gamma q)
            self.W_gamma_a = ops.Linear(cfg.question_dim, h)
            self.W_gamma_b = ops.Linear(cfg.question_dim, h)
        self.g_rest = MLP([h] * cfg.g_layers, final_relu=True) if cfg.g_layers > 1 else None
        self.relation_norm = BatchNorm1d(h) if cfg.relation_norm else None
        self.f = MLP([h, cfg.f_hidden, cfg.f_hidden, cfg.num_answers], cfg.dropout)

    @staticmethod
    def modulate(x: Tensor, gamma: Tensor, name: str) -> Tensor:
        """FiLM-style gain ``x * (1 + gamma)``: x [B,R,h] per object, gamma [B,h] per question."""
        gained = ops.elementwise("mul", x, gamma.unsqueeze(1), name=name)
        return ops.elementwise("add", x, gained, name=f"{name}.add")

    def relations(self, objects: Tensor, q: Tensor, image_index: Tensor | None) -> Tensor:
        """``mean_{i,j} g(o_i, o_j, q)``: objects [N,R,d] per image, question [B,q] -> [B,h]."""
        name = self.trace_name
        B, R = q.shape[0], objects.shape[1]
        # The object projections are per image: computed before fanning out to questions.
        first = per_question(self.W_a(objects), image_index)  # [B,R,h]: o_i
        second = per_question(self.W_b(objects), image_index)  # [B,R,h]: o_j
        if self.film:
            first = self.modulate(first, self.W_gamma_a(q), f"{name}.film_a")
            second = self.modulate(second, self.W_gamma_b(q), f"{name}.film_b")
        first, second = first.unsqueeze(2), second.unsqueeze(1)
        pairs = ops.elementwise("add", first, second, name=f"{name}.g1.pairs")
        query = self.W_q(q)[:, None, None, :]
        g = ops.elementwise("add", pairs, query, name=f"{name}.g1.question")
        g = ops.elementwise("relu", g, name=f"{name}.g1.relu").reshape(B, R * R, -1)
        if self.g_rest is not None:
            g = self.g_rest(g)
        # The mean rather than the sum: the same function up to f's first-layer scale, with
        # logits of order 1 at initialisation.
        return g.mean(dim=1)

    def forward(
        self,
        images: Tensor,
        question_ids: Tensor,
        question_vectors: Tensor,
        image_index: Tensor | None = None,
    ) -> Tensor:
        q = self.question(question_ids, question_vectors)
        features = self.cnn(images)
        if self.object_film is not None:
            features = self.condition_objects(features, q, image_index)
            image_index = None  # the objects are now per question
        objects = regions(features)
        if self.product_tags:
            objects = self.tag_products(objects)
        relations = self.relations(objects, q, image_index)
        if self.relation_norm is not None:
            relations = self.relation_norm(relations)
        return self.f(relations)

    def tag_products(self, objects: Tensor) -> Tensor:
        """``[o, o*x, o*y, x, y]``: "channel c at position (x, y)" becomes linear in the input,
        so g's first layer reads where the queried object is without building the product
        from ReLUs (the plateau the concatenated tags sit on for epochs)."""
        return tag_products(objects, self.trace_name)

    def condition_objects(self, features: Tensor, q: Tensor, image_index: Tensor | None) -> Tensor:
        """FiLM (Perez et al. 2018): ``x * (1 + gamma(q)) + beta(q)`` per channel, per question."""
        name = self.trace_name
        gamma, beta = self.object_film(q).chunk(2, dim=-1)
        x = per_question(features, image_index)
        gained = ops.elementwise("mul", x, gamma[:, :, None, None], name=f"{name}.object_film")
        x = ops.elementwise("add", x, gained, name=f"{name}.object_film.gain")
        return ops.elementwise("add", x, beta[:, :, None, None], name=f"{name}.object_film.shift")


@register_model("rn", family="vqa")
def build_rn(config: dict[str, Any]) -> nn.Module:
    """Relation network: an MLP over all object pairs conditioned on the question."""
    return RelationNetwork(VQAConfig.from_dict(config, "rn"))
