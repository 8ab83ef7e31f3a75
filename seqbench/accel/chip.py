"""The fixed hardware a profile declares, and a trace mapped onto that budget.

A profile's ``chip`` block says how big the chip is: ``tiles`` x ``arrays_per_tile`` crossbar
arrays (each ``crossbar.rows`` x ``crossbar.cols`` with ``adc.per_array`` ADCs and
``chip.dacs_per_array`` DACs), the tile buffer, the clock and the ``peak_power``. The mappings
price every op as if its arrays existed; :func:`plan` then places the trace on the chip:

* weights that fit stay resident; the arrays left over hold extra copies of the slowest
  weight-stationary products (replication splits their input vectors between copies, never
  more copies than vectors), bottleneck first, only as far as free arrays allow;
* weights that do not fit are time-multiplexed: the chip is loaded ``rounds`` times per
  batch, every weight array is rewritten each batch (``crossbar.write_latency`` and
  ``crossbar.row_write_energy`` per array line, arrays written in parallel), and no layer
  pipeline spans the rounds; the arrays each round leaves over hold copies of its ops
  (pooled over the rounds, to first order) and are written with them;
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


def plan(
    chip: Chip, placements: list[Placement], pinned_arrays: float, operand_arrays: float
) -> Plan:
    """Place ``placements`` (replicable weights) plus fixed arrays on ``chip``."""
    weights = sum(p.arrays for p in placements) + pinned_arrays
    needed = weights + operand_arrays
    result = Plan(arrays_total=chip.arrays, arrays_needed=needed, peak_power_W=chip.peak_power)
    result.replication = {p.name: 1 for p in placements}
    if chip.arrays is None:
        return result
    if needed <= chip.arrays:
        result.arrays_used = needed + _replicate(placements, chip.arrays - needed, result)
        return result
    # time-multiplexed: the operand arrays stay, the rest of the chip is reloaded per round
    room = max(1.0, chip.arrays - operand_arrays)
    result.fits = False
    result.rounds = math.ceil(weights / room)
    result.arrays_used = float(chip.arrays)
    # each round's leftover arrays hold copies of that round's ops (pooled over the rounds:
    # first order), written with the round
    copies = _replicate(placements, result.rounds * room - weights, result)
    lines = (weights + copies) * chip.array_rows
    result.reload_energy_J = lines * chip.line_write_energy
    result.reload_bits = lines * chip.line_bits
    # arrays of one round are written in parallel, one line after another
    result.reload_time_s = result.rounds * chip.array_rows * chip.write_latency
    if chip.peak_power:
        result.reload_time_s = max(result.reload_time_s, result.reload_energy_J / chip.peak_power)
    return result


def _replicate(placements: list[Placement], free: float, result: Plan) -> float:
    """Copy the slowest ops into ``free`` arrays so that the slowest time is as low as the
    arrays allow (copies split an op's input vectors, never more copies than vectors); arrays
    spent. The level is found by bisection on the target time, then the arrays left over go,
    one copy at a time, to the currently slowest op that still fits."""
    ops = [p for p in placements if p.time > 0 and p.arrays > 0]
    if not ops:
        return 0.0

    def copies_at(level: float) -> list[int]:
        return [max(1, min(math.floor(p.vectors), math.ceil(p.time / level))) for p in ops]

    def spent_at(copies: list[int]) -> float:
        return sum((c - 1) * p.arrays for c, p in zip(copies, ops, strict=True))

    high = max(p.time for p in ops)  # one copy each: nothing spent
    low = min(p.time / max(1.0, math.floor(p.vectors)) for p in ops)
    if spent_at(copies_at(low)) <= free:
        high = low
    for _ in range(100):
        if high / low < 1 + 1e-9:
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
