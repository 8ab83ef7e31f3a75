"""The fixed hardware a profile declares, and a trace mapped onto that budget.

A profile's ``chip`` block says how big the chip is: ``tiles`` x ``arrays_per_tile`` crossbar
arrays (each ``crossbar.rows`` x ``crossbar.cols`` with ``adc.per_array`` ADCs and
``chip.dacs_per_array`` DACs), the tile buffer, the clock and the ``peak_power``. The mappings
price every op as if its arrays existed; the planner then places the trace on the chip:

* weights that fit stay resident; the arrays left over hold extra copies of the slowest
  weight-stationary products (replication splits their input vectors between copies, never
  more copies than vectors), bottleneck first, only as far as free arrays allow;
* weights that do not fit are time-multiplexed: the layers are packed, in order, into
  ``rounds`` that each fit the chip; every weight array is rewritten each batch
  (``crossbar.write_latency`` and ``crossbar.row_write_energy`` per array line, arrays
  written in parallel); the arrays a round leaves over hold copies of that round's ops and
  are written with them. Within a round the layer pipeline streams the batch's samples
  through the round's layers (PipeLayer's pipeline runs over the images of a batch); no
  pipeline spans the rounds (:func:`round_schedule`). Weights that fit are time-multiplexed
  too when that schedule is faster (a chip whose arrays are mostly held by rarely used
  weights, e.g. AlexNet's FC layers, replicates its convolutions better in rounds). Which
  plan is faster is the cost model's call (:func:`seqbench.accel.cost.simulate` composes
  both whole, written operands and host ops included): the crossbar time alone misses
  the operand writes a plan puts on its critical path;
* the chip cannot draw more than ``peak_power``: a period that would need more is stretched
  (and a reload that would is slowed) until it does not. A crossbar chip without a
  ``chip.peak_power`` is bounded by the sum of its components at their rated rates
  (:func:`seqbench.accel.chip_power.component_sum`).

Written operands (K^T/V for PipeLayer, X for ReTransformer) and the per-head weights of the
decomposition occupy arrays too but are not replicated. Profiles without a ``chip`` block
(the roofline baselines) are not placed; a chip with ``peak_power`` only is capped only.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

from seqbench.accel import chip_power
from seqbench.accel.view import ProfileView


@dataclass(frozen=True)
class Chip:
    """A profile's chip: array budget (None: no arrays, e.g. digital CIM) and peak power (W)."""

    arrays: int | None
    peak_power: float | None
    array_rows: int = 0
    write_latency: float = 0.0  # s per array line
    line_write_energy: float = 0.0  # J per array line
    line_bits: float = 0.0  # weight bits one array line holds (cols x bits per cell)

    @classmethod
    def from_profile(cls, p: ProfileView) -> Chip | None:
        if not any(path.startswith("chip.") for path in p.params):
            return None
        arrays = None
        if p.has("chip.tiles") and p.has("chip.arrays_per_tile"):
            arrays = int(p.get("chip.tiles", "count") * p.get("chip.arrays_per_tile", "count"))
        peak = p.get("chip.peak_power", "power") if p.has("chip.peak_power") else None
        if peak is None and chip_power.is_crossbar_chip(p):
            peak = chip_power.component_sum(p)
        return cls(
            arrays=arrays,
            peak_power=peak,
            array_rows=int(p.opt("crossbar.rows", "count", 0)),
            line_bits=p.opt("crossbar.cols", "count", 0.0)
            * p.opt("crossbar.bits_per_cell", "bits", 0.0),
            write_latency=p.opt("crossbar.write_latency", "time", 0.0),
            line_write_energy=p.opt("crossbar.row_write_energy", "energy", 0.0),
        )


@dataclass
class Placement:
    """One weight-stationary op of the trace as the planner sees it."""

    name: str
    arrays: float  # arrays one copy of its weight occupies
    time: float  # s of crossbar time for all its calls in the trace (one copy)
    vectors: float  # input vectors per call: the most copies that can share the work
    stage: str = ""  # the pipeline stage (layer) it belongs to


@dataclass
class Plan:
    """Where the trace landed: per-op replication, reload cost, utilisation, power cap."""

    arrays_total: int | None
    arrays_needed: float = 0.0
    arrays_used: float = 0.0
    fits: bool = True
    rounds: int = 1
    replication: dict[str, int] = field(default_factory=dict)
    reload_time_s: float = 0.0  # per batch (the trace's samples)
    reload_energy_J: float = 0.0
    reload_bits: float = 0.0  # weight bits loaded onto the chip per batch
    peak_power_W: float | None = None
    power_capped: bool = False
    # time-multiplexed schedule: (stages of a round, rounds it takes), in order
    round_stages: list[tuple[list[str], int]] = field(default_factory=list)

    @property
    def utilisation(self) -> float | None:
        """Fraction of the chip's arrays in use (never above 1)."""
        if not self.arrays_total:
            return None
        return min(1.0, self.arrays_used / self.arrays_total)

    def to_dict(self) -> dict[str, Any]:
        reps = list(self.replication.values()) or [1]
        return {
            "arrays_total": self.arrays_total,
            "arrays_needed": self.arrays_needed,
            "arrays_used": self.arrays_used,
            "utilisation": self.utilisation,
            "weights_fit": self.fits,
            "reload_rounds": self.rounds,
            "replication_max": max(reps),
            "replication_mean": sum(reps) / len(reps),
            "reload_time_s_per_batch": self.reload_time_s,
            "reload_energy_J_per_batch": self.reload_energy_J,
            "peak_power_W": self.peak_power_W,
            "power_capped": self.power_capped,
        }


def resident_plan(
    chip: Chip, placements: list[Placement], pinned_arrays: float, operand_arrays: float
) -> Plan | None:
    """Every weight held on ``chip``, copies of the slowest ops in the arrays left free; None
    when the weights and written operands do not fit."""
    weights = sum(p.arrays for p in placements) + pinned_arrays
    needed = weights + operand_arrays
    result = Plan(arrays_total=chip.arrays, arrays_needed=needed, peak_power_W=chip.peak_power)
    result.replication = {p.name: 1 for p in placements}
    if chip.arrays is None:
        return result
    if needed > chip.arrays:
        return None
    result.arrays_used = needed + _replicate(placements, chip.arrays - needed, result)
    return result


def rounds_lower_bound(
    chip: Chip, placements: list[Placement], operand_arrays: float, stages_floor: float = 0.0
) -> float:
    """Seconds per batch no schedule in rounds beats: all the crossbar work spread over every
    array the written operands leave (a round's time is at least its array-seconds over the
    arrays it may use, copies or not), or ``stages_floor``, the least time the stages can
    take whatever their copies, if longer; plus one reload."""
    room = max(1.0, (chip.arrays or 0) - operand_arrays)
    work = sum(p.time * p.arrays for p in placements) / room
    return max(work, stages_floor) + chip.array_rows * chip.write_latency


def rounds_plan(
    chip: Chip,
    placements: list[Placement],
    pinned_arrays: float,
    operand_arrays: float,
    pinned_by_stage: dict[str, float] | None = None,
) -> Plan:
    """The time-multiplexed plan: consecutive stages grouped into rounds that fit the arrays
    the written operands leave, each round's spare arrays holding copies of its own ops; of
    the ways to cut the layers into rounds, the one with the least crossbar time per batch
    (each round's slowest op after replication, plus its reload). A stage larger than the
    arrays takes ceil(arrays / room) rounds alone."""
    weights = sum(p.arrays for p in placements) + pinned_arrays
    room = max(1.0, (chip.arrays or 0) - operand_arrays)
    held: dict[str, float] = dict.fromkeys([p.stage for p in placements], 0.0)
    for p in placements:
        held[p.stage] += p.arrays
    for stage, arrays in (pinned_by_stage or {}).items():
        held[stage] = held.get(stage, 0.0) + arrays
    order = list(held)
    reload_round = chip.array_rows * chip.write_latency

    def round_of(i: int, j: int) -> tuple[float, int]:
        """Stages order[i:j] as one round: (its time with copies, rounds it takes)."""
        stages = set(order[i:j])
        arrays = sum(held[s] for s in stages)
        ops = [p for p in placements if p.stage in stages]
        trial = Plan(arrays_total=chip.arrays)
        trial.replication = {p.name: 1 for p in ops}
        parts = max(1, math.ceil(arrays / room))
        # a trial: the level to 0.1% (the chosen rounds are replicated exactly below)
        if parts == 1:
            _replicate(ops, room - arrays, trial, 1e-3)
        slowest = max((p.time / trial.replication[p.name] for p in ops), default=0.0)
        return (slowest + reload_round) * parts, parts

    # best[j]: the least time for order[:j] and the last round's first stage (rounds hold
    # consecutive stages: a round's layers feed each other through the pipeline)
    best: list[tuple[float, int, tuple[float, int] | None]]
    best = [(0.0, 0, None)]
    for j in range(1, len(order) + 1):
        options = []
        for i in range(j - 1, -1, -1):
            if i < j - 1 and sum(held[s] for s in order[i:j]) > room:
                break  # several stages share a round only when together they fit
            option = round_of(i, j)
            options.append((best[i][0] + option[0], i, option))
        best.append(min(options, key=lambda o: o[0]))
    result = Plan(
        arrays_total=chip.arrays,
        arrays_needed=weights + operand_arrays,
        fits=False,
        peak_power_W=chip.peak_power,
    )
    result.replication = {p.name: 1 for p in placements}
    copies, j, cuts = 0.0, len(order), []
    while j > 0:
        _, i, option = best[j]
        assert option is not None
        parts = option[1]
        if parts == 1:
            stages = set(order[i:j])
            ops = [p for p in placements if p.stage in stages]
            copies += _replicate(ops, room - sum(held[s] for s in stages), result)
        cuts.append((order[i:j], parts))
        j = i
    result.round_stages = cuts[::-1]
    result.rounds = max(1, sum(parts for _, parts in result.round_stages))
    result.arrays_used = float(chip.arrays or 0)
    lines = (weights + copies) * chip.array_rows
    result.reload_energy_J = lines * chip.line_write_energy
    result.reload_bits = lines * chip.line_bits
    # arrays of one round are written in parallel, one line after another
    result.reload_time_s = result.rounds * reload_round
    if chip.peak_power:
        result.reload_time_s = max(result.reload_time_s, result.reload_energy_J / chip.peak_power)
    return result


def _replicate(
    placements: list[Placement], free: float, result: Plan, tolerance: float = 1e-9
) -> float:
    """Copy the slowest ops into ``free`` arrays so that the slowest time is as low as the
    arrays allow (copies split an op's input vectors, never more copies than vectors); arrays
    spent. The level is found by bisection on the target time, then the arrays left over go,
    one copy at a time, to the currently slowest op that still fits."""
    ops = [p for p in placements if p.time > 0 and p.arrays > 0]
    if not ops:
        return 0.0

    shape = [(p.time, max(1, math.floor(p.vectors)), p.arrays) for p in ops]
    ceil = math.ceil

    def copies_at(level: float) -> list[int]:
        return [min(cap, max(1, ceil(t / level))) for t, cap, _ in shape]

    def spent_at(copies: list[int]) -> float:
        return sum((c - 1) * a for c, (_, _, a) in zip(copies, shape, strict=True))

    high = max(p.time for p in ops)  # one copy each: nothing spent
    low = min(p.time / max(1.0, math.floor(p.vectors)) for p in ops)
    if spent_at(copies_at(low)) <= free:
        high = low
    for _ in range(100):
        if high / low < 1 + tolerance:
            break
        mid = math.sqrt(low * high)
        if spent_at(copies_at(mid)) <= free:
            high = mid
        else:
            low = mid
    copies = copies_at(high)
    spent = spent_at(copies)
    heap = [(-p.time / c, i) for i, (c, p) in enumerate(zip(copies, ops, strict=True))]
    heapq.heapify(heap)
    while heap:
        _, i = heapq.heappop(heap)
        p = ops[i]
        if p.arrays > free - spent or copies[i] >= p.vectors:
            continue  # this op cannot grow; a cheaper one may still
        copies[i] += 1
        spent += p.arrays
        heapq.heappush(heap, (-p.time / copies[i], i))
    for c, p in zip(copies, ops, strict=True):
        result.replication[p.name] = c
    return spent


def cap_period(period: float, chip_energy: float, peak_power: float | None) -> tuple[float, bool]:
    """(period, capped): the period stretched so that chip energy / period <= peak power."""
    if not peak_power or period <= 0:
        return period, False
    floor = chip_energy / peak_power
    if floor > period * (1 + 1e-12):
        return floor, True
    return period, False


def round_schedule(
    round_stages: list[tuple[list[str], int]], stage_times: dict[str, float], samples: int
) -> float:
    """Seconds for a batch of ``samples`` whose layers run in the rounds of a time-multiplexed
    plan (``stage_times``: s of each stage for the whole batch). Within a round the batch
    streams through the round's layers pipelined: the slowest layer's time plus, as the
    pipeline fills, one sample's time through each other layer; the rounds run in turn. A
    stage too large for one round runs its parts one after another. Stages no round holds
    (no weights: vector ops of their own) run on their own, in turn."""
    total = 0.0
    placed: set[str] = set()
    for stages, parts in round_stages:
        times = [stage_times.get(s, 0.0) for s in stages]
        slowest = max(times, default=0.0)
        total += (slowest + (sum(times) - slowest) / max(1, samples)) * parts
        placed.update(stages)
    return total + sum(t for s, t in stage_times.items() if s not in placed)
