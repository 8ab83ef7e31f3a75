"""Per-operator trace of real inference, with the statistics accelerators exploit.

A :class:`Tracer` is an :class:`~seqbench.ops.OpHook`: install it around real inference on
real eval batches and it records every op that goes through :mod:`seqbench.ops` (class,
shapes, MACs, elements moved, which operand is the weight) plus measured statistics:

* attention sparsity: fraction of (unmasked) attention probabilities under a threshold, a
  multiple of the row's uniform share 1/n (:mod:`seqbench.sparsity`);
* token sparsity: fraction of keys a cumulative-attention rule would prune (keep the most
  attended keys until their share of attention reaches ``theta``; the rest are prunable);
* per op, the share of its products MulTCIM's pruner and attention rule leave (``keep``, by
  ``"theta|alpha"``; ``theta`` 1 and ``alpha`` 0 are "off"), with pruned tokens carried into
  the stream's later layers exactly as the ``token_pruning`` effect carries them;
* bit sparsity of the 8-bit quantized matmul inputs: zero-bit fraction, mean effective
  bitwidth (MSB position) and the mean of the per-group (16 inputs) maximum bitwidth;
* sequence lengths (query and key lengths of the attention products).

Identical records (same name, class, shapes) are merged with a count, so a decode over many
steps stays small and simulating it stays fast::

    tracer = Tracer()
    with ops.hooks(tracer):
        family.evaluate(model, prepared, "test", limit=64)
    trace = tracer.finish(samples=64, units=1234, unit="token", meta={"checkpoint": sha})
    trace.save(trace_path(sha, "test"))
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seqbench import atomic, ops, paths, sparsity
from seqbench.errors import SeqbenchError
from seqbench.ops import OpClass
from seqbench.sparsity import rule as _rule

TRACE_VERSION = 2  # 2: relative attention thresholds, per-op pruning `keep`
# below this multiple of its row's uniform share 1/n a probability counts as sparse
ATTENTION_THRESHOLDS = (0.1, 0.25, 0.5)
TOKEN_THETAS = (0.9, 0.95, 0.99)  # cumulative attention share the kept tokens must reach
BIT_WIDTH = 8  # bit statistics are measured on symmetric 8-bit quantized operands
BIT_GROUP = 16  # inputs per bit-serial MAC group (effective-bitwidth balancing)
SAMPLE_CAP = 1 << 16  # elements per call the statistics look at (strided subsample)
UNITS = ("token", "sample", "query")
PLURALS = {"tokens": "token", "samples": "sample", "queries": "query"}


@dataclass
class OpRecord:
    """One distinct op (merged over ``count`` identical calls); sizes are per call.

    For products ``dims`` = {g: independent matrices, m: input rows (vectors), k: reduction
    length, n: output columns}; the weight (if any) is k x n. ``macs`` = g*m*k*n.
    ``elems_in``/``elems_weight``/``elems_out`` count tensor elements (activations read,
    weights read, outputs written); ``elem_bytes`` is the traced element size.
    """

    name: str
    op_class: str
    shapes: list[list[int]]
    out_shape: list[int]
    count: int = 1
    macs: int = 0
    elems_in: int = 0
    elems_weight: int = 0
    elems_out: int = 0
    elem_bytes: int = 4
    weight_operand: int | None = None
    dims: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    # share of the op's products left by the token pruner / attention rule, by "theta|alpha"
    # (mean over calls; absent: the op is never pruned)
    keep: dict[str, float] = field(default_factory=dict)

    @property
    def stage(self) -> str:
        """The pipeline stage (layer) this op belongs to: the name up to its layer index."""
        parts = self.name.split(".")
        for i, part in enumerate(parts):
            if part.isdigit():
                return ".".join(parts[: i + 1])
        return parts[0]

    @property
    def role(self) -> str:
        """``qk`` (scores), ``sv`` (weighted values) or ``generic`` for dynamic products."""
        last = self.name.rsplit(".", 1)[-1]
        return last if last in ("qk", "sv") else "generic"


@dataclass
class Trace:
    """The ops of real inference on ``samples`` samples producing ``units`` units."""

    records: list[OpRecord]
    samples: int
    units: int
    unit: str
    stats: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    version: int = TRACE_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "samples": self.samples,
            "units": self.units,
            "unit": self.unit,
            "stats": self.stats,
            "meta": self.meta,
            "records": [asdict(r) for r in self.records],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        if data.get("version") != TRACE_VERSION:
            raise SeqbenchError(
                f"trace version {data.get('version')} is not {TRACE_VERSION}",
                "delete the cached trace; the next eval recaptures it",
            )
        return cls(
            records=[OpRecord(**r) for r in data["records"]],
            samples=int(data["samples"]),
            units=int(data["units"]),
            unit=data["unit"],
            stats=data["stats"],
            meta=data.get("meta", {}),
        )

    def save(self, path: str | Path) -> None:
        """Write the trace as JSON atomically."""
        atomic.write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise SeqbenchError(
                f"cannot read trace {path}: {err}", "delete it to recapture"
            ) from err

    def summary(self) -> dict[str, Any]:
        """Op counts and MACs per op class, total calls, and the measured statistics."""
        per_class: dict[str, dict[str, int]] = {}
        for r in self.records:
            entry = per_class.setdefault(r.op_class, {"calls": 0, "macs": 0, "records": 0})
            entry["calls"] += r.count
            entry["macs"] += r.macs * r.count
            entry["records"] += 1
        return {
            "samples": self.samples,
            "units": self.units,
            "unit": self.unit,
            "ops": per_class,
            "macs_total": sum(e["macs"] for e in per_class.values()),
            "stats": self.stats,
            "meta": self.meta,
        }


def trace_path(checkpoint: str, split: str, extra: str = "") -> Path:
    """Where the trace of ``checkpoint`` on ``split`` is cached (reused by every profile)."""
    suffix = f"-{extra}" if extra else ""
    return paths.cache_dir() / "traces" / f"{checkpoint}-{split}{suffix}.json"


class _Mean:
    """A streaming weighted mean."""

    def __init__(self) -> None:
        self.total = 0.0
        self.weight = 0.0

    def add(self, value: float, weight: float) -> None:
        self.total += value * weight
        self.weight += weight

    def value(self) -> float | None:
        return self.total / self.weight if self.weight else None


class Tracer(ops.OpHook):
    """Records every op (see module doc); ``stats=False`` skips the sparsity statistics."""

    def __init__(self, *, stats: bool = True) -> None:
        self.collect_stats = stats
        self._records: dict[tuple, OpRecord] = {}
        self._attention = {t: _Mean() for t in ATTENTION_THRESHOLDS}
        self._tokens = {t: _Mean() for t in TOKEN_THETAS}
        self._bits: dict[str, dict[str, _Mean]] = {}
        self._lengths = {"query": _Mean(), "key": _Mean()}
        self._max_key = 0
        self._pruners = {theta: sparsity.TokenPruner(theta) for theta in TOKEN_THETAS}
        self._pending: dict[str, dict[str, float]] = {}  # attention -> S.V keep, per rule

    # --- OpHook -----------------------------------------------------------------------------

    def record(self, op_class, name, inputs, output, meta) -> None:  # noqa: ANN001 (OpHook)
        op_class = ops.OpClass(op_class).value
        shapes = [list(t.shape) for t in inputs]
        meta_key = json.dumps(meta, sort_keys=True, default=str)
        key = (name, op_class, json.dumps(shapes), meta_key)
        rec = self._records.get(key)
        if rec is not None:
            rec.count += 1
        else:
            rec = self._records[key] = _describe(op_class, name, inputs, output, meta)
        if self.collect_stats:
            with torch.no_grad():
                self._observe(op_class, name, inputs, output)
                keep = self._keep(op_class, name, inputs, output)
            if keep is not None or rec.keep:
                for rule in set(rec.keep) | set(keep or {}):
                    old = rec.keep.get(rule, 1.0)
                    new = (keep or {}).get(rule, 1.0)
                    rec.keep[rule] = old + (new - old) / rec.count

    # --- what MulTCIM's pruner and attention rule leave, per op ----------------------------

    def _keep(
        self, op_class: str, name: str, inputs: tuple[Tensor, ...], output: Tensor
    ) -> dict[str, float] | None:
        """This call's share of products left, by rule; None when no rule touches the op."""
        if op_class == OpClass.SOFTMAX and sparsity.is_attention(name) and output.dim() >= 2:
            if output.shape[-1] > 1:
                self._pending[name.rsplit(".", 1)[0]] = self._attention_keep(name, output.float())
            return None
        if op_class == OpClass.MATMUL_DYNAMIC and name.endswith(".sv"):
            return self._pending.pop(name[: -len(".sv")], None)
        out: dict[str, float] = {}
        for theta, pruner in self._pruners.items():
            share = sparsity.later_layer_share(pruner, op_class, name, inputs, output)
            if share is not None:
                out.update({_rule(theta, a): share for a in (0.0, *ATTENTION_THRESHOLDS)})
        return out or None

    def _attention_keep(self, name: str, probs: Tensor) -> dict[str, float]:
        """Share of the valid probabilities left (S.V products MulTCIM computes) by rule."""
        valid = max(1, int((probs > 0).sum()))
        out = {}
        for theta in (1.0, *TOKEN_THETAS):
            left = probs if theta == 1.0 else self._pruners[theta].prune(name, probs)[0]
            for alpha in (0.0, *ATTENTION_THRESHOLDS):
                kept = left > 0 if alpha == 0.0 else sparsity.above_threshold(left, alpha)
                out[_rule(theta, alpha)] = float(kept.sum()) / valid
        return out

    # --- statistics -------------------------------------------------------------------------

    def _observe(
        self, op_class: str, name: str, inputs: tuple[Tensor, ...], output: Tensor
    ) -> None:
        if op_class == OpClass.SOFTMAX and output.dim() >= 2:
            self._observe_attention(output.detach().float())
        elif op_class in (OpClass.MATMUL_STATIC, OpClass.RECURRENT_STEP, OpClass.CONV):
            self._observe_bits("static_input", inputs[0])
        elif op_class == OpClass.MATMUL_DYNAMIC:
            self._observe_bits("dynamic_input", inputs[0])
            self._observe_bits("dynamic_input", inputs[1])
            if name.endswith(".sv") and inputs[0].dim() >= 2:  # S [.., Lq, Lk] . V
                queries, keys = int(inputs[0].shape[-2]), int(inputs[0].shape[-1])
                self._lengths["query"].add(queries, 1)
                self._lengths["key"].add(keys, 1)
                self._max_key = max(self._max_key, keys)

    def _observe_attention(self, probs: Tensor) -> None:
        valid = probs > 0  # masked entries are exactly zero: not counted as sparse
        n_valid = int(valid.sum())
        if n_valid == 0:
            return
        for threshold, mean in self._attention.items():
            dropped = valid & ~sparsity.above_threshold(probs, threshold)
            mean.add(float(dropped.sum()) / n_valid, n_valid)
        if probs.shape[-1] < 2:
            return
        keys_valid = (sparsity.key_importance(probs) > 0).sum(dim=-1).clamp(min=1)
        for theta, mean in self._tokens.items():
            pruned = sparsity.pruned_keys(probs, theta).sum(dim=-1)
            mean.add(float((pruned.float() / keys_valid.float()).mean()), float(keys_valid.sum()))

    def _observe_bits(self, kind: str, x: Tensor) -> None:
        if not x.is_floating_point() or x.numel() == 0:
            return
        flat = (
            x.detach().float().reshape(-1, x.shape[-1]) if x.dim() > 1 else x.detach().float()[None]
        )
        if flat.numel() > SAMPLE_CAP:
            step = math.ceil(flat.shape[0] / max(1, SAMPLE_CAP // flat.shape[1]))
            flat = flat[::step]
        scale = flat.abs().max()
        if scale <= 0:
            return
        top = 2 ** (BIT_WIDTH - 1) - 1
        mag = torch.round(flat.abs() / scale * top).to(torch.int32)
        eff = torch.where(mag > 0, torch.floor(torch.log2(mag.clamp(min=1).float())) + 1, 0.0)
        ones = sum(((mag >> b) & 1).sum() for b in range(BIT_WIDTH - 1))
        n = mag.numel()
        cols = flat.shape[1]
        groups = (
            eff[:, : cols - cols % BIT_GROUP].reshape(-1, BIT_GROUP) if cols >= BIT_GROUP else eff
        )
        stats = self._bits.setdefault(
            kind,
            {
                "zero_bit_fraction": _Mean(),
                "mean_eff_bits": _Mean(),
                "mean_group_max_bits": _Mean(),
            },
        )
        stats["zero_bit_fraction"].add(1.0 - float(ones) / (n * (BIT_WIDTH - 1)), n)
        stats["mean_eff_bits"].add(float(eff.mean()), n)
        stats["mean_group_max_bits"].add(float(groups.max(dim=-1).values.mean()), n)

    # --- result -----------------------------------------------------------------------------

    def finish(
        self, *, samples: int, units: int, unit: str = "token", meta: dict[str, Any] | None = None
    ) -> Trace:
        """The trace of everything recorded; ``units`` counts ``unit``s (token/sample/query,
        plurals accepted)."""
        unit = PLURALS.get(unit, unit)
        if unit not in UNITS:
            raise SeqbenchError(f"unknown trace unit {unit!r}", f"one of {UNITS}")
        if samples <= 0 or units <= 0:
            raise SeqbenchError("a trace needs at least one sample and one unit", "")
        stats = {
            "attention_sparsity": _values({str(k): v for k, v in self._attention.items()}),
            "attention_rule": "relative",  # levels are multiples of the row's 1/n
            "token_sparsity": _values({str(k): v for k, v in self._tokens.items()}),
            "bit_sparsity": {k: _values(v) for k, v in self._bits.items()},
            "bit_width": BIT_WIDTH,
            "bit_group": BIT_GROUP,
            "seq_len": {
                "mean_query": self._lengths["query"].value(),
                "mean_key": self._lengths["key"].value(),
                "max_key": self._max_key,
            },
        }
        return Trace(list(self._records.values()), samples, units, unit, stats, dict(meta or {}))


def _values(means: dict[str, _Mean]) -> dict[str, float]:
    return {k: round(v, 6) for k, m in means.items() if (v := m.value()) is not None}


def _describe(
    op_class: str, name: str, inputs: tuple[Tensor, ...], output: Tensor, meta: dict
) -> OpRecord:
    shapes = [list(t.shape) for t in inputs]
    rec = OpRecord(
        name=name,
        op_class=op_class,
        shapes=shapes,
        out_shape=list(output.shape),
        elem_bytes=inputs[0].element_size() if inputs[0].is_floating_point() else 4,
        meta={k: v for k, v in meta.items() if isinstance(v, (int, float, str, bool))},
    )
    if op_class in (OpClass.MATMUL_STATIC, OpClass.RECURRENT_STEP):
        x, w = inputs[0], inputs[-1]
        m, k, n = x.numel() // x.shape[-1], int(w.shape[1]), int(w.shape[0])
        rec.dims = {"g": 1, "m": m, "k": k, "n": n}
        rec.weight_operand, rec.elems_in, rec.elems_weight = len(inputs) - 1, x.numel(), w.numel()
    elif op_class == OpClass.CONV:
        x, w = inputs[0], inputs[-1]
        m = output.numel() // output.shape[1]
        k, n = int(w[0].numel()), int(w.shape[0])
        rec.dims = {"g": 1, "m": m, "k": k, "n": n}
        rec.weight_operand, rec.elems_in, rec.elems_weight = len(inputs) - 1, x.numel(), w.numel()
    elif op_class == OpClass.MATMUL_DYNAMIC:
        a, b = inputs
        g = output.numel() // (output.shape[-2] * output.shape[-1]) if output.dim() >= 2 else 1
        rec.dims = {"g": g, "m": int(a.shape[-2]), "k": int(a.shape[-1]), "n": int(b.shape[-1])}
        rec.meta["heads"] = int(a.shape[-3]) if a.dim() >= 4 else 1
        rec.elems_in = a.numel() + b.numel()
    elif op_class == OpClass.SIMILARITY_SEARCH:
        q, gallery = inputs
        rec.dims = {"g": 1, "m": int(q.shape[0]), "k": int(q.shape[-1]), "n": int(gallery.shape[0])}
        rec.weight_operand, rec.elems_in, rec.elems_weight = 1, q.numel(), gallery.numel()
    elif op_class == OpClass.EMBEDDING:
        ids, table = inputs
        rec.dims = {"m": ids.numel(), "n": int(table.shape[1])}
        rec.elems_in = ids.numel()
        rec.elems_weight = ids.numel() * int(table.shape[1])  # rows actually read
    else:  # softmax, layernorm, elementwise: row-wise or pointwise vector work
        cols = int(output.shape[meta.get("dim", -1)]) if output.dim() else 1
        rec.dims = {"rows": output.numel() // max(cols, 1), "cols": cols}
        rec.elems_in = sum(t.numel() for t in inputs)
    rec.macs = (
        rec.dims.get("g", 0) * rec.dims.get("m", 0) * rec.dims.get("k", 0) * rec.dims.get("n", 0)
    )
    rec.elems_out = output.numel()
    return rec
