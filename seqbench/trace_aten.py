"""The ATen-level op layer: any ``nn.Module``'s forward pass as seqbench ops.

:mod:`seqbench.ops` sees the ops of seqbench's own models because they call it; a user's
model or a ``transformers`` model does not. :class:`AtenOps` is a
:class:`~torch.utils._python_dispatch.TorchDispatchMode`: it sees every ATen op a real
(eager) forward pass runs, turns the ones the simulator prices into the same
``(op_class, name, inputs, output, meta)`` calls :mod:`seqbench.ops` makes, and hands them to
the same :class:`~seqbench.ops.OpHook`\\ s: the :class:`~seqbench.trace.Tracer` (so both paths
give one kind of trace, with the same statistics) and the accelerator effects (so a user's
model is degraded the way a reference model is).

Why a dispatch mode and not ``torch.export``: the mode records the forward pass that really
runs, on real tensors, with Python control flow taken as the data dictates, so the sparsity
statistics are measured on real values and any model that runs eagerly is traced;
``torch.export`` needs a graph that traces symbolically (data-dependent branches, many
``transformers`` code paths and hooks break it), functionalises and decomposes ops, and
yields shapes without values. The dispatch mode also keeps working on ``meta`` tensors,
where MACs are counted from shapes alone (statistics then stay empty).

Rules that decide what becomes an op (the conventions an accelerator, and ops.py, follow):

* a product is ``matmul_static`` when an operand is a parameter or buffer of the module (or
  a view of one), ``matmul_dynamic`` otherwise; a dynamic product whose output reaches a
  softmax is the attention's ``qk``, one that consumes a softmax's output is its ``sv``;
  fused scaled-dot-product attention kernels are recorded as ``qk``, ``softmax``, ``sv``;
* multiplying or dividing by a scalar, masking (``masked_fill``, or adding a 0 / -inf mask
  made in forward by one) and ``nan_to_num`` are folded into the op they follow or feed (a
  constant scale lives in the weights or the softmax; the mask in the softmax), as
  :mod:`seqbench.ops` models do not list them either;
* layout ops (views, transposes, copies, concatenation), ops on integer or boolean tensors
  (ids, masks) and ops whose inputs are all parameters, buffers or constants made in forward
  (weight preparation; a lookup of fixed position ids in a position table) move no priced
  work: they are counted under ``unpriced`` in the trace's meta;
* only ops inside the model's forward are the model's: a loss or a metric computed around it
  is neither traced nor transformed;
* an op none of the tables in :mod:`seqbench.aten_vocabulary` knows is recorded as an
  ``elementwise`` op with ``meta.unknown`` (priced on the host profile by
  :mod:`seqbench.accel.cost`) and counted under ``unknown_ops``: never dropped silently.

Ops are named after the module hierarchy: a product, convolution, norm or lookup whose
weight the innermost running module owns takes that module's path
(``encoder.layer.3.attention.self.query``); other ops take ``<module path>.<kind>``
(``...attention.self.qk``, ``...softmax``, ``...intermediate.intermediate_act_fn.gelu``).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

from seqbench import ops
from seqbench.aten_vocabulary import (
    ELEMENTWISE_KINDS,
    FACTORY_OPS,
    FOLDED_OPS,
    LAYOUT_OPS,
    NORM_OPS,
    PRODUCT_OPS,
    RESHAPES,
    SCALAR_FOLDABLE,
    SDPA_OPS,
    SOFTMAX_OPS,
)
from seqbench.errors import SeqbenchError
from seqbench.ops import OpClass
from seqbench.trace import Trace, Tracer


def _short(func: Any) -> str:
    return func.overloadpacket.__name__


def _tensors(tree: Any) -> list[Tensor]:
    return [t for t in pytree.tree_leaves(tree) if isinstance(t, Tensor)]


@dataclass
class _Tag:
    """What the tracer knows of a live tensor (keyed by id, checked by weakref)."""

    ref: weakref.ref
    static_root: int | None = None  # id of the parameter/buffer it views or derives from
    product: list | None = None  # the pending dynamic-product event it derives from
    from_softmax: bool = False
    origin: str | None = None  # module path of the op that produced it (for naming)
    logical: tuple[int, ...] | None = None  # its shape before a flattening view (for heads)
    additive_mask: bool = False  # 0 / -inf made in forward (masked_fill): added to logits


@dataclass
class _Event:
    op_class: OpClass
    name: str
    inputs: tuple[Tensor, ...]
    output: Tensor
    meta: dict[str, Any]


@dataclass
class AtenReport:
    """What the mode did not price: unknown ops (priced on the host) and unpriced tallies."""

    unknown: Counter = field(default_factory=Counter)
    unpriced: Counter = field(default_factory=Counter)

    def to_meta(self) -> dict[str, Any]:
        return {"unknown_ops": dict(self.unknown), "unpriced_ops": dict(self.unpriced)}


class AtenOps(TorchDispatchMode):
    """Run ``model``'s ATen ops through ``hooks`` (see the module doc); use :func:`aten_hooks`."""

    def __init__(self, model: nn.Module, hooks: tuple[ops.OpHook, ...]) -> None:
        super().__init__()
        self.hooks = tuple(hooks)
        self.transforming = any(
            type(h).transform_inputs is not ops.OpHook.transform_inputs
            or type(h).transform_output is not ops.OpHook.transform_output
            for h in self.hooks
        )
        self.recording = any(type(h).record is not ops.OpHook.record for h in self.hooks)
        self.report = AtenReport()
        self._paths = {id(m): path for path, m in model.named_modules(remove_duplicate=False)}
        self._owned = {
            id(m): {id(t) for t in (*m._parameters.values(), *m._buffers.values()) if t is not None}
            for m in model.modules()
        }
        self._tags: dict[int, _Tag] = {}
        for t in (*model.parameters(), *model.buffers()):
            self._tags[id(t)] = _Tag(weakref.ref(t), static_root=id(t))
        self._stack: list[nn.Module] = []
        self._pending: list[_Event] = []
        self._root = model
        tables = [
            (PRODUCT_OPS, self._product),
            ({"convolution"}, self._conv),
            (SDPA_OPS, self._sdpa),
            (SOFTMAX_OPS, self._softmax),
            (NORM_OPS, self._norm),
            ({"embedding"}, self._embedding),
            (LAYOUT_OPS, self._layout),
            (FOLDED_OPS, self._folded),
            (ELEMENTWISE_KINDS, self._elementwise),
        ]
        self._handlers: dict[str, Callable[..., Any]] = {
            op: handler for names, handler in reversed(tables) for op in names
        }
        self._origin: str | None = None

    # --- module hierarchy -------------------------------------------------------------------

    def push(self, module: nn.Module, *_: Any) -> None:
        if id(module) in self._paths:
            self._stack.append(module)

    def pop(self, module: nn.Module, *_: Any) -> None:
        if self._stack and self._stack[-1] is module:
            self._stack.pop()
            if module is self._root:
                self.flush()
                # a forward pass ended: forget the tensors it freed (a scoring loop is long)
                self._tags = {k: tag for k, tag in self._tags.items() if tag.ref() is not None}

    def _path(self) -> str:
        return self._paths[id(self._stack[-1])] if self._stack else ""

    def _name(self, kind: str, static: Tensor | None = None, operands: tuple = ()) -> str:
        """The op's name; sets where its output comes from (``self._origin``).

        An op on ``operands`` produced inside one deeper module than the running one (an
        attention whose method, not ``forward``, was called) is named inside that module.
        """
        path = self._path()
        if static is not None and self._stack:
            root = self._tag(static).static_root
            if root in self._owned.get(id(self._stack[-1]), ()):
                self._origin = path.rpartition(".")[0]  # the module that called this layer
                return path or kind
        origins = [self._tag(t).origin for t in operands]
        if origins and all(o is not None for o in origins):
            common = _common_path(origins)  # type: ignore[arg-type]
            if common.startswith(f"{path}.") or (common and not path):
                path = common
        self._origin = path
        return f"{path}.{kind}" if path else kind

    # --- tensor tags ------------------------------------------------------------------------

    def _tag(self, t: Tensor) -> _Tag:
        tag = self._tags.get(id(t))
        if tag is not None and tag.ref() is t:
            return tag
        return _Tag(weakref.ref(t))

    def _set(self, t: Tensor, **values: Any) -> None:
        tag = self._tag(t)
        for key, value in values.items():
            setattr(tag, key, value)
        self._tags[id(t)] = tag

    def _is_static(self, t: Tensor) -> bool:
        return self._tag(t).static_root is not None

    # --- dispatch ---------------------------------------------------------------------------

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        if not self._stack:  # outside the model's forward (a loss, a metric): not the model's
            return func(*args, **kwargs)
        name = _short(func)
        inputs = _tensors((args, kwargs))
        if name in FACTORY_OPS or (not inputs and name not in SDPA_OPS):
            out = func(*args, **kwargs)
            for t in _tensors(out):
                self._set(t, static_root=-1)  # a constant made in forward: like a buffer
            self.report.unpriced["constants"] += 1
            return out
        if inputs and all(self._is_static(t) for t in inputs):
            out = func(*args, **kwargs)
            root = self._tag(inputs[0]).static_root
            for t in _tensors(out):
                self._set(t, static_root=root)
            self._mark_additive_mask(name, args, out)
            self.report.unpriced["weight_preparation"] += 1
            return out
        handler = self._handler(name, args, kwargs)
        self._origin = None
        out = handler(func, name, args, kwargs, inputs)
        if self._origin is not None:
            for t in _tensors(out):
                self._set(t, origin=self._origin)
        self._mark_additive_mask(name, args, out)
        return out

    def _mark_additive_mask(self, name: str, args: tuple, out: Any) -> None:
        """A constant made in forward filled with -inf where masked (``ops.py``'s attention
        mask, added to the logits): the add that applies it is folded like a masked fill."""
        if name not in ("masked_fill", "masked_fill_") or len(args) < 3:
            return
        base, fill = args[0], args[2]
        value = float(fill) if isinstance(fill, (int, float, Tensor)) else None
        if (
            value == float("-inf")
            and isinstance(base, Tensor)
            and self._tag(base).static_root == -1
        ):
            for t in _tensors(out):
                self._set(t, additive_mask=True)

    def _handler(self, name: str, args: tuple, kwargs: dict) -> Callable[..., Any]:
        if name in SCALAR_FOLDABLE and len(_tensors(args)) == 1 and not _tensors(kwargs):
            return self._folded  # x * 0.125: a constant scale
        if name in ("add", "add_") and any(self._tag(t).additive_mask for t in _tensors(args)):
            return self._mask_add  # logits + (0 / -inf): the mask, folded into the softmax
        return self._handlers.get(name, self._unknown)

    # --- handlers: each runs the op (through the hooks) and returns its output -------------

    def _passthrough(self, func, args, kwargs, inputs, tally: str, name: str = "") -> Any:  # noqa: ANN001
        out = func(*args, **kwargs)
        self.report.unpriced[tally] += 1
        source = self._tag(inputs[0]) if inputs else None
        for t in _tensors(out):
            if source is not None and (source.product is not None or source.from_softmax):
                self._set(t, product=source.product, from_softmax=source.from_softmax)
            if source is not None and source.origin is not None:
                self._set(t, origin=source.origin)
            if name in RESHAPES and t.numel() == inputs[0].numel() and t.dim():
                before = [source.logical, tuple(inputs[0].shape)]
                kept = [s for s in before if s is not None and s[-1:] == tuple(t.shape[-1:])]
                self._set(t, logical=kept[0] if kept else None)
            if source is not None and source.static_root is not None and len(inputs) == 1:
                self._set(t, static_root=source.static_root)
        return out

    def _layout(self, func, name, args, kwargs, inputs):  # noqa: ANN001
        return self._passthrough(func, args, kwargs, inputs, "layout", name)

    def _folded(self, func, name, args, kwargs, inputs):  # noqa: ANN001
        if not inputs[0].is_floating_point():
            return self._passthrough(func, args, kwargs, inputs, "integer_or_bool")
        return self._passthrough(func, args, kwargs, inputs, "folded_scale_or_mask")

    def _mask_add(self, func, name, args, kwargs, inputs):  # noqa: ANN001
        logits = [t for t in inputs if not self._tag(t).additive_mask] or inputs
        return self._passthrough(func, args, kwargs, logits, "folded_scale_or_mask")

    def _unknown(self, func, name, args, kwargs, inputs):  # noqa: ANN001
        floats = [t for t in inputs if t.is_floating_point()]
        out = func(*args, **kwargs)
        outs = [t for t in _tensors(out) if t.is_floating_point()]
        if not floats or not outs:
            self.report.unpriced["integer_or_bool"] += 1
            return out
        self.report.unknown[f"aten.{name}"] += 1
        meta = {"kind": f"aten.{name}", "unknown": True}
        op_name = self._name(name)
        self._emit(OpClass.ELEMENTWISE, op_name, tuple(floats), outs[0], meta)
        return out

    def _elementwise(self, func, name, args, kwargs, inputs):  # noqa: ANN001
        floats = [t for t in inputs if t.is_floating_point()]
        out = func(*args, **kwargs)
        outs = _tensors(out)
        if not floats or not outs or not outs[0].is_floating_point():
            self.report.unpriced["integer_or_bool"] += 1
            return out
        kind = ELEMENTWISE_KINDS[name]
        output = outs[0]
        weight = next((t for t in floats if self._is_static(t)), None)
        op_name = self._name(kind, weight)
        meta = {"kind": kind}
        output = self._transform_output(OpClass.ELEMENTWISE, op_name, tuple(floats), output, meta)
        self._emit(OpClass.ELEMENTWISE, op_name, tuple(floats), output, meta)
        carriers = [self._tag(t) for t in floats]
        product = next((c.product for c in carriers if c.product is not None), None)
        if product is not None:  # scores + mask: still the scores of that product
            self._set(output, product=product)
        return out if output is outs[0] else output

    def _softmax(self, func, name, args, kwargs, inputs):  # noqa: ANN001
        x, dim = args[0], int(args[1])
        meta = {"dim": dim}
        op_name = self._name("softmax", operands=(x,))
        if "log_softmax" in name:  # priced as a softmax; effects expect probabilities
            out = func(*args, **kwargs)
            self._emit(OpClass.SOFTMAX, op_name, (x,), out, meta)
            return out
        (x,) = self._transform_inputs(OpClass.SOFTMAX, op_name, (x,), meta)
        out = func(x, *args[1:], **kwargs)
        out = self._transform_output(OpClass.SOFTMAX, op_name, (x,), out, meta)
        self._emit(OpClass.SOFTMAX, op_name, (x,), out, meta)
        producer = self._tag(args[0]).product
        if producer is not None:
            producer.name = producer.name.rsplit(".", 1)[0] + ".qk"
        self._set(out, from_softmax=True)
        return out

    def _norm(self, func, name, args, kwargs, inputs):  # noqa: ANN001
        x = args[0]
        weight = next((t for t in inputs[1:] if self._is_static(t)), None)
        op_name = self._name("norm", weight)
        (x,) = self._transform_inputs(OpClass.LAYERNORM, op_name, (x,), {})
        out = func(x, *args[1:], **kwargs)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        outs[0] = self._transform_output(OpClass.LAYERNORM, op_name, (x,), outs[0], {})
        self._emit(OpClass.LAYERNORM, op_name, (x,), outs[0], {})
        return tuple(outs) if isinstance(out, (tuple, list)) else outs[0]

    def _embedding(self, func, name, args, kwargs, inputs):  # noqa: ANN001
        weight, ids = args[0], args[1]
        op_name = self._name("embedding", weight)
        ids, weight = self._transform_inputs(OpClass.EMBEDDING, op_name, (ids, weight), {})
        out = func(weight, ids, *args[2:], **kwargs)
        out = self._transform_output(OpClass.EMBEDDING, op_name, (ids, weight), out, {})
        self._emit(OpClass.EMBEDDING, op_name, (ids, weight), out, {})
        return out

    def _conv(self, func, name, args, kwargs, inputs):  # noqa: ANN001
        x, w = args[0], args[1]
        if not self._is_static(w):
            return self._unknown(func, name, args, kwargs, inputs)
        stride, padding = args[3], args[4]
        meta = {"stride": int(stride[0]), "padding": int(padding[0])}
        op_name = self._name("conv", w)
        x, w = self._transform_inputs(OpClass.CONV, op_name, (x, w), meta)
        out = func(x, w, *args[2:], **kwargs)
        out = self._transform_output(OpClass.CONV, op_name, (x, w), out, meta)
        self._emit(OpClass.CONV, op_name, (x, w), out, meta)
        return out

    def _product(self, func, name, args, kwargs, inputs):  # noqa: ANN001
        bias = None
        if name in ("addmm", "baddbmm", "addmv"):
            bias, a, b = args[0], args[1], args[2]
            beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
            if beta != 1 or alpha != 1:  # a scaled accumulate is no plain biased product
                return self._unknown(func, name, args, kwargs, inputs)
        else:
            a, b = args[0], args[1]
        if name in ("mv", "addmv"):
            b = b.unsqueeze(-1)
        if name == "dot":
            a, b = a.unsqueeze(0), b.unsqueeze(-1)
        static_b = self._is_static(b) and b.dim() == 2
        static_a = self._is_static(a) and a.dim() == 2
        if static_b or static_a:
            return self._static_product(func, name, args, kwargs, a, b, bias, left=not static_b)
        op_name = self._name("sv" if self._tag(a).from_softmax else "matmul", operands=(a, b))
        a2, b2 = self._transform_inputs(OpClass.MATMUL_DYNAMIC, op_name, (a, b), {})
        out = func(*args, **kwargs) if (a2 is a and b2 is b) else None
        y = out if out is not None else torch.matmul(a2, b2)
        y2 = self._transform_output(OpClass.MATMUL_DYNAMIC, op_name, (a2, b2), y, {})
        if out is None or y2 is not y:
            out = y2 if bias is None else y2 + bias
        la, lb = self._logical(a2), self._logical(b2)
        ly = y2.reshape(*la.shape[:-1], lb.shape[-1]) if la.dim() == lb.dim() else y2
        event = self._emit(OpClass.MATMUL_DYNAMIC, op_name, (la, lb), ly, {})
        if not op_name.endswith(".sv"):
            self._set(out, product=event)
        return out

    def _static_product(self, func, name, args, kwargs, a, b, bias, *, left):  # noqa: ANN001
        """A weight product in the logical form of ops.linear: x [.., k], weight [n, k]."""
        op_name = self._name("linear", a if left else b)
        x, w = (b.transpose(-2, -1), a) if left else (a, b.transpose(-2, -1))
        meta = {"has_bias": bias is not None}
        if not self.transforming:
            out = func(*args, **kwargs)
            y = out.transpose(-2, -1) if left else out
            lx = self._logical(x, keep=1)
            self._emit(OpClass.MATMUL_STATIC, op_name, (lx, w), y.reshape(*lx.shape[:-1], -1), meta)
            return out
        x, w = self._transform_inputs(OpClass.MATMUL_STATIC, op_name, (x, w), meta)
        y = torch.matmul(x, w.transpose(-2, -1))
        y = self._transform_output(OpClass.MATMUL_STATIC, op_name, (x, w), y, meta)
        self._emit(OpClass.MATMUL_STATIC, op_name, (x, w), y, meta)
        return self._from_logical(y, bias, left, name)

    def _logical(self, t: Tensor, keep: int = 2) -> Tensor:
        """``t`` in the shape it had before a view flattened its leading dimensions (the
        last ``keep`` unchanged), when it has one."""
        shape = self._tag(t).logical
        if shape is None or len(shape) <= t.dim() or shape[-keep:] != tuple(t.shape[-keep:]):
            return t
        return t.reshape(shape)

    def _from_logical(self, y: Tensor, bias: Tensor | None, left: bool, name: str) -> Tensor:
        out = y.transpose(-2, -1) if left else y
        if name in ("mv", "addmv"):
            out = out.squeeze(-1)
        elif name == "dot":
            out = out.reshape(())
        return out if bias is None else out + bias

    def _sdpa(self, func, name, args, kwargs, inputs):  # noqa: ANN001
        bound = dict(zip((a.name for a in func._schema.arguments), args, strict=False))
        bound.update(kwargs)
        q, k, v = bound["query"], bound["key"], bound["value"]
        mask = bound.get("attn_mask", bound.get("attn_bias"))
        causal = bool(bound.get("is_causal", False))
        scale = bound.get("scale") or 1.0 / math.sqrt(q.shape[-1])
        if k.shape[-3] != q.shape[-3]:  # grouped-query attention: keys shared by head groups
            k = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)
            v = v.repeat_interleave(q.shape[-3] // v.shape[-3], dim=-3)
        self._name("qk", operands=(q, k))
        base = self._origin or ""
        qk, sm, sv = (f"{base}.{s}" if base else s for s in ("qk", "softmax", "sv"))
        kt = k.transpose(-2, -1)
        q2, kt2 = self._transform_inputs(OpClass.MATMUL_DYNAMIC, qk, (q, kt), {})
        scores = torch.matmul(q2, kt2)
        scores = self._transform_output(OpClass.MATMUL_DYNAMIC, qk, (q2, kt2), scores, {})
        self._emit(OpClass.MATMUL_DYNAMIC, qk, (q2, kt2), scores, {})
        logits = scores * scale
        if causal:
            keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
            logits = logits.masked_fill(~keep, float("-inf"))
        if mask is not None:
            logits = (
                logits.masked_fill(~mask, float("-inf"))
                if mask.dtype == torch.bool
                else logits + mask
            )
        (logits,) = self._transform_inputs(OpClass.SOFTMAX, sm, (logits,), {"dim": -1})
        probs = torch.softmax(logits, dim=-1)
        probs = self._transform_output(OpClass.SOFTMAX, sm, (logits,), probs, {"dim": -1})
        self._emit(OpClass.SOFTMAX, sm, (logits,), probs, {"dim": -1})
        probs = torch.nan_to_num(probs, nan=0.0)
        p2, v2 = self._transform_inputs(OpClass.MATMUL_DYNAMIC, sv, (probs, v), {})
        context = torch.matmul(p2, v2)
        context = self._transform_output(OpClass.MATMUL_DYNAMIC, sv, (p2, v2), context, {})
        self._emit(OpClass.MATMUL_DYNAMIC, sv, (p2, v2), context, {})
        out = func(*args, **kwargs)
        if not self.transforming:  # the kernel's own output: tracing alone changes nothing
            return out
        rest = tuple(out[1:]) if isinstance(out, (tuple, list)) else ()
        return (context.to(q.dtype), *rest) if rest else context.to(q.dtype)

    # --- hooks ------------------------------------------------------------------------------

    def _meta(self, meta: dict[str, Any]) -> dict[str, Any]:
        labels = ops.current_labels()
        return {**meta, **labels} if labels else meta

    def _transform_inputs(self, op_class, name, inputs, meta):  # noqa: ANN001, ANN202
        if not self.transforming:
            return inputs
        meta = self._meta(meta)
        for hook in self.hooks:  # inside __torch_dispatch__: the mode is off for these ops
            inputs = hook.transform_inputs(op_class, name, inputs, meta)
        return inputs

    def _transform_output(self, op_class, name, inputs, output, meta):  # noqa: ANN001, ANN202
        if not self.transforming:
            return output
        meta = self._meta(meta)
        for hook in self.hooks:
            output = hook.transform_output(op_class, name, inputs, output, meta)
        return output

    def _emit(self, op_class, name, inputs, output, meta) -> _Event:  # noqa: ANN001
        event = _Event(op_class, name, tuple(inputs), output, self._meta(meta))
        if self.recording:  # effects alone need no record (and no tensors held until flush)
            self._pending.append(event)
        return event

    def flush(self) -> None:
        """Hand the recorded ops to the hooks (after a forward pass: the ``qk`` names of
        attention products are known only once their softmax has run)."""
        pending, self._pending = self._pending, []
        # Called from a module hook, where the mode is active: the statistics' own torch ops
        # must not be traced as the model's.
        with _disable_current_modes():
            for e in pending:
                for hook in self.hooks:
                    hook.record(e.op_class, e.name, e.inputs, e.output, e.meta)


def _common_path(paths: list[str]) -> str:
    parts = [p.split(".") if p else [] for p in paths]
    common: list[str] = []
    for level in zip(*parts, strict=False):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return ".".join(common)


@contextlib.contextmanager
def aten_hooks(model: nn.Module, *hooks: ops.OpHook) -> Iterator[AtenOps]:
    """Run the block's forward passes of ``model`` with every ATen op through ``hooks``.

    PyTorch's fused ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer`` fast path is
    switched off for the block: its single kernel would hide the projections and attention.
    """
    from torch.nn.modules import module as module_hooks

    mode = AtenOps(model, hooks)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    pre = module_hooks.register_module_forward_pre_hook(mode.push)
    post = module_hooks.register_module_forward_hook(mode.pop, always_call=True)
    try:
        with mode:
            yield mode
        mode.flush()
    finally:
        pre.remove()
        post.remove()
        torch.backends.mha.set_fastpath_enabled(fastpath)


def check_inputs(model: nn.Module, args: tuple, kwargs: dict) -> None:
    """Refuse, in one line, example inputs that ``model.forward`` cannot take."""
    try:
        inspect.signature(model.forward).bind(*args, **kwargs)
    except TypeError as err:
        raise SeqbenchError(
            f"{type(model).__name__}.forward does not take the example inputs: {err}",
            "return the inputs forward needs from the factory (a tuple of positional "
            "arguments or a dict of keyword arguments)",
        ) from err


def trace_forward(
    model: nn.Module,
    inputs: Any,
    *,
    unit: str = "sample",
    units: int | None = None,
    samples: int | None = None,
    stats: bool = True,
    meta: dict[str, Any] | None = None,
) -> Trace:
    """The trace of one forward pass ``model(*inputs)`` (a tuple), or ``model(**inputs)`` (a
    dict); ``samples`` defaults to the first input's leading size, ``units`` to ``samples``.
    Tensors on the ``meta`` device count MACs from shapes alone (no statistics)."""
    args, kwargs = (inputs, {}) if isinstance(inputs, (tuple, list)) else ((), dict(inputs))
    first = next(iter(_tensors((args, kwargs))), None)
    on_meta = first is not None and first.is_meta
    tracer = Tracer(stats=stats and not on_meta)  # meta tensors have shapes, no values
    if samples is None:
        samples = int(first.shape[0]) if first is not None and first.dim() else 1
    check_inputs(model, args, kwargs)
    model.eval()
    with torch.no_grad(), aten_hooks(model, tracer) as mode:
        model(*args, **kwargs)
    trace = tracer.finish(
        samples=samples,
        units=units or samples,
        unit=unit,
        meta={**(meta or {}), **mode.report.to_meta()},
    )
    if not trace.records:
        raise SeqbenchError("the forward pass ran no op seqbench can price", "check the model")
    return trace
