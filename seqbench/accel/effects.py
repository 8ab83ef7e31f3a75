"""Functional effects of a profile on the model: quality is measured with them switched on.

``effect_hooks(profile, seed)`` returns :class:`~seqbench.ops.OpHook` objects for the
effects the profile lists (``effects:`` in its YAML; none for ``cpu``), looked up in the
:data:`EFFECTS` registry that ``@register_effect`` fills (a new effect is a class here):

* ``crossbar_adc`` (ReRAM): inputs and weights quantized to the profile's precisions and
  sliced exactly as the crossbar mapping counts them (offset-encoded weights over
  ``crossbar.bits_per_cell`` cells with ISAAC's column flip, inputs ``dac.bits`` at a time);
  every row tile's column sum per (input slice, weight slice) is rounded by an ``adc.bits``
  ADC over its full scale or, with ``settings.adc_range: calibrated``, over a window set per
  layer from partial sums counted on training examples (:func:`calibrate`); optional seeded
  conductance noise per cell: a lognormal sigma, or a measured per-level table
  (:mod:`seqbench.accel.noise`). When the
  ADC resolves every possible column sum (ISAAC's 8-bit ADC with its flip does) the integer
  arithmetic is computed directly (same result, much faster); with fewer bits accuracy
  falls. Applied to static products, RNN steps and (written-operand) dynamic products;
  convolutions get the input and weight quantization only. Static weights are encoded once
  per hook object: make new hooks for a new model.
* ``softmax_lut`` (ReTransformer): exact max, exponentials from a ``softmax.lut_entries``
  table over ``softmax.lut_range``.
* ``digital_quant`` (digital CIM): inputs and weights rounded to their bit widths.
* ``sparse_attention`` / ``token_pruning`` (MulTCIM): probabilities under
  ``attention_threshold`` times the row's uniform share 1/n are dropped; keys outside the
  cumulative-attention share ``token_theta`` are pruned, and in a layered self-attention stay
  pruned in every later layer of the stream (:mod:`seqbench.sparsity`); rows renormalised.
* ``nand_similarity`` (ICE): exact INT8 (``precision.vector_bits``) dot products on the
  stored gallery with seeded bit errors at ``nand.bit_error_rate``; the top k come straight
  out of the NAND.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import zlib
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from seqbench import ops, sparsity
from seqbench.accel.noise import load_noise_table
from seqbench.accel.view import ProfileView
from seqbench.errors import SeqbenchError
from seqbench.registry import Registry
from seqbench.trace import Trace

ROW_CHUNK = 128  # query rows emulated at once (bounds memory of the bit-plane products)
ADC_RANGES = ("full", "calibrated")  # settings.adc_range of a crossbar profile
# int8 GEMMs pay from about this size: each costs some 30 us more to start than float32's
# (Zen 4, one thread: 64x128x128 takes 86 us against 53; 64x128x512, 122 against 135; the
# emulation's 512x128x3072, 1.4 ms against 6.0)
INT8_GEMM_MIN_MACS = 2**22


class ProfileEffect(ops.OpHook):
    """An op hook built from a profile; subclasses register the effect names they serve.

    ``ACTS_ON``: the op classes whose inputs or outputs the hook may change (every class
    unless a subclass says fewer). A model that runs none of them scores exactly as on the
    host under the hook, so :func:`acts_on` lets the evaluator skip that re-score.
    """

    ACTS_ON: frozenset[ops.OpClass] = frozenset(ops.OpClass)

    @classmethod
    def from_profile(cls, profile: ProfileView, seed: int, enabled: set[str]) -> ops.OpHook:
        raise NotImplementedError

    def function_key(self) -> tuple | None:
        """Everything the hook's arithmetic depends on: two hooks with equal keys change every
        op identically, so a model scores the same under either. None: not known (never
        shared)."""
        return None


EFFECTS: Registry[type[ProfileEffect]] = Registry("effect")


def register_effect(*names: str) -> Callable[[type[ProfileEffect]], type[ProfileEffect]]:
    """Class decorator: the profile effect names (``effects:`` in a YAML) a hook serves."""

    def wrap(cls: type[ProfileEffect]) -> type[ProfileEffect]:
        for name in names:
            EFFECTS.add(name, cls)
        return cls

    return wrap


def effect_hooks(profile: ProfileView, seed: int = 0) -> list[ops.OpHook]:
    """The profile's functional effects as op hooks (empty list for the ``cpu`` profile);
    one hook per class, in the order the profile lists its effects."""
    enabled = set(profile.effects)
    classes = dict.fromkeys(EFFECTS.get(name) for name in profile.effects)
    return [cls.from_profile(profile, seed, enabled) for cls in classes]


def acts_on(hooks: list[ops.OpHook], trace: Trace) -> bool:
    """Whether any of ``hooks`` can change what the traced model computes: some op class the
    trace records is one a hook acts on (a hook that is not a :class:`ProfileEffect` is
    assumed to act on everything)."""
    seen = {ops.OpClass(r.op_class) for r in trace.records}
    return any(seen & getattr(h, "ACTS_ON", frozenset(ops.OpClass)) for h in hooks)


def function_key(hooks: list[ops.OpHook]) -> tuple | None:
    """The hooks' :meth:`ProfileEffect.function_key` s in order, or None when one of them
    has none: profiles whose hooks have equal keys score a model identically."""
    keys = tuple(getattr(h, "function_key", lambda: None)() for h in hooks)
    return None if any(k is None for k in keys) else keys


def calibrate(hooks: list[ops.OpHook], run: Callable[[], Any]) -> bool:
    """Let the hooks that set a range from data (a calibrated ADC) record it: ``run`` is one
    forward pass over a calibration batch (from the training split), run with every hook
    installed and the calibrating ones converting exactly. Returns whether any needed it."""
    needing = [h for h in hooks if getattr(h, "needs_calibration", False)]
    if not needing:
        return False
    for hook in needing:
        hook.begin_calibration()
    try:
        with ops.hooks(*hooks):
            run()
    finally:
        for hook in needing:
            hook.end_calibration()
    return True


def peak_magnitude(x: Tensor) -> float:
    """``max |x|`` over the whole tensor, as ``x.abs().max()`` gives it (NaN included).

    One pass without a temporary: max(-min, max). A whole-tensor reduction is the same in any
    element order, so a transposed view (a key cache as K^T) is reduced in its memory order:
    reducing across the strides costs several times more.
    """
    x = x.detach()
    if not x.is_contiguous() and x.dim() >= 2 and x.mT.is_contiguous():
        x = x.mT
    low, high = torch.aminmax(x)
    return float(torch.maximum(-low, high))


def quantize(x: Tensor, bits: int) -> tuple[Tensor, float]:
    """Symmetric per-tensor quantization: (integers as float, scale)."""
    top = 2 ** (bits - 1) - 1
    peak = peak_magnitude(x)
    scale = peak / top if peak > 0 else 1.0
    # In place on the one new tensor: the values of clamp(round(x / scale)), fewer passes.
    q = torch.div(x, scale).round_()
    # |x| <= peak, so |x / scale| <= top (1 + 2^-23) rounds to at most top: the clamp only
    # acts with a non-finite peak, a scale below float32's normal range, or coarser dtypes.
    exact = x.dtype in (torch.float32, torch.float64) and math.isfinite(peak)
    if not (exact and scale >= torch.finfo(torch.float32).tiny):
        q.clamp_(-top, top)
    return q, scale


def _all_finite(*tensors: Tensor) -> bool:
    """Whether no element of ``tensors`` is NaN or infinite, by one sum pass each: a finite
    sum has finite terms (one that overflows says no, which only costs the fast path)."""
    return math.isfinite(sum(float(t.sum()) for t in tensors))


def _digits(values: Tensor, width: int, total_bits: int) -> Tensor:
    """Non-negative integers split into ``width``-bit digits, least significant first:
    [ceil(total_bits / width), *values.shape]."""
    shifts = range(0, total_bits, width)
    if total_bits < 63 and _all_finite(values):
        # shift and mask the integers: the same digits as floor and mod, in a third the time
        whole = values.to(torch.int64)
        return torch.stack([(whole >> shift) & (2**width - 1) for shift in shifts]).to(values.dtype)
    return torch.stack([torch.floor(values / 2**shift) % 2**width for shift in shifts])


@functools.cache
def int8_gemm_available() -> bool:
    """Whether this torch multiplies int8 matrices on the CPU into exact int32 sums
    (``torch._int_mm``: oneDNN's integer GEMM, several times float32's rate)."""
    a = torch.tensor([[1, -2], [3, 4]], dtype=torch.int8)
    try:
        return bool(torch.equal(torch._int_mm(a, a), a.int() @ a.int()))
    except (AttributeError, RuntimeError):
        return False


def exact_sums(a: Tensor, b: Tensor, small_ints: bool) -> Tensor:
    """``a @ b`` (2-D) for integer-valued float32 operands whose every partial sum float32
    holds exactly, so any summation order gives the same numbers: float32, or int32 where
    ``small_ints`` (every value within int8) let a large one run as an int8 GEMM on the CPU."""
    large = a.shape[0] * a.shape[1] * b.shape[1] >= INT8_GEMM_MIN_MACS
    if (
        small_ints
        and large
        and a.device.type == "cpu"
        and int8_gemm_available()
        and _all_finite(a, b)  # int8 would turn a NaN into a number
    ):
        return torch._int_mm(a.to(torch.int8), b.to(torch.int8))
    return a @ b


def _one_gemm(Xt: Tensor, Ct: Tensor, small_ints: bool = False) -> Tensor:
    """``torch.matmul(Xt, Ct)`` for input digits Xt [S, 1, *b, m, k] and weight cells
    Ct [1, T, *b, k, N], laid out as matmul's result, where matmul's broadcast runs S*T*b small
    products on copies of its operands: weights without batch dims take one
    [S*b*m, k] x [k, T*N] GEMM, batched ones (an attention step's keys) one per batch entry.
    The same numbers only where every sum is exact (integer operands, small sums): see the
    caller."""
    S, T = Xt.shape[0], Ct.shape[1]
    k, N = Ct.shape[-2:]
    if all(d == 1 for d in Ct.shape[2:-2]):
        lead = Xt.shape[2:-1]  # *b, m
        cells = Ct.reshape(T, k, N).permute(1, 0, 2).reshape(k, T * N)
        sums = exact_sums(Xt.reshape(-1, k), cells, small_ints)
        laid = sums.view(S, *lead, T, N).movedim(-2, 1)
        # float32 in matmul's layout, in one pass (`.to` would keep a float32 view's strides)
        return torch.empty(laid.shape, dtype=torch.float32, device=laid.device).copy_(laid)
    batch = torch.broadcast_shapes(Xt.shape[2:-2], Ct.shape[2:-2])
    m, B = Xt.shape[-2], math.prod(batch)
    rows = Xt.expand(S, 1, *batch, m, k).reshape(S, B, m, k).transpose(0, 1).reshape(B, S * m, k)
    cells = Ct.expand(1, T, *batch, k, N).reshape(T, B, k, N).permute(1, 2, 0, 3)
    out = torch.bmm(rows, cells.reshape(B, k, T * N)).view(B, S, m, T, N)
    return out.permute(1, 3, 0, 2, 4).reshape(S, T, *batch, m, N).contiguous()


@register_effect("crossbar_adc")
class CrossbarEffect(ProfileEffect):
    """Bit-sliced, ADC-quantized crossbar arithmetic, sliced exactly as the cost mapping is.

    Inputs: ``precision.input_bits`` integers, offset by 2^(B-1) to be unsigned and streamed
    ``dac.bits`` at a time (ceil(B / dac) slices, as the mapping counts them). Weights:
    ``precision.weight_bits`` integers, offset (ISAAC's biased encoding, ceil(W / c) cells of
    ``crossbar.bits_per_cell``) or ``differential`` (positive and negative cells). With the
    offset encoding a column whose digits sum to more than half the range is stored flipped
    (ISAAC's encoding), so its sum never exceeds half the full scale. Each row tile's column
    sum per (input slice, weight slice) is what one ADC conversion sees: it is rounded to
    ``adc.bits`` over [0, full scale] and the digital side shifts, adds, un-flips and removes
    the offsets exactly. Vectorised over columns, slices and rows; loops only over row tiles
    and chunks of query rows.
    """

    OPS = (ops.OpClass.MATMUL_STATIC, ops.OpClass.RECURRENT_STEP, ops.OpClass.MATMUL_DYNAMIC)
    ACTS_ON = frozenset((*OPS, ops.OpClass.CONV))  # convolutions: quantized inputs only

    @classmethod
    def from_profile(cls, profile: ProfileView, seed: int, enabled: set[str]) -> ops.OpHook:
        return cls(profile, seed)

    def __init__(self, profile: ProfileView, seed: int) -> None:
        g = profile.get
        self.rows = int(g("crossbar.rows", "count"))
        self.cell_bits = int(g("crossbar.bits_per_cell", "bits"))
        self.weight_bits = int(g("precision.weight_bits", "bits"))
        self.input_bits = int(g("precision.input_bits", "bits"))
        self.dac_bits = int(g("dac.bits", "bits"))
        self.adc_bits = int(g("adc.bits", "bits"))
        self.sigma = profile.opt("nonideal.conductance_sigma", "fraction", 0.0)
        self.noise_scale = profile.opt("nonideal.noise_scale", "fraction", 1.0)
        self.t_inference = profile.opt("nonideal.t_inference", "time", 0.0)
        table = profile.setting("noise_table")
        self.noise = load_noise_table(str(table), profile.path) if table else None
        self.offset = profile.setting("weight_encoding", "offset") == "offset"
        self.adc_range = str(profile.setting("adc_range", "full"))
        if self.adc_range not in ADC_RANGES:
            raise SeqbenchError(
                f"profile {profile.name}: unknown adc_range {self.adc_range!r}",
                f"settings.adc_range is one of {', '.join(ADC_RANGES)}",
            )
        self.seed = seed
        full_scale = self.rows * (2**self.dac_bits - 1) * (2**self.cell_bits - 1)
        # every column sum of digit products is an integer float32 holds exactly
        self.sums_exact = full_scale < 2**24
        if self.offset:
            # flipped columns keep every sum within half the range (Shafiee et al. ISCA'16)
            full_scale = math.ceil(full_scale / 2)
        self.full_scale = full_scale
        self.levels = 2**self.adc_bits - 1  # conversion steps between the lowest and top code
        self.adc_exact = full_scale <= self.levels
        # A calibrated range only differs from the full one when the full scale needs more
        # levels than the ADC has (ISAAC's 8-bit ADC resolves every sum either way).
        self.needs_calibration = self.adc_range == "calibrated" and not self.adc_exact
        self._histograms: dict[str, Tensor] = {}  # calibration: sums counted [S, T, sums]
        self._windows: dict[str, tuple[Tensor, Tensor]] = {}  # name -> (low, step) [S, T]
        self._collecting = False
        self._weights: dict[tuple, tuple] = {}  # static weights: encoded once per hook

    @property
    def noisy(self) -> bool:
        return self.sigma > 0 or (self.noise is not None and self.noise_scale > 0)

    def function_key(self) -> tuple | None:
        """With every column sum converted exactly and no noise, only the input and weight
        roundings act (:meth:`matmul`'s integer path, the convolutions' quantization): ISAAC
        and PipeLayer at 16/16 bits compute the same. Otherwise not shared."""
        if self.adc_exact and not self.noisy:
            return ("crossbar_adc", "exact", self.input_bits, self.weight_bits)
        return None

    # --- ADC range calibration (settings.adc_range: calibrated) ----------------------------

    def begin_calibration(self) -> None:
        """Convert exactly and count each layer's partial sums (see :func:`calibrate`)."""
        self._histograms, self._windows, self._collecting = {}, {}, True

    def end_calibration(self) -> None:
        """Fix every calibrated layer's ADC window from the sums counted."""
        self._collecting = False
        self._windows = {name: self._fit_window(h) for name, h in self._histograms.items()}
        self._histograms = {}

    def _observe(self, name: str, P: Tensor) -> None:
        """Count the column sums of layer ``name`` per (input slice, weight slice)."""
        S, T = P.shape[:2]
        bins = self.full_scale + 1
        values = P.flatten(2).round().clamp(0, self.full_scale).long()
        index = values + (torch.arange(S * T).view(S, T, 1) * bins)
        counts = torch.bincount(index.flatten(), minlength=S * T * bins).view(S, T, bins)
        seen = self._histograms.get(name)
        self._histograms[name] = counts if seen is None else seen + counts

    def _fit_window(self, counts: Tensor) -> tuple[Tensor, Tensor]:
        """Per slice pair, the (low, step) with the least squared conversion error over the
        counted sums: the full scale or a window of power-of-two step, clipping outside."""
        S, T, bins = counts.shape
        values = torch.arange(bins, dtype=torch.float64)
        weight = counts.double().view(S * T, 1, bins)
        candidates = [(0.0, max(1.0, self.full_scale / self.levels))]  # the full scale
        step = 1.0
        while step * self.levels < self.full_scale:
            width = step * self.levels
            candidates += [(float(lo), step) for lo in range(0, int(self.full_scale - width) + 1)]
            step *= 2
        low = torch.tensor([c[0] for c in candidates], dtype=torch.float64).view(1, -1, 1)
        size = torch.tensor([c[1] for c in candidates], dtype=torch.float64).view(1, -1, 1)
        best_low = torch.empty(S * T, dtype=torch.float64)
        best_step = torch.empty(S * T, dtype=torch.float64)
        for i in range(S * T):  # [candidates, bins] per slice pair keeps memory small
            q = torch.round((values - low) / size) * size + low
            q = torch.minimum(torch.maximum(q, low), low + size * self.levels)
            error = ((q - values) ** 2 * weight[i]).sum(-1).view(-1)
            j = int(torch.argmin(error))  # ties: the first, i.e. the full scale
            best_low[i], best_step[i] = low.view(-1)[j], size.view(-1)[j]
        return best_low.view(S, T).float(), best_step.view(S, T).float()

    def window(self, name: str, shape: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """(lowest code's value, step) per (input slice, weight slice) [S, T] of layer
        ``name``: the full scale, or the calibrated window.

        Calibrated: the layer's partial sums on the calibration batch are counted per slice
        pair and the window with the least squared error over them is kept (optimal
        clipping, as calibrated ADC references are set in NeuroSim-style and CrossSim-style
        simulators), among the full scale and windows of a power-of-two step: the digital
        side still only shifts and adds, and the low reference folds into the offset
        correction it already does. A layer never seen in calibration keeps the full scale.
        """
        if name in self._windows:
            return self._windows[name]
        return torch.zeros(shape), torch.full(shape, max(1.0, self.full_scale / self.levels))

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
        if ops.OpClass(op_class) not in self.OPS:
            return output
        with torch.no_grad():
            x = inputs[0]
            w = (
                inputs[-1].transpose(-1, -2)
                if op_class != ops.OpClass.MATMUL_DYNAMIC
                else inputs[1]
            )
            if op_class == ops.OpClass.MATMUL_DYNAMIC and self._sees_raw_output():
                ideal = output  # it is torch.matmul(x, w) already: no second product
            else:
                ideal = torch.matmul(x, w)
            emulated = self.matmul(x, w, name, static=op_class != ops.OpClass.MATMUL_DYNAMIC)
            error = emulated.sub_(ideal)  # emulated is a fresh tensor: reuse it
        return output + (error if error.dtype == output.dtype else error.to(output.dtype))

    def _sees_raw_output(self) -> bool:
        """Whether no hook ahead of this one may have changed the op's output (then a dynamic
        product's output is exactly ``torch.matmul`` of the inputs this hook sees)."""
        for hook in ops.active_hooks():
            if hook is self:
                return True
            if type(hook).transform_output is not ops.OpHook.transform_output:
                return False
        return False  # called outside ops.hooks: recompute

    def _encode(self, qw: Tensor, name: str) -> tuple[Tensor, Tensor, Tensor]:
        """(cells [T, ..., K, N] as stored (flipped where ISAAC flips, with conductance
        variation), flip mask [T, ..., K/rows tiles as rows, N], shift-and-sign per slice [T])."""
        top = 2**self.cell_bits - 1
        if self.offset:
            digits = _digits(qw + 2 ** (self.weight_bits - 1), self.cell_bits, self.weight_bits)
            coef = torch.tensor([2.0 ** (t * self.cell_bits) for t in range(len(digits))])
            K = qw.shape[-2]
            pad = (-K) % self.rows
            tiles = F.pad(digits, (0, 0, 0, pad)).unflatten(-2, (-1, self.rows))
            sums = tiles.sum(dim=-2, keepdim=True)  # [T, ..., tiles, 1, N]
            rows_here = F.pad(torch.ones(K), (0, pad)).unflatten(0, (-1, self.rows)).sum(-1)
            flip_tiles = sums > (rows_here[:, None, None] * top / 2)
            flip = flip_tiles.expand_as(tiles).flatten(-3, -2)[..., :K, :]
            cells = torch.where(flip, top - digits, digits)
        else:
            mag = self.weight_bits - 1
            pos = _digits(torch.relu(qw), self.cell_bits, mag)
            neg = _digits(torch.relu(-qw), self.cell_bits, mag)
            digits = torch.cat([pos, neg])
            shifts = [2.0 ** (t * self.cell_bits) for t in range(len(pos))]
            coef = torch.tensor(shifts + [-s for s in shifts])
            cells, flip = digits, torch.zeros_like(digits, dtype=torch.bool)
        gen = torch.Generator().manual_seed(self.seed * 1000003 + zlib.crc32(name.encode()))
        if self.noise is not None and self.noise_scale > 0:  # measured per-level statistics
            level = self.noise.sample(cells / top, gen, self.noise_scale, self.t_inference)
            cells = level * top
        if self.sigma > 0:  # the simple case: one lognormal sigma for every cell
            cells = cells * torch.exp(torch.randn(cells.shape, generator=gen) * self.sigma)
        return cells, flip, coef

    def matmul(self, x: Tensor, w: Tensor, name: str = "", static: bool = True) -> Tensor:
        """``x @ w`` ([..., M, K] x [..., K, N]) as the crossbar computes it."""
        x, w = x.float(), w.float()
        qx, sx = quantize(x, self.input_bits)
        key = (name, w.data_ptr(), tuple(w.shape)) if static else None
        cached = self._weights.get(key) if key else None
        if cached is None:
            qw, sw = quantize(w, self.weight_bits)
            exact = self.adc_exact and not self.noisy and not self._collecting
            cached = (qw, sw, None if exact else self._encode(qw, name))
            if key:
                self._weights[key] = cached
        qw, sw, encoded = cached
        if encoded is None:  # every column sum is converted exactly: integer arithmetic
            return self._integer_product(qx, qw).mul_(sx * sw)
        return self._emulate(qx, qw, encoded, name) * (sx * sw)

    def _integer_product(self, qx: Tensor, qw: Tensor) -> Tensor:
        """``qx @ qw`` of the quantized integers; on a weight matrix, where every partial sum
        is one float32 holds exactly, as an int8 GEMM (the same numbers)."""
        K = qx.shape[-1]
        top_x, top_w = 2 ** (self.input_bits - 1) - 1, 2 ** (self.weight_bits - 1) - 1
        if qw.dim() != 2 or qx.dim() < 2 or K * top_x * top_w >= 2**24:
            return torch.matmul(qx, qw)
        small_ints = max(top_x, top_w) <= 127
        flat = exact_sums(qx.reshape(-1, K), qw, small_ints).float()
        return flat.view(*qx.shape[:-1], qw.shape[-1])

    def _emulate(
        self, qx: Tensor, qw: Tensor, encoded: tuple[Tensor, Tensor, Tensor], name: str = ""
    ) -> Tensor:
        cells, flip, w_coef = encoded
        top = 2**self.cell_bits - 1
        a = 2 ** (self.input_bits - 1)
        x_u = qx + a  # offset inputs: unsigned, streamed dac.bits at a time
        X = _digits(x_u, self.dac_bits, self.input_bits)  # [S, ..., M, K]
        x_coef = torch.tensor([2.0 ** (s * self.dac_bits) for s in range(len(X))])
        coef = x_coef[:, None] * w_coef[None, :]  # [S, T]
        S, T = len(X), len(cells)
        nb = max(qx.dim(), qw.dim()) - 2
        X = X.reshape(S, 1, *([1] * (nb - (qx.dim() - 2))), *X.shape[1:])
        C = cells.reshape(1, T, *([1] * (nb - (qw.dim() - 2))), *cells.shape[1:])
        # flip is constant down a row tile: each tile reads its first row, converted there
        flips = flip.reshape(C.shape) if self.offset else None
        low, step = self.window(name, (S, T))
        view = (S, T) + (1,) * (nb + 2)
        low, step = low.reshape(view), step.reshape(view)
        K = qx.shape[-1]
        out_shape = torch.broadcast_shapes(qx.shape[:-2], qw.shape[:-2])
        out_shape = out_shape + (qx.shape[-2], qw.shape[-1])
        y = torch.zeros(out_shape)
        # Noiseless digits and cells are small integers: their column sums are exact in any
        # order, so each row tile takes one GEMM (one per batch entry of batched weights)
        # instead of S*T*B small ones on operands matmul's broadcast copies S and T times.
        one_gemm = not self.noisy and self.sums_exact
        small_ints = max(2**self.dac_bits, 2**self.cell_bits) <= 128  # digits and cells
        for r0 in range(0, qx.shape[-2], ROW_CHUNK):
            Xr = X[..., r0 : r0 + ROW_CHUNK, :]
            acc = torch.zeros(())
            for k0 in range(0, K, self.rows):
                Xt, Ct = Xr[..., k0 : k0 + self.rows], C[..., k0 : k0 + self.rows, :]
                # [S, T, ..., m, N]: what each ADC conversion sees
                P = _one_gemm(Xt, Ct, small_ints) if one_gemm else torch.matmul(Xt, Ct)
                if self._collecting:  # calibration: exact conversions, sums recorded
                    self._observe(name, P)
                else:  # the ADC: codes 0..levels from `low` in `step`s, clipped outside
                    P.sub_(low).div_(step).round_().clamp_(0, self.levels).mul_(step).add_(low)
                if flips is not None:  # un-flip digitally: S = top . sum(x digits) - S'
                    flipped = flips[..., k0 : k0 + 1, :].float()
                    # in place, as where(flipped, c - P, P): P . (1 - 2 flipped) + flipped . c
                    P.mul_(1 - 2 * flipped).addcmul_(flipped, top * Xt.sum(-1, keepdim=True))
                acc = acc + torch.einsum("st...,st->...", P, coef)
            y[..., r0 : r0 + ROW_CHUNK, :] = acc
        if (
            self.offset
        ):  # remove the offsets exactly (digital): x.w = x_u.w_u - b.sum(x_u) - a.sum(w)
            b = 2 ** (self.weight_bits - 1)
            y = y - b * x_u.sum(-1, keepdim=True) - a * qw.sum(-2, keepdim=True)
        else:
            y = y - a * qw.sum(-2, keepdim=True)
        return y


@register_effect("digital_quant")
class DigitalQuantEffect(ProfileEffect):
    """Inputs and weights of every product rounded to the profile's bit widths."""

    OPS = (
        ops.OpClass.MATMUL_STATIC,
        ops.OpClass.RECURRENT_STEP,
        ops.OpClass.MATMUL_DYNAMIC,
        ops.OpClass.CONV,
    )
    ACTS_ON = frozenset(OPS)

    @classmethod
    def from_profile(cls, profile: ProfileView, seed: int, enabled: set[str]) -> ops.OpHook:
        return cls(profile)

    def __init__(self, profile: ProfileView) -> None:
        self.input_bits = int(profile.get("precision.input_bits", "bits"))
        self.weight_bits = int(profile.get("precision.weight_bits", "bits"))

    def function_key(self) -> tuple | None:
        return ("digital_quant", self.input_bits, self.weight_bits)

    def transform_inputs(self, op_class, name, inputs, meta):  # noqa: ANN001
        if ops.OpClass(op_class) not in self.OPS:
            return inputs
        first, *rest = inputs
        qx, sx = quantize(first, self.input_bits)
        out = [qx * sx]
        for t in rest:
            bits = self.input_bits if op_class == ops.OpClass.MATMUL_DYNAMIC else self.weight_bits
            qt, st = quantize(t, bits)
            out.append(qt * st)
        return tuple(o.to(i.dtype) for o, i in zip(out, inputs, strict=False))


@register_effect("sparse_attention", "token_pruning", "softmax_lut")
class SoftmaxEffect(ProfileEffect):
    """LUT exponentials, MulTCIM's attention sparsity and its runtime token pruner (the rules
    of :mod:`seqbench.sparsity`, which the trace and the cost model read too)."""

    ACTS_ON = frozenset((ops.OpClass.SOFTMAX,))  # the S.V products it only counts

    @classmethod
    def from_profile(cls, profile: ProfileView, seed: int, enabled: set[str]) -> ops.OpHook:
        return cls(profile, enabled)

    def __init__(self, profile: ProfileView, effects: set[str]) -> None:
        self.lut = "softmax_lut" in effects
        self.sparse = "sparse_attention" in effects
        self.prune = "token_pruning" in effects
        if self.lut:
            self.entries = int(profile.get("softmax.lut_entries", "count"))
            self.range = profile.get("softmax.lut_range", "fraction")
        # a multiple of the row's uniform share 1/n (sparsity.above_threshold)
        self.threshold = float(
            profile.setting("attention_threshold", sparsity.DEFAULT_ATTENTION_THRESHOLD)
        )
        self.theta = float(profile.setting("token_theta", sparsity.DEFAULT_TOKEN_THETA))
        self.pruner = sparsity.TokenPruner(self.theta)
        # what the function used, per op name: [products left, products] (priced_trace)
        self.used: dict[str, list[float]] = {}
        self._pending: dict[str, float] = {}  # attention -> share of S.V products left

    def function_key(self) -> tuple | None:
        return (
            "softmax",
            (self.entries, self.range) if self.lut else None,
            self.threshold if self.sparse else None,
            self.theta if self.prune else None,
        )

    @property
    def rule(self) -> str:
        """The (theta, alpha) key of the rules this hook applies (OpRecord.keep)."""
        return sparsity.rule(
            self.theta if self.prune else 1.0, self.threshold if self.sparse else 0.0
        )

    def transform_output(self, op_class, name, inputs, output, meta):  # noqa: ANN001
        if op_class != ops.OpClass.SOFTMAX or not sparsity.is_attention(name):
            return output
        probs = output
        if self.lut:
            probs = self._lut_softmax(inputs[0], int(meta.get("dim", -1)))
        if self.prune and probs.dim() >= 2 and probs.shape[-1] > 1:
            probs, _ = self.pruner.prune(name, probs)
        if self.sparse:
            kept = sparsity.above_threshold(probs, self.threshold)
            probs = sparsity.renormalise(torch.where(kept, probs, 0.0), probs)
        if self.prune or self.sparse:
            valid = max(1, int((output > 0).sum()))
            self._pending[name.rsplit(".", 1)[0]] = int((probs > 0).sum()) / valid
        return probs.to(output.dtype)

    def record(self, op_class, name, inputs, output, meta):  # noqa: ANN001
        """Note the share of each pruned op's products the function really used."""
        if not (self.prune or self.sparse):
            return
        op_class = ops.OpClass(op_class).value
        share = None
        if op_class == ops.OpClass.MATMUL_DYNAMIC and name.endswith(".sv"):
            share = self._pending.pop(name[: -len(".sv")], None)
        elif self.prune:
            share = sparsity.later_layer_share(self.pruner, op_class, name, inputs, output)
        if share is not None:
            products = float(output.numel() * inputs[0].shape[-1])
            used = self.used.setdefault(name, [0.0, 0.0])
            used[0] += share * products
            used[1] += products

    def _lut_softmax(self, scores: Tensor, dim: int) -> Tensor:
        z = scores - scores.amax(dim=dim, keepdim=True).nan_to_num(0.0)
        step = self.range / (self.entries - 1)
        # in place on fresh tensors: the values of round(clamp(z) / step) * step, exp, where
        grid = torch.clamp(z, min=-self.range).div_(step).round_().mul_(step)
        e = grid.exp_().masked_fill_(torch.isinf(z), 0.0)
        return e.div_(e.sum(dim=dim, keepdim=True).clamp_(min=1e-30))


@register_effect("nand_similarity")
class NandSimilarityEffect(ProfileEffect):
    """ICE's search: exact INT8 dot products on stored vectors whose bits flip at
    ``nand.bit_error_rate`` (seeded, fixed per stored gallery), top k straight from them."""

    ACTS_ON = frozenset((ops.OpClass.SIMILARITY_SEARCH,))

    @classmethod
    def from_profile(cls, profile: ProfileView, seed: int, enabled: set[str]) -> ops.OpHook:
        return cls(profile, seed)

    def __init__(self, profile: ProfileView, seed: int = 0) -> None:
        self.vector_bits = int(profile.get("precision.vector_bits", "bits"))
        self.bit_error_rate = profile.get("nand.bit_error_rate", "fraction")
        self.seed = seed
        self._stored: dict[tuple, tuple[Tensor, float]] = {}

    def function_key(self) -> tuple | None:
        noisy = self.bit_error_rate > 0
        return (
            "nand_similarity",
            self.vector_bits,
            self.bit_error_rate,
            self.seed if noisy else None,
        )

    def stored(self, gallery: Tensor) -> tuple[Tensor, float]:
        """The gallery as the NAND holds it: INT8 codes with bit errors, and their scale."""
        key = (gallery.data_ptr(), tuple(gallery.shape))
        if key not in self._stored:
            codes, scale = quantize(gallery.float(), self.vector_bits)
            if self.bit_error_rate > 0:
                gen = torch.Generator().manual_seed(self.seed * 1000003 + codes.numel())
                raw = codes.to(torch.int64) % 2**self.vector_bits  # two's complement bytes
                bits = torch.arange(self.vector_bits)
                flips = torch.rand((*raw.shape, self.vector_bits), generator=gen)
                mask = ((flips < self.bit_error_rate).to(torch.int64) << bits).sum(-1)
                raw = raw ^ mask
                top = 2 ** (self.vector_bits - 1)
                codes = torch.where(raw >= top, raw - 2 * top, raw).float()
            self._stored[key] = (codes, scale)
        return self._stored[key]

    def transform_output(self, op_class, name, inputs, output, meta):  # noqa: ANN001
        if op_class != ops.OpClass.SIMILARITY_SEARCH:
            return output
        q, gallery = inputs
        k = output.shape[-1]
        with torch.no_grad():
            qq, _ = quantize(q.float(), self.vector_bits)
            codes, _ = self.stored(gallery)
            scores = qq @ codes.T  # exact integer arithmetic (the scales do not reorder)
            # ties broken towards lower index, deterministically
            return torch.sort(scores, dim=-1, descending=True, stable=True).indices[:, :k]


def pruning_shares(hooks: list[ops.OpHook]) -> dict[str, list]:
    """Per op name, ``[rule, share]``: the share of its products the function used while
    scoring under ``hooks`` (MulTCIM's token pruner and attention rule; JSON-friendly)."""
    return {
        name: [h.rule, kept / total]
        for h in hooks
        if isinstance(h, SoftmaxEffect)
        for name, (kept, total) in h.used.items()
        if total > 0
    }


def priced_trace(trace: Trace, shares: dict[str, list]) -> Trace:
    """``trace`` with each pruned op's share of products (:func:`pruning_shares`) put in for
    its rule, so the cost model prices the tokens the function kept; each mechanism alone
    stays as the trace measured it. Unchanged when nothing was pruned."""
    if not shares:
        return trace
    records = [
        dataclasses.replace(r, keep={**r.keep, shares[r.name][0]: float(shares[r.name][1])})
        if r.name in shares
        else r
        for r in trace.records
    ]
    return dataclasses.replace(trace, records=records)


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
            "adc_range",
            "noise_scale",
            "threshold",
            "theta",
        ):
            if hasattr(h, key):
                value = getattr(h, key)
                entry[key] = value if not isinstance(value, float) or math.isfinite(value) else None
        if getattr(h, "noise", None) is not None:
            entry["noise_table"] = h.noise.name
        out.append(entry)
    return out
