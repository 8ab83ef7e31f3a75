"""Functional effects of a profile on the model: quality is measured with them switched on.

``effect_hooks(profile, seed)`` returns :class:`~seqbench.ops.OpHook` objects for the
effects the profile lists (``effects:`` in its YAML; none for ``cpu``):

* ``crossbar_adc`` (ReRAM): weights quantized to ``precision.weight_bits`` and sliced over
  ``crossbar.bits_per_cell`` cells, inputs quantized to ``precision.input_bits`` and
  streamed ``dac.bits`` at a time, every row tile's column sum per (input slice, weight
  slice) converted by an ``adc.bits`` ADC, then shifted and added; optional seeded lognormal
  conductance variation (``nonideal.conductance_sigma``) per cell. Applied to static
  products, RNN steps and (written-operand) dynamic products; convolutions get the input
  and weight quantization only. When the ADC resolves every possible column sum exactly
  (ISAAC's 8-bit ADC with its flipped encoding does), the integer arithmetic is computed
  directly (same result, much faster). Static weights are quantized once per hook object:
  make new hooks for a new model.
* ``softmax_lut`` (ReTransformer): exact max, exponentials from a ``softmax.lut_entries``
  table over ``softmax.lut_range``.
* ``digital_quant`` (digital CIM): inputs and weights rounded to their bit widths.
* ``sparse_attention`` / ``token_pruning`` (MulTCIM): attention probabilities under
  ``attention_threshold`` are dropped; keys outside the cumulative-attention share
  ``token_theta`` are pruned (their probability columns zeroed), rows renormalised.
* ``nand_similarity`` (ICE): similarity on ``precision.vector_bits`` vectors quantized to
  ``nand.similarity_bits``; the top ``k x search.candidate_factor`` are re-ranked exactly.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import torch
from torch import Tensor

from seqbench import ops
from seqbench.accel.profile import Profile

ROW_CHUNK = 128  # query rows emulated at once (bounds memory of the bit-plane products)


def effect_hooks(profile: Profile, seed: int = 0) -> list[ops.OpHook]:
    """The profile's functional effects as op hooks (empty list for the ``cpu`` profile)."""
    hooks: list[ops.OpHook] = []
    effects = set(profile.effects)
    if "crossbar_adc" in effects:
        hooks.append(CrossbarEffect(profile, seed))
    if "digital_quant" in effects:
        hooks.append(DigitalQuantEffect(profile))
    if effects & {"sparse_attention", "token_pruning", "softmax_lut"}:
        hooks.append(SoftmaxEffect(profile, effects))
    if "nand_similarity" in effects:
        hooks.append(NandSimilarityEffect(profile))
    return hooks


def quantize(x: Tensor, bits: int) -> tuple[Tensor, float]:
    """Symmetric per-tensor quantization: (integers as float, scale)."""
    top = 2 ** (bits - 1) - 1
    peak = float(x.detach().abs().max())
    scale = peak / top if peak > 0 else 1.0
    return torch.clamp(torch.round(x / scale), -top, top), scale


def _digits(magnitude: Tensor, width: int, total_bits: int) -> list[tuple[int, Tensor]]:
    """Split non-negative integers into ``width``-bit digits: [(shift, digit), ...]."""
    out = []
    for shift in range(0, total_bits, width):
        out.append((shift, torch.floor(magnitude / 2**shift) % 2**width))
    return out


class CrossbarEffect(ops.OpHook):
    """Bit-sliced, ADC-quantized crossbar arithmetic (see module doc)."""

    OPS = ("matmul_static", "recurrent_step", "matmul_dynamic")

    def __init__(self, profile: Profile, seed: int) -> None:
        g = profile.get
        self.rows = int(g("crossbar.rows", "count"))
        self.cell_bits = int(g("crossbar.bits_per_cell", "bits"))
        self.weight_bits = int(g("precision.weight_bits", "bits"))
        self.input_bits = int(g("precision.input_bits", "bits"))
        self.dac_bits = int(g("dac.bits", "bits"))
        self.adc_bits = int(g("adc.bits", "bits"))
        self.sigma = profile.opt("nonideal.conductance_sigma", "fraction", 0.0)
        self.seed = seed
        full_scale = self.rows * (2**self.dac_bits - 1) * (2**self.cell_bits - 1)
        if profile.setting("weight_encoding", "offset") == "offset":
            # ISAAC's encoding stores a column's weights flipped when its sum could exceed half
            # the range, so the ADC needs one bit less (Shafiee et al. ISCA'16)
            full_scale = math.ceil(full_scale / 2)
        self.full_scale = full_scale
        self.adc_exact = full_scale <= 2**self.adc_bits - 1
        self._noise: dict[tuple, list[Tensor]] = {}
        self._weights: dict[tuple, tuple] = {}  # static weights: quantized once per hook

    def transform_inputs(self, op_class, name, inputs, meta):  # noqa: ANN001
        """Convolutions: inputs and weights at the crossbar's precision (ADC not emulated)."""
        if op_class != ops.OpClass.CONV:
            return inputs
        (qx, sx), (qw, sw) = (
            quantize(inputs[0], self.input_bits),
            quantize(inputs[-1], self.weight_bits),
        )
        return (qx * sx, *inputs[1:-1], qw * sw)

    def transform_output(self, op_class, name, inputs, output, meta):  # noqa: ANN001
        if ops.OpClass(op_class).value not in self.OPS:
            return output
        with torch.no_grad():
            x = inputs[0]
            w = (
                inputs[-1].transpose(-1, -2)
                if op_class != ops.OpClass.MATMUL_DYNAMIC
                else inputs[1]
            )
            ideal = torch.matmul(x, w)
            emulated = self.matmul(x, w, name, static=op_class != ops.OpClass.MATMUL_DYNAMIC)
        return output + (emulated - ideal).to(output.dtype)

    def _slices(self, qw: Tensor, name: str, static: bool) -> list[tuple[float, int, Tensor]]:
        """(sign, shift, cell values) of the weight, with conductance variation when set."""
        mag_bits = self.weight_bits - 1
        slices = []
        for sign, part in ((1.0, torch.relu(qw)), (-1.0, torch.relu(-qw))):
            for shift, digit in _digits(part, self.cell_bits, mag_bits):
                slices.append((sign, shift, digit))
        if self.sigma > 0:
            key = (name, tuple(qw.shape)) if static else None
            noise = self._noise.get(key) if key else None
            if noise is None:
                gen = torch.Generator().manual_seed(self.seed * 1000003 + zlib.crc32(name.encode()))
                noise = [
                    torch.exp(torch.randn(d.shape, generator=gen) * self.sigma)
                    for _, _, d in slices
                ]
                if key:
                    self._noise[key] = noise
            slices = [(s, sh, d * n) for (s, sh, d), n in zip(slices, noise, strict=False)]
        return slices

    def matmul(self, x: Tensor, w: Tensor, name: str = "", static: bool = True) -> Tensor:
        """``x @ w`` ([..., M, K] x [..., K, N]) as the crossbar computes it."""
        x, w = x.float(), w.float()
        qx, sx = quantize(x, self.input_bits)
        key = (name, w.data_ptr(), tuple(w.shape)) if static else None
        cached = self._weights.get(key) if key else None
        if cached is None:
            qw, sw = quantize(w, self.weight_bits)
            slices = self._slices(qw, name, static)
            w_eff = sum(s * 2**sh * d for s, sh, d in slices) if self.adc_exact else None
            cached = (qw, sw, slices, w_eff)
            if key:
                self._weights[key] = cached
        qw, sw, slices, w_eff = cached
        if w_eff is not None:  # every column sum is converted exactly: integer arithmetic
            return torch.matmul(qx, w_eff) * (sx * sw)
        planes = []
        for sign, part in ((1.0, torch.relu(qx)), (-1.0, torch.relu(-qx))):
            for shift, digit in _digits(part, self.dac_bits, self.input_bits - 1):
                planes.append((sign, shift, digit))
        bx, bw = qx.shape[:-2], qw.shape[:-2]
        nb = max(len(bx), len(bw))
        X = torch.stack([p for _, _, p in planes])  # [Px, ..., M, K]
        X = X.reshape(len(planes), 1, *([1] * (nb - len(bx))), *qx.shape[-(len(bx) + 2) :])
        W = torch.stack([d for _, _, d in slices])  # [Pw, ..., K, N]
        W = W.reshape(1, len(slices), *([1] * (nb - len(bw))), *qw.shape[-(len(bw) + 2) :])
        coef = torch.tensor(
            [[sx_ * sw_ * 2.0 ** (hx + hw) for sw_, hw, _ in slices] for sx_, hx, _ in planes]
        )
        K = x.shape[-1]
        step = max(1.0, self.full_scale / (2**self.adc_bits - 1))  # integer sums stay exact
        out_shape = torch.broadcast_shapes(x.shape[:-2], w.shape[:-2]) + (x.shape[-2], w.shape[-1])
        y = torch.zeros(out_shape)
        for r0 in range(0, x.shape[-2], ROW_CHUNK):
            Xr = X[..., r0 : r0 + ROW_CHUNK, :]
            acc = 0.0
            for k0 in range(0, K, self.rows):
                P = torch.matmul(Xr[..., k0 : k0 + self.rows], W[..., k0 : k0 + self.rows, :])
                P = torch.clamp(torch.round(P / step) * step, 0, self.full_scale)  # ADC
                acc = acc + torch.einsum("ab...,ab->...", P, coef)
            y[..., r0 : r0 + ROW_CHUNK, :] = acc
        return y * (sx * sw)


class DigitalQuantEffect(ops.OpHook):
    """Inputs and weights of every product rounded to the profile's bit widths."""

    OPS = ("matmul_static", "recurrent_step", "matmul_dynamic", "conv")

    def __init__(self, profile: Profile) -> None:
        self.input_bits = int(profile.get("precision.input_bits", "bits"))
        self.weight_bits = int(profile.get("precision.weight_bits", "bits"))

    def transform_inputs(self, op_class, name, inputs, meta):  # noqa: ANN001
        if ops.OpClass(op_class).value not in self.OPS:
            return inputs
        first, *rest = inputs
        qx, sx = quantize(first, self.input_bits)
        out = [qx * sx]
        for t in rest:
            bits = self.input_bits if op_class == ops.OpClass.MATMUL_DYNAMIC else self.weight_bits
            qt, st = quantize(t, bits)
            out.append(qt * st)
        return tuple(o.to(i.dtype) for o, i in zip(out, inputs, strict=False))


def _is_attention(name: str) -> bool:
    return name.endswith(".softmax") or "attention" in name


class SoftmaxEffect(ops.OpHook):
    """LUT exponentials, attention-probability thresholding and token pruning."""

    def __init__(self, profile: Profile, effects: set[str]) -> None:
        self.lut = "softmax_lut" in effects
        self.sparse = "sparse_attention" in effects
        self.prune = "token_pruning" in effects
        if self.lut:
            self.entries = int(profile.get("softmax.lut_entries", "count"))
            self.range = profile.get("softmax.lut_range", "fraction")
        self.threshold = float(profile.setting("attention_threshold", 0.01))
        self.theta = float(profile.setting("token_theta", 0.95))

    def transform_output(self, op_class, name, inputs, output, meta):  # noqa: ANN001
        if op_class != ops.OpClass.SOFTMAX or not _is_attention(name):
            return output
        probs = output
        if self.lut:
            probs = self._lut_softmax(inputs[0], int(meta.get("dim", -1)))
        if self.prune and probs.dim() >= 2 and probs.shape[-1] > 1:
            probs = probs * prune_mask(probs, self.theta)
        if self.sparse:
            probs = torch.where(probs < self.threshold, torch.zeros_like(probs), probs)
        if self.prune or self.sparse:
            total = probs.sum(dim=-1, keepdim=True)
            probs = torch.where(total > 0, probs / total.clamp(min=1e-30), output)
        return probs.to(output.dtype)

    def _lut_softmax(self, scores: Tensor, dim: int) -> Tensor:
        z = scores - scores.amax(dim=dim, keepdim=True).nan_to_num(0.0)
        step = self.range / (self.entries - 1)
        grid = torch.round(torch.clamp(z, min=-self.range) / step) * step
        e = torch.where(torch.isinf(z), torch.zeros_like(z), torch.exp(grid))
        return e / e.sum(dim=dim, keepdim=True).clamp(min=1e-30)


def prune_mask(probs: Tensor, theta: float) -> Tensor:
    """1 for keys inside the cumulative-attention share ``theta``, 0 for pruned keys.

    Importance of a key = attention it receives averaged over heads and queries; the most
    important keys are kept until their share reaches ``theta`` (at least one key).
    """
    lead = probs.reshape(probs.shape[0], -1, probs.shape[-1]) if probs.dim() > 2 else probs[None]
    importance = lead.mean(dim=1)  # [B, Lk]
    share = importance / importance.sum(dim=-1, keepdim=True).clamp(min=1e-30)
    order = share.argsort(dim=-1, descending=True)
    cumulative = share.gather(-1, order).cumsum(dim=-1)
    keep_sorted = torch.cat(
        [torch.ones_like(cumulative[..., :1], dtype=torch.bool), cumulative[..., :-1] < theta],
        dim=-1,
    )
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    shape = [probs.shape[0]] + [1] * (probs.dim() - 2) + [probs.shape[-1]]
    if probs.dim() == 2:
        shape = [1, probs.shape[-1]]
    return keep.reshape(shape).to(probs.dtype)


class NandSimilarityEffect(ops.OpHook):
    """Bounded-resolution in-NAND similarity, then exact re-ranking of the candidates."""

    def __init__(self, profile: Profile) -> None:
        self.vector_bits = int(profile.get("precision.vector_bits", "bits"))
        self.similarity_bits = int(profile.get("nand.similarity_bits", "bits"))
        self.factor = int(profile.get("search.candidate_factor", "count"))

    def transform_output(self, op_class, name, inputs, output, meta):  # noqa: ANN001
        if op_class != ops.OpClass.SIMILARITY_SEARCH:
            return output
        q, gallery = inputs
        k = output.shape[-1]
        with torch.no_grad():
            qq, sq = quantize(q.float(), self.vector_bits)
            qg, sg = quantize(gallery.float(), self.vector_bits)
            approx = qq @ qg.T * (sq * sg)
            lo = approx.amin(dim=-1, keepdim=True)
            hi = approx.amax(dim=-1, keepdim=True)
            levels = 2**self.similarity_bits - 1
            scale = (hi - lo).clamp(min=1e-30) / levels
            approx = torch.round((approx - lo) / scale)
            n_cand = min(gallery.shape[0], max(k, k * self.factor))
            # ties broken towards lower index, deterministically
            cand = torch.sort(approx, dim=-1, descending=True, stable=True).indices[:, :n_cand]
            exact = torch.einsum("qd,qcd->qc", q.float(), gallery.float()[cand])
            best = exact.topk(k, dim=-1).indices
            return cand.gather(-1, best)


def describe(hooks: list[ops.OpHook]) -> list[dict[str, Any]]:
    """A JSON-friendly description of installed effects (for result records)."""
    out = []
    for h in hooks:
        entry: dict[str, Any] = {"effect": type(h).__name__}
        for key in (
            "weight_bits",
            "input_bits",
            "adc_bits",
            "cell_bits",
            "sigma",
            "threshold",
            "theta",
        ):
            if hasattr(h, key):
                value = getattr(h, key)
                entry[key] = value if not isinstance(value, float) or math.isfinite(value) else None
        out.append(entry)
    return out
