"""The traceable operator layer: every op the simulator must see goes through here.

Models call these functions instead of raw ``torch`` ops so that one mechanism serves both
the trace (what ran, with which shapes and statistics) and the accelerator's functional
effects (quantized weights, ADC-quantized partial sums, pruned tokens). With no hook
installed every function is a direct call to the underlying torch op.

Hooks are installed with :func:`hooks` as a context manager::

    with ops.hooks(Tracer(), *effect_hooks(profile)):   # seqbench.trace, seqbench.accel.effects
        model(batch)
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator, Sequence
from enum import Enum
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class OpClass(str, Enum):
    """Operator classes of the trace contract (DESIGN.md)."""

    MATMUL_STATIC = "matmul_static"  # weight x activation
    MATMUL_DYNAMIC = "matmul_dynamic"  # activation x activation (Q.K^T, S.V)
    SOFTMAX = "softmax"
    LAYERNORM = "layernorm"
    ELEMENTWISE = "elementwise"
    EMBEDDING = "embedding"
    CONV = "conv"
    RECURRENT_STEP = "recurrent_step"  # the weight x activation products of one RNN step
    SIMILARITY_SEARCH = "similarity_search"


class OpHook:
    """Base class of an op interceptor; every method defaults to doing nothing.

    ``inputs`` is the tuple of tensors the op consumes. For ``matmul_static``,
    ``recurrent_step`` and ``conv`` the last input is the weight. ``meta`` carries
    op-specific facts (e.g. ``{"kind": "gelu"}`` for elementwise, ``{"k": 5}`` for search).
    """

    def transform_inputs(
        self, op_class: OpClass, name: str, inputs: tuple[Tensor, ...], meta: dict[str, Any]
    ) -> tuple[Tensor, ...]:
        """Return the inputs the op should really consume (e.g. quantized weights)."""
        return inputs

    def transform_output(
        self,
        op_class: OpClass,
        name: str,
        inputs: tuple[Tensor, ...],
        output: Tensor,
        meta: dict[str, Any],
    ) -> Tensor:
        """Return the output the model should really see (e.g. ADC-quantized sums)."""
        return output

    def record(
        self,
        op_class: OpClass,
        name: str,
        inputs: tuple[Tensor, ...],
        output: Tensor,
        meta: dict[str, Any],
    ) -> None:
        """Observe the op after it ran (tracing)."""


_HOOKS: contextvars.ContextVar[tuple[OpHook, ...]] = contextvars.ContextVar(
    "seqbench_op_hooks", default=()
)


@contextlib.contextmanager
def hooks(*installed: OpHook) -> Iterator[None]:
    """Install op hooks for the duration of the block (innermost last)."""
    token = _HOOKS.set(_HOOKS.get() + tuple(installed))
    try:
        yield
    finally:
        _HOOKS.reset(token)


def active_hooks() -> tuple[OpHook, ...]:
    """The hooks currently installed."""
    return _HOOKS.get()


# (key, value) pairs, immutable so that the default cannot be shared and mutated.
_LABELS: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "seqbench_op_labels", default=()
)


@contextlib.contextmanager
def label(**labels: str) -> Iterator[None]:
    """Label the ops run inside the block (hooks see the labels in ``meta``, so a trace keeps
    differently labelled ops apart): ``phase`` (``prefill``/``decode``), ``modality``
    (``image``/``text``/``cross``). Inner blocks add to, and override, outer ones."""
    token = _LABELS.set(tuple({**dict(_LABELS.get()), **labels}.items()))
    try:
        yield
    finally:
        _LABELS.reset(token)


def phase(name: str) -> contextlib.AbstractContextManager[None]:
    """Label the block's ops with an inference phase (``prefill``, ``decode``)."""
    return label(phase=name)


def modality(name: str) -> contextlib.AbstractContextManager[None]:
    """Label the block's ops with the modality they work on (``image``, ``text``, ``cross``)."""
    return label(modality=name)


def current_labels() -> dict[str, str]:
    """The labels of the innermost :func:`label` blocks (the ATen tracer adds them to the
    ops it records, as :func:`_run` does)."""
    return dict(_LABELS.get())


def _run(
    op_class: OpClass,
    name: str,
    compute: Callable[..., Tensor],
    inputs: tuple[Tensor, ...],
    meta: dict[str, Any] | None = None,
) -> Tensor:
    # A compiled training step (train's ``compile`` option) runs with no hooks installed,
    # and TorchDynamo cannot read a ContextVar: it would split the graph at every op.
    if torch.compiler.is_compiling():
        return compute(*inputs)
    installed = _HOOKS.get()
    if not installed:
        return compute(*inputs)
    meta = meta or {}
    if labels := _LABELS.get():
        meta = {**meta, **dict(labels)}
    for hook in installed:
        inputs = hook.transform_inputs(op_class, name, inputs, meta)
    output = compute(*inputs)
    for hook in installed:
        output = hook.transform_output(op_class, name, inputs, output, meta)
    for hook in installed:
        hook.record(op_class, name, inputs, output, meta)
    return output


# --- functional ops -----------------------------------------------------------------------


def linear(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    *,
    name: str,
    op_class: OpClass = OpClass.MATMUL_STATIC,
) -> Tensor:
    """``x @ weight.T + bias``: a weight-stationary product (crossbar-mappable)."""
    meta = {"has_bias": bias is not None}

    def compute(x: Tensor, w: Tensor) -> Tensor:
        return F.linear(x, w, bias)

    return _run(op_class, name, compute, (x, weight), meta)


def matmul(a: Tensor, b: Tensor, *, name: str) -> Tensor:
    """``a @ b`` where both operands are activations (e.g. Q.K^T, S.V)."""
    return _run(OpClass.MATMUL_DYNAMIC, name, torch.matmul, (a, b))


def softmax(x: Tensor, dim: int = -1, *, name: str) -> Tensor:
    """Softmax along ``dim``; its output's sparsity is what the trace measures."""
    return _run(OpClass.SOFTMAX, name, lambda t: torch.softmax(t, dim=dim), (x,), {"dim": dim})


def layer_norm(x: Tensor, norm: nn.LayerNorm, *, name: str) -> Tensor:
    """Layer normalisation with ``norm``'s parameters."""

    def compute(t: Tensor) -> Tensor:
        return F.layer_norm(t, norm.normalized_shape, norm.weight, norm.bias, norm.eps)

    return _run(OpClass.LAYERNORM, name, compute, (x,))


_ELEMENTWISE: dict[str, Callable[..., Tensor]] = {
    "relu": torch.relu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
}


def elementwise(kind: str, *tensors: Tensor, name: str) -> Tensor:
    """A pointwise op (``relu``, ``gelu``, ``tanh``, ``sigmoid``, ``add``, ``sub``, ``mul``)."""
    try:
        fn = _ELEMENTWISE[kind]
    except KeyError:
        raise ValueError(
            f"unknown elementwise op {kind!r}; known: {sorted(_ELEMENTWISE)}"
        ) from None
    return _run(OpClass.ELEMENTWISE, name, fn, tuple(tensors), {"kind": kind})


def embedding(ids: Tensor, weight: Tensor, *, name: str) -> Tensor:
    """Table lookup; recorded so the simulator can charge the memory read."""
    return _run(OpClass.EMBEDDING, name, lambda i, w: F.embedding(i, w), (ids, weight))


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    *,
    stride: int = 1,
    padding: int = 0,
    name: str,
) -> Tensor:
    """2-D convolution; the weight is static (crossbar-mappable as an im2col matmul)."""
    meta = {"stride": stride, "padding": padding}

    def compute(t: Tensor, w: Tensor) -> Tensor:
        return F.conv2d(t, w, bias, stride=stride, padding=padding)

    return _run(OpClass.CONV, name, compute, (x, weight), meta)


def similarity_search(queries: Tensor, gallery: Tensor, k: int, *, name: str) -> Tensor:
    """Exact top-``k`` by dot product; returns the gallery indices, shape ``(queries, k)``.

    The scores are computed in full here (exact search); the simulator charges the search to
    the profile that runs it (ICE's in-NAND search or the host).
    """
    k = min(k, gallery.shape[0])

    def compute(q: Tensor, g: Tensor) -> Tensor:
        return torch.topk(q @ g.T, k, dim=-1).indices

    return _run(OpClass.SIMILARITY_SEARCH, name, compute, (queries, gallery), {"k": k})


# --- modules built on the ops -------------------------------------------------------------


class Traced(nn.Module):
    """Mixin giving a module the dotted name it was registered under (for op names)."""

    trace_name: str = ""


class Linear(nn.Linear, Traced):
    """``nn.Linear`` whose product goes through :func:`linear`."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias, name=self.trace_name)


class LayerNorm(nn.LayerNorm, Traced):
    """``nn.LayerNorm`` recorded as a ``layernorm`` op."""

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self, name=self.trace_name)


class Embedding(nn.Embedding, Traced):
    """``nn.Embedding`` recorded as an ``embedding`` op."""

    def forward(self, ids: Tensor) -> Tensor:
        return embedding(ids, self.weight, name=self.trace_name)


class Conv2d(nn.Conv2d, Traced):
    """``nn.Conv2d`` (square stride/padding, no groups) recorded as a ``conv`` op."""

    def forward(self, x: Tensor) -> Tensor:
        return conv2d(
            x,
            self.weight,
            self.bias,
            stride=self.stride[0],
            padding=self.padding[0],
            name=self.trace_name,
        )


def name_modules(model: nn.Module) -> nn.Module:
    """Give every module its dotted path as ``trace_name``; call once after building a model."""
    for path, module in model.named_modules():
        module.trace_name = path or type(model).__name__.lower()
    return model


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    *,
    name: str,
) -> tuple[Tensor, Tensor]:
    """``softmax(Q K^T / sqrt(d) + mask) V`` from explicit ops.

    ``q``: (..., Lq, d), ``k``/``v``: (..., Lk, d). ``mask`` is boolean, True where attention
    is allowed, broadcastable to (..., Lq, Lk). Returns (output, attention_weights).
    """
    scores = matmul(q, k.transpose(-2, -1), name=f"{name}.qk") / math.sqrt(q.shape[-1])
    # Reading the mask's values is free on the CPU. On a GPU it would stall the queue at every
    # layer, and meta tensors (shapes-only pricing) have none: there the fill and the NaN pass
    # always run, which gives the same values.
    inspect = mask is not None and mask.device.type == "cpu"
    if inspect and bool(mask.all()):
        # Nothing masked (a batch of equal-length questions, vl-dual's image regions): the fill
        # and the NaN pass below, and their backward, would change no value.
        mask = None
    if mask is not None:
        # added as 0 / -inf: the same scores as a masked fill, several times faster on a
        # broadcast key-padding mask
        scores = scores + torch.zeros(
            mask.shape, dtype=scores.dtype, device=scores.device
        ).masked_fill_(~mask, float("-inf"))
    attention_weights = softmax(scores, dim=-1, name=f"{name}.softmax")
    if mask is not None and not (inspect and bool(mask.any(-1).all())):
        # A fully masked row (padding query) gives NaN after softmax; such rows attend to
        # nothing. Where no row is (no mask; a key-padding mask beside a [CLS] token), the
        # pass and its backward (a third of an unmasked ViT step) would change no value.
        attention_weights = torch.nan_to_num(attention_weights, nan=0.0)
    return matmul(attention_weights, v, name=f"{name}.sv"), attention_weights


def shapes(tensors: Sequence[Tensor]) -> list[list[int]]:
    """Shapes of ``tensors`` as JSON-friendly lists."""
    return [list(t.shape) for t in tensors]
