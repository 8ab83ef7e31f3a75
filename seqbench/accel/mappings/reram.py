"""ReRAM crossbar mappings (ISAAC-style arrays as used by PipeLayer and ReTransformer).

A weight matrix k x n is bit-sliced over cells of ``bits_per_cell`` bits (``offset``
encoding: ceil(W/c) columns per weight; ``differential``: 2*ceil((W-1)/c)) and tiled onto
arrays of ``rows`` x ``cols``. Each input vector streams its ``input_bits`` through
``dac.bits``-bit DACs; every input slice activates every array once and converts every used
column once (one ADC conversion per column per input slice), followed by a shift-and-add.
An array activation lasts max(read latency, columns per ADC / ADC sample rate). ADC energy
and conversion time are rated at ``adc.rated_bits``; conversion time scales linearly with
``adc.bits`` (a SAR ADC decides one bit per step), energy by :func:`adc_energy_scale`
(Accelergy's ISAAC ADC table, which grows much faster than linearly).

Kinds:

* ``crossbar``: weight-stationary products (static matmuls, RNN steps, convolutions).
* ``crossbar_write_compute``: activation x activation products the PipeLayer way: the
  second operand (K^T, V) is first written into arrays (row by row, on the critical path),
  then used as weights.
* ``crossbar_decomposed``: ReTransformer's decomposition: Q.K^T = (Q.W_K^T).X^T and
  S.V = (S.X).W_V, so arrays hold the static W_K^T, W_V and the layer input X, written once
  per attention (one copy serves both products with ``decomposition.x_copies: 1``) while
  Q = X.W_Q is computed (hideable). Each head's weight product runs on its own arrays; the
  product on X shares ``decomposition.x_head_copies`` copies of X between the heads (one
  copy: they queue). With ``pipeline.block_rows`` the two chained products of a head overlap
  block by block (the sub-matrix pipeline). The per-head products now reduce over d_model
  instead of d_head: h times the MACs of the plain products; the K/V projections disappear.

A pipeline that is fed ``pipeline.heads_per_step`` heads' d_k-length segments per step
(ReTransformer's sub-matrix pipeline: one, Sec. 4.4) runs at most that many heads at once on
either path, whatever arrays they have; without it the heads run side by side (PipeLayer).
* ``reram_softmax``: ReTransformer's hybrid softmax: in-array max search (bit-serial,
  ``softmax.search_*`` per bit) plus a lookup table for the exponentials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seqbench.accel.mappings import Context, Mapping, OpCost, register
from seqbench.ops import OpClass

if TYPE_CHECKING:
    from seqbench.accel.view import ProfileView
    from seqbench.trace import OpRecord

CROSSBAR_PARAMS = {
    "crossbar.rows": "count",
    "crossbar.cols": "count",
    "crossbar.bits_per_cell": "bits",
    "crossbar.read_latency": "time",
    "crossbar.read_energy": "energy",
    "adc.bits": "bits",
    "adc.rated_bits": "bits",
    "adc.energy": "energy",
    "adc.sample_rate": "frequency",
    "adc.per_array": "count",
    "dac.bits": "bits",
    "dac.energy": "energy",
    "shift_add.energy": "energy",
    "buffer.energy": "energy_per_bit",
    "precision.weight_bits": "bits",
    "precision.input_bits": "bits",
    "precision.output_bits": "bits",
}
# Chip overheads as components (Accelergy's vocabulary), each charged per action when the
# profile prices it: bits over the bus between the tile buffer and the arrays, bits through
# the router into or out of a tile, and bit accesses of the arrays' input / output registers.
OVERHEAD_PARAMS = {
    "bus.energy": "energy_per_bit",
    "router.energy": "energy_per_bit",
    "registers.input_energy": "energy_per_bit",
    "registers.output_energy": "energy_per_bit",
}
# One write step programs one array line (a row of K^T / V / X, all its cells at once):
# latency and energy are per line written (PipeLayer HPCA'17 gives both per write "spike",
# NVSim; ReFloat's simulator by the same first author charges 50.88 ns per row write).
WRITE_PARAMS = {"crossbar.write_latency": "time", "crossbar.row_write_energy": "energy"}


# Energy per conversion (pJ) of ISAAC's SAR ADC by resolution, 32 nm at 1.2 GS/s: the table
# of Accelergy's hwcomponents library (isaac.py, "scaled versions based on M. Saberi et al.,
# Analysis of power consumption and linearity in capacitive DACs used in SAR ADCs, 2011";
# 8 bits = ISAAC's 16 mW / (1.2 GS/s x 8 ADCs)). Only ratios are used.
ADC_ENERGY_PJ = {4: 0.79, 5: 0.99, 6: 1.20, 7: 1.42, 8: 1.67, 9: 1.969078145, 10: 2.379022742}


def _adc_table(bits: float) -> float:
    """The table at ``bits``, interpolated; beyond it x2 per bit (hwcomponents' pow_base(2))."""
    low, high = min(ADC_ENERGY_PJ), max(ADC_ENERGY_PJ)
    if bits > high:
        return ADC_ENERGY_PJ[high] * 2 ** (bits - high)
    if bits < low:
        return ADC_ENERGY_PJ[low] * 2 ** (bits - low)
    below = math.floor(bits)
    if below == bits:
        return ADC_ENERGY_PJ[below]
    frac = bits - below
    return ADC_ENERGY_PJ[below] * (1 - frac) + ADC_ENERGY_PJ[below + 1] * frac


def adc_energy_scale(bits: float, rated_bits: float) -> float:
    """Energy per conversion at ``bits`` relative to the rated resolution."""
    return _adc_table(bits) / _adc_table(rated_bits)


@dataclass(frozen=True)
class Crossbar:
    """Crossbar parameters in SI units (energies in J per action, times in s)."""

    rows: int
    cols: int
    cell_bits: int
    read_latency: float
    read_energy: float  # per array activation (one input slice)
    adc_bits: int
    adc_energy: float  # per conversion
    adc_rate: float  # conversions per second per ADC
    adcs_per_array: int
    dac_bits: int
    dac_energy: float  # per row driven per input slice
    shift_add_energy: float  # per shift-and-add
    buffer_energy: float  # per bit access of the tile buffer (a write or a read)
    weight_bits: int
    input_bits: int
    output_bits: int
    encoding: str = "offset"
    write_latency: float = 0.0  # per array line written
    row_write_energy: float = 0.0  # per array line written (all its cells)
    bus_energy: float = 0.0  # per bit between the tile buffer and the arrays
    router_energy: float = 0.0  # per bit into or out of a tile
    input_register_energy: float = 0.0  # per bit access (write or read)
    output_register_energy: float = 0.0  # per bit access (write or read)

    @classmethod
    def from_profile(cls, p: ProfileView) -> Crossbar:
        def i(path: str, dim: str) -> int:
            return int(round(p.get(path, dim)))

        # A SAR ADC decides one bit per step: conversion time scales with the bits; energy
        # follows the capacitive-DAC table (adc_energy_scale)
        # resolution relative to the rated point (adc.energy, adc.sample_rate at rated_bits).
        adc_scale = p.get("adc.bits", "bits") / p.get("adc.rated_bits", "bits")
        return cls(
            rows=i("crossbar.rows", "count"),
            cols=i("crossbar.cols", "count"),
            cell_bits=i("crossbar.bits_per_cell", "bits"),
            read_latency=p.get("crossbar.read_latency", "time"),
            read_energy=p.get("crossbar.read_energy", "energy"),
            adc_bits=i("adc.bits", "bits"),
            adc_energy=p.get("adc.energy", "energy")
            * adc_energy_scale(p.get("adc.bits", "bits"), p.get("adc.rated_bits", "bits")),
            adc_rate=p.get("adc.sample_rate", "frequency") / adc_scale,
            adcs_per_array=i("adc.per_array", "count"),
            dac_bits=i("dac.bits", "bits"),
            dac_energy=p.get("dac.energy", "energy"),
            shift_add_energy=p.get("shift_add.energy", "energy"),
            buffer_energy=p.get("buffer.energy", "energy_per_bit"),
            weight_bits=i("precision.weight_bits", "bits"),
            input_bits=i("precision.input_bits", "bits"),
            output_bits=i("precision.output_bits", "bits"),
            encoding=str(p.setting("weight_encoding", "offset")),
            write_latency=p.opt("crossbar.write_latency", "time", 0.0),
            row_write_energy=p.opt("crossbar.row_write_energy", "energy", 0.0),
            bus_energy=p.opt("bus.energy", "energy_per_bit", 0.0),
            router_energy=p.opt("router.energy", "energy_per_bit", 0.0),
            input_register_energy=p.opt("registers.input_energy", "energy_per_bit", 0.0),
            output_register_energy=p.opt("registers.output_energy", "energy_per_bit", 0.0),
        )

    def cycle(self, used_cols: int | None = None) -> float:
        """Seconds per input slice through an array with ``used_cols`` columns in use (all of
        them by default): its read, or its ADCs' conversions if they take longer."""
        cols = self.cols if used_cols is None else used_cols
        return max(self.read_latency, math.ceil(cols / self.adcs_per_array) / self.adc_rate)

    @property
    def cols_per_weight(self) -> int:
        if self.encoding == "differential":
            return 2 * math.ceil((self.weight_bits - 1) / self.cell_bits)
        return math.ceil(self.weight_bits / self.cell_bits)


@dataclass(frozen=True)
class XbarWork:
    """Counts, time (s) and energies (J) of m input vectors through a k x n weight.

    ``components`` is the energy (J) by component; ``compute_energy`` sums the arrays and
    their converters, ``buffer_energy`` the data movement around them (tile buffer, bus,
    router, registers)."""

    arrays: int
    adc_conversions: float
    dac_ops: float
    array_reads: float
    shift_adds: float
    buffer_bits: float
    time: float
    components: dict[str, float]

    @property
    def compute_energy(self) -> float:
        return sum(self.components[c] for c in COMPUTE_COMPONENTS)

    @property
    def buffer_energy(self) -> float:
        return sum(self.components[c] for c in MOVEMENT_COMPONENTS)


COMPUTE_COMPONENTS = ("adc", "dac", "arrays", "shift_add")
MOVEMENT_COMPONENTS = ("buffer", "bus", "router", "registers")


def crossbar_mvm(xb: Crossbar, m: float, k: int, n: int) -> XbarWork:
    """``m`` vectors of length ``k`` through a ``k`` x ``n`` weight held in arrays."""
    cpw = xb.cols_per_weight
    row_tiles = math.ceil(k / xb.rows)
    col_tiles = math.ceil(n * cpw / xb.cols)
    slices = math.ceil(xb.input_bits / xb.dac_bits)
    conversions = m * slices * row_tiles * n * cpw
    dac_ops = m * slices * k * col_tiles
    reads = m * slices * row_tiles * col_tiles
    shift_adds = conversions + m * n * (row_tiles - 1)
    used_cols = min(xb.cols, n * cpw)
    cycle = xb.cycle(used_cols)
    # Inputs arrive in the tile buffer once and are read once per column tile; each row
    # tile's partial sums pass the output registers, the summed outputs go back to the
    # buffer and on: every bit is written, then read (Accelergy's ISAAC eDRAM derivation
    # counts the same two accesses per bit).
    inputs_in = m * k * xb.input_bits
    inputs_to_arrays = inputs_in * col_tiles
    outputs = m * n * xb.output_bits
    partial_outputs = outputs * row_tiles
    buffer_bits = inputs_to_arrays + outputs
    components = {
        "adc": conversions * xb.adc_energy,
        "dac": dac_ops * xb.dac_energy,
        "arrays": reads * xb.read_energy,
        "shift_add": shift_adds * xb.shift_add_energy,
        "buffer": (inputs_in + buffer_bits + outputs) * xb.buffer_energy,
        "bus": buffer_bits * xb.bus_energy,
        "router": (inputs_in + outputs) * xb.router_energy,
        "registers": 2 * inputs_to_arrays * xb.input_register_energy
        + 2 * partial_outputs * xb.output_register_energy,
    }
    return XbarWork(
        arrays=row_tiles * col_tiles,
        adc_conversions=conversions,
        dac_ops=dac_ops,
        array_reads=reads,
        shift_adds=shift_adds,
        buffer_bits=buffer_bits,
        time=m * slices * cycle,  # copies on free arrays: seqbench.accel.chip
        components=components,
    )


def write_operand(
    xb: Crossbar, rows_written: int, row_len: int, copies: float = 1.0
) -> tuple[float, float, float]:
    """(time s, energy J, cells) to write a ``rows_written`` x ``row_len`` operand.

    Each operand row occupies ``row_len`` x cols-per-weight cells, i.e. that many array
    columns, so it spans ceil(cells / cols) array lines; every line is one write step
    (``crossbar.row_write_energy``). Arrays are written in parallel, so the time is one
    write latency per line of the tallest array.
    """
    cells_per_row = row_len * xb.cols_per_weight
    lines = rows_written * math.ceil(cells_per_row / xb.cols) * copies
    steps = min(rows_written, xb.rows)
    return (
        steps * xb.write_latency,
        lines * xb.row_write_energy,
        rows_written * cells_per_row * copies,
    )


def _charge(
    cost: OpCost,
    work: XbarWork,
    category: str,
    parallel: float = 1.0,
    scale: float = 1.0,
    timed: bool = True,
) -> None:
    """Energy and counters of ``work`` x ``scale``; its time too unless the caller composes it."""
    time = work.time * scale / parallel if timed else 0.0
    cost.add(category, time, work.compute_energy * scale)
    cost.add("data_movement", 0.0, work.buffer_energy * scale)
    cost.count("adc_conversions", work.adc_conversions * scale)
    cost.count("array_reads", work.array_reads * scale)
    cost.count("dac_ops", work.dac_ops * scale)
    for component, energy in work.components.items():
        cost.count(f"energy_J.{component}", energy * scale)


class CrossbarStatic(Mapping):
    name = "crossbar"

    def requires(self, profile: ProfileView) -> dict[str, str]:
        return dict(CROSSBAR_PARAMS)

    def cost(self, op: OpRecord, profile: ProfileView, ctx: Context) -> OpCost:
        xb = Crossbar.from_profile(profile)
        d = op.dims
        work = crossbar_mvm(xb, d["g"] * d["m"], d["k"], d["n"])
        cost = OpCost(effective_macs=op.macs)
        dynamic = op.op_class == OpClass.MATMUL_DYNAMIC
        category = "matmul_dynamic" if dynamic else "matmul_static"
        _charge(cost, work, category)
        cost.count("arrays", work.arrays)
        return cost


def _heads(op: OpRecord) -> int:
    return max(1, int(op.meta.get("heads", 1)))


def heads_at_once(profile: ProfileView, heads: int) -> float:
    """Heads whose products run at the same time: all of them side by side on their own
    arrays, unless the pipeline feeds fewer heads' segments per step."""
    return min(heads, max(1.0, profile.opt("pipeline.heads_per_step", "count", heads)))


class CrossbarWriteCompute(Mapping):
    """PipeLayer: write the second operand into arrays, then multiply (writes are critical)."""

    name = "crossbar_write_compute"

    def requires(self, profile: ProfileView) -> dict[str, str]:
        return {**CROSSBAR_PARAMS, **WRITE_PARAMS}

    def cost(self, op: OpRecord, profile: ProfileView, ctx: Context) -> OpCost:
        xb = Crossbar.from_profile(profile)
        g, m, k, n = (op.dims[x] for x in "gmkn")
        heads = _heads(op)
        cost = OpCost(effective_macs=op.macs)
        # Incremental decoding (m new queries against a longer cache) writes only the new
        # tokens: K^T gains m columns (k rows each touched), V gains m rows.
        incremental = m < (n if op.role == "qk" else k)
        if op.role == "sv":
            rows, row_len = (m if incremental else k), n
        else:
            rows, row_len = k, (m if incremental else n)
        w_time, w_energy, cells = write_operand(xb, rows, row_len)
        cost.add("writes", w_time * g / heads, w_energy * g)
        cost.count("cell_writes", cells * g)
        work = crossbar_mvm(xb, m, k, n)
        _charge(cost, work, "matmul_dynamic", parallel=heads_at_once(profile, heads), scale=g)
        cost.count("operand_arrays", work.arrays * heads)  # each head's operand, side by side
        return cost


class CrossbarDecomposed(Mapping):
    """ReTransformer: (Q.W_K^T).X^T and (S.X).W_V with X written once, off the critical path."""

    name = "crossbar_decomposed"

    def requires(self, profile: ProfileView) -> dict[str, str]:
        return {**CROSSBAR_PARAMS, **WRITE_PARAMS}

    def cost(self, op: OpRecord, profile: ProfileView, ctx: Context) -> OpCost:
        if op.role not in ("qk", "sv") or op.name.rsplit(".", 1)[0] not in ctx.decomposable:
            return CrossbarWriteCompute().cost(op, profile, ctx)
        xb = Crossbar.from_profile(profile)
        g, m, k, n = (op.dims[x] for x in "gmkn")
        heads = _heads(op)
        batches = g / heads
        cost = OpCost()
        if op.role == "qk":  # Q_h [m x d_h] . W_K,h^T [d_h x d] -> [m x d] . X^T [d x n]
            d_head, keys = k, n
            d_model = heads * d_head
            first = crossbar_mvm(xb, m, d_head, d_model)
            second = crossbar_mvm(xb, m, d_model, keys)
        else:  # S_h [m x keys] . X [keys x d] -> [m x d] . W_V,h [d x d_h]
            keys, d_head = k, n
            d_model = heads * d_head
            first = crossbar_mvm(xb, m, keys, d_model)
            second = crossbar_mvm(xb, m, d_model, d_head)
        # The per-head weight product (W_K,h^T or W_V,h) has its own arrays, so the heads the
        # pipeline feeds at once run it side by side; the product on X uses the attention's
        # copies of X, so its heads share them: x_head_copies copies serve min(heads, copies)
        # heads at once (one copy: the heads queue). x_copies counts copies per product (one
        # dual-access copy serves both products).
        weight_work, x_work = (first, second) if op.role == "qk" else (second, first)
        at_once = heads_at_once(profile, heads)
        copies = max(1.0, profile.opt("decomposition.x_head_copies", "count", 1))
        head_copies = min(heads, copies)
        t_weight = weight_work.time * g / at_once
        t_x = x_work.time * g / min(at_once, head_copies)
        # the sub-matrix pipeline streams one block of query rows from the first product into
        # the second, so the two chained products overlap block by block
        block_rows = profile.opt("pipeline.block_rows", "count", 0.0)
        blocks = max(1, math.ceil(m / block_rows)) if block_rows else 1
        chained = max(t_weight, t_x) + min(t_weight, t_x) / blocks
        cost.add("matmul_dynamic", chained)
        for work in (weight_work, x_work):
            _charge(cost, work, "matmul_dynamic", scale=g, timed=False)
        cost.count("pinned_arrays", weight_work.arrays * heads)
        x_copies = profile.opt("decomposition.x_copies", "count", 2)
        if op.role == "qk" or x_copies >= 2:  # one dual-access copy of X serves both products
            cost.count("operand_arrays", x_work.arrays * head_copies)
        cost.effective_macs = g * m * d_model * (k + n)  # both roles: m.k.d + m.d.n per head
        write_now = op.role == "qk" or x_copies >= 2
        if write_now:  # X (keys x d_model) once per attention per copy, written in parallel
            incremental = m < keys
            rows = m if incremental else keys
            w_time, w_energy, cells = write_operand(xb, rows, d_model, copies=head_copies)
            cost.add("writes", w_time * batches, w_energy * batches, hideable=True)
            cost.count("cell_writes", cells * batches)
        return cost


class ReramSoftmax(Mapping):
    """Hybrid softmax: bit-serial in-array max search, LUT exponentials, digital sum/divide."""

    name = "reram_softmax"

    def requires(self, profile: ProfileView) -> dict[str, str]:
        return {
            "softmax.search_energy": "energy",
            "softmax.search_latency": "time",
            "softmax.lut_energy": "energy",
            "softmax.lut_latency": "time",
            "vector.energy_per_op": "energy_per_op",
            "vector.lanes": "count",
            "vector.clock": "frequency",
            "precision.activation_bits": "bits",
        }

    def cost(self, op: OpRecord, profile: ProfileView, ctx: Context) -> OpCost:
        rows, cols = op.dims["rows"], op.dims["cols"]
        bits = profile.get("precision.activation_bits", "bits")
        lanes = profile.get("vector.lanes", "count")
        clock = profile.get("vector.clock", "frequency")
        e_op = profile.get("vector.energy_per_op", "energy_per_op")
        # max: all candidates of a row compared in parallel, one search step per bit (MSB first)
        search_t = rows * bits * profile.get("softmax.search_latency", "time")
        search_e = rows * cols * bits * profile.get("softmax.search_energy", "energy")
        lut_t = rows * cols * profile.get("softmax.lut_latency", "time") / lanes
        lut_e = rows * cols * profile.get("softmax.lut_energy", "energy")
        digital = 3 * rows * cols  # subtract max, accumulate, scale by the reciprocal
        cost = OpCost()
        cost.add(
            "softmax",
            search_t + lut_t + digital / (lanes * clock),
            search_e + lut_e + digital * e_op,
        )
        cost.count("lut_lookups", rows * cols)
        return cost


register(CrossbarStatic())
register(CrossbarWriteCompute())
register(CrossbarDecomposed())
register(ReramSoftmax())
