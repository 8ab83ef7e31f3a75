"""Trace + profile -> latency, throughput, energy, power, TOPS/W, breakdown (first order).

Every record of the trace is priced by the mapping kind its op class maps to in the profile
(:mod:`seqbench.accel.mappings`); ``host`` ops go to the ``fallback`` profile and are listed
under ``host_fallback``. The priced trace is then placed on the profile's fixed chip
(:mod:`seqbench.accel.chip`: replication into free arrays, reloads when the weights do not
fit, the power cap), and composed per pipeline stage (a layer: the op name up to its layer
index):

* ``none``: ops run one after another; the period between samples equals the latency;
* ``layer`` (PipeLayer): within a sample ops are sequential, but consecutive samples overlap
  layer by layer, so the period is the slowest stage;
* ``submatrix`` (ReTransformer): within a multi-head attention (its projections, Q.K^T,
  softmax, S.V and output projection) the dependent products also overlap block by block
  (``pipeline.block_rows`` query rows per block): segment time = longest op + (rest) /
  blocks. The rest of the layer (add & norm, FFN) runs op after op, as in ``layer``: the
  paper's sub-matrix pipeline is "for multi-head self-attention" (ICCAD'20 abstract, Sec.
  4.4), replacing the layer-granularity pipeline there only.

Hideable time (ReTransformer's X writes) overlaps the stage's static products; only the
excess adds to the stage. Times are per sample; energy is per unit (token/sample/query).
``tops_per_w`` counts the trace's dense work (2 ops per MAC) per joule, so skipping
work raises it (an *effective* efficiency).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from seqbench.accel import chip_power
from seqbench.accel.chip import (
    Chip,
    Placement,
    Plan,
    cap_period,
    resident_plan,
    round_schedule,
    rounds_lower_bound,
    rounds_plan,
)
from seqbench.accel.mappings import CATEGORIES, MAPPINGS, Context, OpCost
from seqbench.accel.profile import Profile, load_named
from seqbench.errors import SeqbenchError
from seqbench.ops import OpClass
from seqbench.trace import OpRecord, Trace

HOST = "host"


@dataclass
class Simulation:
    """The simulated cost of one trace on one profile; :meth:`to_dict` is the record form."""

    profile: str
    profile_hash: str
    unit: str
    samples: int
    units: int
    latency_s_per_sample: float
    period_s_per_sample: float
    energy_J: float
    dense_macs: float
    effective_macs: float
    pipeline: str
    breakdown: dict[str, dict[str, float]]
    host_fallback: dict[str, dict[str, float]]
    mechanisms: dict[str, dict[str, float]]
    counters: dict[str, float]
    chip: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    # per pipeline stage (layer): its ops' time (before pipelining), energy and MACs per sample
    stages: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def throughput_units_per_s(self) -> float:
        return (
            self.units / self.samples / self.period_s_per_sample
            if self.period_s_per_sample
            else 0.0
        )

    @property
    def energy_J_per_unit(self) -> float:
        return self.energy_J / self.units

    @property
    def energy_J_per_sample(self) -> float:
        return self.energy_J / self.samples

    @property
    def power_W(self) -> float:
        """Average power while streaming samples at the pipelined throughput."""
        return (
            self.energy_J_per_sample / self.period_s_per_sample if self.period_s_per_sample else 0.0
        )

    @property
    def tops_per_w(self) -> float:
        return 2.0 * self.dense_macs / self.energy_J / 1e12 if self.energy_J else 0.0

    @property
    def ops_per_s_per_w(self) -> float:
        """Dense operations per joule (= GOPs/s/W x 1e9)."""
        return 2.0 * self.dense_macs / self.energy_J if self.energy_J else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Units: s, J, W; ``breakdown``, ``host_fallback`` and ``counters`` are per sample
        (except ``arrays_for_static_weights``: arrays the weights occupy)."""
        return {
            "profile": self.profile,
            "profile_hash": self.profile_hash,
            "unit": self.unit,
            "samples": self.samples,
            "units": self.units,
            "pipeline": self.pipeline,
            "latency_s_per_sample": self.latency_s_per_sample,
            "period_s_per_sample": self.period_s_per_sample,
            "throughput_units_per_s": self.throughput_units_per_s,
            "throughput_samples_per_s": 1.0 / self.period_s_per_sample
            if self.period_s_per_sample
            else 0.0,
            "energy_J_per_unit": self.energy_J_per_unit,
            "energy_J_per_sample": self.energy_J_per_sample,
            "power_W": self.power_W,
            "tops_per_w": self.tops_per_w,
            "ops_per_sample": 2.0 * self.dense_macs / self.samples,
            "effective_macs_per_sample": self.effective_macs / self.samples,
            "breakdown": self.breakdown,
            "host_fallback": self.host_fallback,
            "mechanisms": self.mechanisms,
            "counters": self.counters,
            "chip": self.chip,
            "notes": self.notes,
            "stages": self.stages,
        }


@dataclass
class _Stage:
    time: float = 0.0
    energy: float = 0.0
    macs: float = 0.0
    hideable: float = 0.0
    static_time: float = 0.0
    longest: float = 0.0
    rows: int = 0
    attention: str | None = None  # the multi-head attention whose ops overlap block by block


ARRAY_COUNTERS = ("arrays", "pinned_arrays", "operand_arrays")


@dataclass
class _Priced:
    """A trace priced op by op on one profile, before it is placed on the chip."""

    trace: Trace
    profile: Profile
    host: Profile | None
    ctx: Context
    ops: list[tuple[OpRecord, OpCost, bool]]  # (op, cost of one call, ran on the host)
    arrays: dict[str, dict[str, float]]  # per ARRAY_COUNTERS: arrays each op's weight holds
    skipped_calls: float  # K/V projection calls a decomposing profile never computes


def simulate(
    trace: Trace,
    profile: Profile,
    *,
    host: Profile | None = None,
    only: Callable[[OpRecord], bool] | None = None,
) -> Simulation:
    """Price ``trace`` on ``profile``; ``host`` overrides the profile's ``fallback`` profile.
    ``only`` keeps the ops it accepts in the time and energy (e.g. one part's latency), after
    the whole trace has been placed on the chip.

    A chip that can hold every weight may still run faster loading them in rounds (more
    copies of the busy layers); both plans are composed whole and the shorter period wins,
    so a small change of a parameter never flips the plan on a partial estimate."""
    if host is None and profile.fallback and profile.fallback != profile.name:
        host = load_named(profile.fallback)
    priced = _price_trace(trace, profile, host)
    chip = Chip.from_profile(profile)
    if chip is None:
        return _compose_simulation(priced, None, only)
    placements, pinned, operands, pinned_by_stage = _placements(priced)
    resident = resident_plan(chip, placements, pinned, operands)
    best: tuple[Simulation, Plan] | None = None
    if resident is not None:
        best = (_compose_simulation(priced, resident, None), resident)
    # without a resident plan there is nothing to beat: search rounds without bounding them
    if chip.arrays is not None and (
        best is None
        or rounds_lower_bound(chip, placements, operands, _stages_floor(priced))
        < best[0].period_s_per_sample * trace.samples
    ):
        rounds = rounds_plan(chip, placements, pinned, operands, pinned_by_stage)
        candidate = _compose_simulation(priced, rounds, None)
        if best is None or candidate.period_s_per_sample < best[0].period_s_per_sample:
            best = (candidate, rounds)
    assert best is not None
    return best[0] if only is None else _compose_simulation(priced, best[1], only)


def _price_trace(trace: Trace, profile: Profile, host: Profile | None) -> _Priced:
    """Every op of ``trace`` priced by its mapping kind (or on the host)."""
    ctx = Context(stats=trace.stats, host=host if host is not None else profile)
    ctx.decomposable = attention_prefixes(trace)
    skipped = _skipped_projections(ctx.decomposable, profile)
    skipped_calls = 0.0
    priced: list[tuple[OpRecord, OpCost, bool]] = []
    arrays: dict[str, dict[str, float]] = {c: {} for c in ARRAY_COUNTERS}
    for op in trace.records:
        if op.name in skipped:
            skipped_calls += op.count
            continue
        cost, on_host = _price(op, profile, ctx)
        for counter in ARRAY_COUNTERS:  # arrays hold a weight once, however often it is used
            if counter in cost.counters:
                held = arrays[counter]
                held[op.name] = max(held.get(op.name, 0.0), cost.counters.pop(counter))
        priced.append((op, cost, on_host))
    return _Priced(trace, profile, host, ctx, priced, arrays, skipped_calls)


def _compose_simulation(
    priced: _Priced, layout: Plan | None, only: Callable[[OpRecord], bool] | None
) -> Simulation:
    """The priced trace placed as ``layout`` says, composed into a :class:`Simulation`
    (``layout`` is copied: its power-cap flag is this simulation's)."""
    trace, profile, host, ctx = priced.trace, priced.profile, priced.host, priced.ctx
    layout = copy.copy(layout) if layout is not None else None
    total = OpCost()
    if priced.skipped_calls:
        total.count("skipped_projection_calls", priced.skipped_calls)
    stages: dict[str, list[_Stage]] = {}
    fallback: dict[str, dict[str, float]] = {}
    host_energy = 0.0
    host_bits = 0.0  # operands and results crossing the chip's I/O to the host and back
    for op, cost, on_host in priced.ops:
        if only is not None and not only(op):
            continue
        cost = _split_among_copies(cost, layout.replication.get(op.name, 1) if layout else 1)
        total.merge(cost, op.count)
        t = _add_to_stage(stages, op, cost, profile, ctx)
        if on_host:
            host_energy += cost.energy_J * op.count
            bits = profile.opt("precision.activation_bits", "bits", 8.0 * op.elem_bytes)
            host_bits += (op.elems_in + op.elems_out) * bits * op.count
            entry = fallback.setdefault(op.op_class, {"calls": 0.0, "time_s": 0.0, "energy_J": 0.0})
            entry["calls"] += op.count / trace.samples
            entry["time_s"] += t / trace.samples
            entry["energy_J"] += cost.energy_J * op.count / trace.samples
    latency, period, stage_times = _compose(stages, profile)
    if layout and not layout.fits:
        # time-multiplexed weights: every batch reloads the chip; the layer pipeline runs
        # within each round, never across rounds
        total.add("writes", layout.reload_time_s, layout.reload_energy_J)
        if profile.pipeline != "none":
            latency = round_schedule(layout.round_stages, stage_times, trace.samples)
        latency += layout.reload_time_s
        period = latency
    reload_bits = layout.reload_bits if layout and not layout.fits else 0.0
    io_energy = chip_power.chip_io_energy(profile, host_bits + reload_bits)
    if io_energy:
        total.add("chip_io", 0.0, io_energy)
    chip_energy = total.energy_J - host_energy
    if layout:
        period, layout.power_capped = cap_period(period, chip_energy, layout.peak_power_W)
        latency = max(latency, period)
    static = chip_power.static_power(profile) * period  # the link's PHYs, while the chip runs
    if static:
        total.add("chip_io", 0.0, static)
        chip_energy += static
    n = trace.samples
    breakdown = {
        c: {"time_s": total.time.get(c, 0.0) / n, "energy_J": total.energy.get(c, 0.0) / n}
        for c in CATEGORIES
        if c in total.time or c in total.energy
    }
    if total.hideable_s:
        breakdown.setdefault("writes", {"time_s": 0.0, "energy_J": 0.0})
        breakdown["writes"]["hidden_time_s"] = total.hideable_s / n
    energy = total.energy_J
    mechanisms = {
        k: {
            "energy_saved_J_per_unit": v / trace.units,
            "fraction": v / (energy + v) if energy + v else 0.0,
        }
        for k, v in total.mechanisms.items()
    }
    counters = {k: v / n for k, v in total.counters.items()}
    if priced.arrays["arrays"]:
        counters["arrays_for_static_weights"] = sum(priced.arrays["arrays"].values())
    chip_record = None
    if layout:
        chip_record = layout.to_dict()
        chip_record["chip_power_W"] = chip_energy / period if period else 0.0
    notes = list(profile.notes)
    if fallback:
        notes.append(
            f"ran on the host ({host.name if host else '?'}): {', '.join(sorted(fallback))}"
        )
    if layout and not layout.fits:
        chosen = layout.arrays_needed <= (layout.arrays_total or 0)
        notes.append(
            f"weights need {layout.arrays_needed:.0f} arrays, the chip has "
            f"{layout.arrays_total}: reloaded in {layout.rounds} rounds per batch"
            + (" (faster than holding them all)" if chosen else "")
        )
    return Simulation(
        profile=profile.name,
        profile_hash=profile.hash,
        unit=trace.unit,
        samples=n,
        units=trace.units,
        latency_s_per_sample=latency / n,
        period_s_per_sample=period / n,
        energy_J=energy,
        dense_macs=sum(r.macs * r.count for r in trace.records),
        effective_macs=total.effective_macs,
        pipeline=profile.pipeline,
        breakdown=breakdown,
        host_fallback=fallback,
        mechanisms=mechanisms,
        counters=counters,
        chip=chip_record,
        notes=notes,
        stages={
            name: {
                "order": i,
                "time_s": sum(s.time for s in segments) / n,
                "energy_J": sum(s.energy for s in segments) / n,
                "macs": sum(s.macs for s in segments) / n,
            }
            for i, (name, segments) in enumerate(stages.items())
        },
    )


def _split_among_copies(cost: OpCost, copies: float) -> OpCost:
    """``cost`` of one call when ``copies`` copies of the weight split its input vectors:
    only the weight products' time divides."""
    if copies <= 1:
        return cost
    static = cost.time.get("matmul_static", 0.0) / copies
    return replace(cost, time={**cost.time, "matmul_static": static})


def _add_to_stage(
    stages: dict[str, list[_Stage]], op: OpRecord, cost: OpCost, profile: Profile, ctx: Context
) -> float:
    """Add ``op``'s calls at ``cost`` each to the segment of its stage it joins; returns
    their seconds."""
    prefix = op.name.rsplit(".", 1)[0]
    attention = prefix if prefix in ctx.decomposable else None
    stage = _segment(stages.setdefault(op.stage, [_Stage()]), cost, profile, attention)
    t = cost.time_s * op.count
    stage.time += t
    stage.energy += cost.energy_J * op.count
    stage.macs += op.macs * op.count
    stage.hideable += cost.hideable_s * op.count
    stage.static_time += cost.time.get("matmul_static", 0.0) * op.count
    stage.longest = max(stage.longest, t)
    if op.role == "qk":
        stage.rows = max(stage.rows, op.dims.get("m", 0))
    return t


def _stages_floor(priced: _Priced) -> float:
    """Seconds per batch below which no plan in rounds runs the trace's stages, however
    many copies it makes: copies divide only the weight products' time, so each stage
    keeps at least the rest (written operands, dynamic products, vector ops, the host's
    ops); a round takes its slowest stage plus one sample's time through each other one
    (:func:`round_schedule`), so the batch takes at least the slowest stage and at least
    every stage's time over the samples. 0 for a sub-matrix pipeline, where a faster
    product can lengthen the part of a write it no longer hides."""
    if priced.profile.pipeline == "submatrix":
        return 0.0
    stages: dict[str, list[_Stage]] = {}
    for op, cost, _ in priced.ops:
        _add_to_stage(stages, op, _split_among_copies(cost, math.inf), priced.profile, priced.ctx)
    _, _, times = _compose(stages, priced.profile)
    return max(max(times.values(), default=0.0), sum(times.values()) / priced.trace.samples)


def _placements(
    priced: _Priced,
) -> tuple[list[Placement], float, float, dict[str, float]]:
    """The trace's weight-stationary ops as the planner sees them, with the arrays pinned
    (in all and per stage) and those the written operands take."""
    weights = priced.arrays["arrays"]
    stage_of = {op.name: op.stage for op, _, _ in priced.ops}
    placements: dict[str, Placement] = {
        name: Placement(name, held, 0.0, 1.0, stage_of.get(name, name))
        for name, held in weights.items()
    }
    pinned_by_stage: dict[str, float] = {}
    for name, held in priced.arrays["pinned_arrays"].items():
        stage = stage_of.get(name, name)
        pinned_by_stage[stage] = pinned_by_stage.get(stage, 0.0) + held
    for op, cost, _ in priced.ops:
        if op.name in placements:
            p = placements[op.name]
            p.time += cost.time.get("matmul_static", 0.0) * op.count
            p.vectors = max(p.vectors, float(op.dims.get("g", 1) * op.dims.get("m", 1)))
    return (
        list(placements.values()),
        sum(priced.arrays["pinned_arrays"].values()),
        sum(priced.arrays["operand_arrays"].values()),
        pinned_by_stage,
    )


def _price(op: OpRecord, profile: Profile, ctx: Context) -> tuple[OpCost, bool]:
    # An op the ATen tracer did not know (meta.unknown) runs where any unmapped op runs.
    kind = HOST if op.meta.get("unknown") else profile.mapping.get(op.op_class, HOST)
    if kind != HOST:
        return MAPPINGS.get(kind).cost(op, profile, ctx), False
    host = ctx.host
    if op.meta.get("unknown") and (host is None or host is profile):  # the profile is a host
        return MAPPINGS.get(profile.mapping[op.op_class]).cost(op, profile, ctx), False
    if host is None or host is profile:
        raise SeqbenchError(
            f"profile {profile.name!r} cannot run {op.op_class} and names no fallback",
            "map the op class or set `fallback: cpu`",
        )
    host_kind = host.mapping.get(op.op_class, HOST)
    if host_kind == HOST:
        raise SeqbenchError(f"fallback profile {host.name!r} cannot run {op.op_class} either", "")
    return MAPPINGS.get(host_kind).cost(op, host, ctx), True


def attention_prefixes(trace: Trace) -> set[str]:
    """Scaled dot-product attentions: name prefixes with both a ``.qk`` and an ``.sv`` product."""
    roles: dict[str, set[str]] = {}
    for r in trace.records:
        if r.role in ("qk", "sv"):
            roles.setdefault(r.name.rsplit(".", 1)[0], set()).add(r.role)
    return {prefix for prefix, seen in roles.items() if seen == {"qk", "sv"}}


def _skipped_projections(attentions: set[str], profile: Profile) -> set[str]:
    """K/V projections a decomposing profile never computes (ReTransformer)."""
    names = profile.setting("skip_projections") or []
    if not names or profile.mapping.get(OpClass.MATMUL_DYNAMIC) != "crossbar_decomposed":
        return set()
    return {f"{a}.{p}" for a in attentions for p in names}


def _segment(
    segments: list[_Stage], cost: OpCost, profile: Profile, attention: str | None
) -> _Stage:
    """The stage segment an op joins. In a sub-matrix pipeline only the ops of one multi-head
    attention (``attention``: its name prefix) overlap: an op outside one (add & norm, FFN)
    runs on its own, and each attention opens its own segment. An operand written into arrays
    on the critical path (PipeLayer's K^T, V) needs the products before it to have finished:
    such an op opens a new segment unless no product ran since the last one (V's write then
    overlaps K^T's)."""
    current = segments[-1]
    if profile.pipeline != "submatrix":
        return current
    if current.time == 0 and current.hideable == 0:  # a fresh segment takes the op's kind
        current.attention = attention
        return current
    barrier = cost.time.get("writes", 0.0) > 0 and current.static_time > 0
    if barrier or attention is None or attention != current.attention:
        current = _Stage(attention=attention)
        segments.append(current)
    return current


def _compose(
    stages: dict[str, list[_Stage]], profile: Profile
) -> tuple[float, float, dict[str, float]]:
    """(latency, period, time of each stage) of all samples from per-stage segments, by
    pipeline granularity: within a sub-matrix stage each segment overlaps block by block;
    segments run in turn."""
    latency, slowest = 0.0, 0.0
    times: dict[str, float] = {}
    block_rows = profile.opt("pipeline.block_rows", "count", 0.0)
    for name, segments in stages.items():
        rows = max(s.rows for s in segments)
        t = 0.0
        for s in segments:
            part = s.time
            if profile.pipeline == "submatrix" and s.attention and block_rows and rows:
                blocks = max(1, math.ceil(rows / block_rows))
                part = s.longest + (s.time - s.longest) / blocks
            t += part + max(0.0, s.hideable - s.static_time)
        latency += t
        slowest = max(slowest, t)
        times[name] = t
    period = latency if profile.pipeline == "none" else slowest
    return latency, period, times
