"""Roofline pricing of a processor: the reference CPU and the papers' baseline GPUs/boards.

An op takes max(FLOPs / peak, bytes / bandwidth) plus a per-call overhead (kernel launch or
dispatch), where a product's peak is derated by ``processor.compute_efficiency`` if given,
and costs FLOPs x energy_per_flop + bytes x 8 x energy_per_bit + time x static_power, all
read from the profile's ``processor`` block. Every number is pinned in the
profile with its source: nothing is measured on the machine seqbench runs on, so a priced
row is the same everywhere (the host's own speed is reported in the record's host columns).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqbench.accel.mappings import Context, Mapping, OpCost, register
from seqbench.accel.mappings.vector import CATEGORY, vector_ops
from seqbench.ops import OpClass

if TYPE_CHECKING:
    from seqbench.accel.view import ProfileView
    from seqbench.trace import OpRecord

FIELDS = {
    "peak_flops": "compute_rate",
    "mem_bandwidth": "bandwidth",
    "energy_per_flop": "energy_per_op",
    "energy_per_bit": "energy_per_bit",
    "static_power": "power",
    "call_overhead": "time",
    "bytes_per_element": "bytes",
}
PRODUCTS = (
    OpClass.MATMUL_STATIC,
    OpClass.MATMUL_DYNAMIC,
    OpClass.CONV,
    OpClass.RECURRENT_STEP,
    OpClass.SIMILARITY_SEARCH,
)


BLOCK = "processor"


class Roofline(Mapping):
    name = "roofline"

    def requires(self, profile: ProfileView) -> dict[str, str]:
        return {f"{BLOCK}.{k}": dim for k, dim in FIELDS.items()}

    def cost(self, op: OpRecord, profile: ProfileView, ctx: Context) -> OpCost:
        m = BLOCK
        elem = profile.get(f"{m}.bytes_per_element", "bytes")
        if op.op_class in PRODUCTS:
            flops = 2.0 * op.macs
            category = {
                OpClass.MATMUL_DYNAMIC: "matmul_dynamic",
                OpClass.SIMILARITY_SEARCH: "search",
            }.get(op.op_class, "matmul_static")
        else:
            flops = float(vector_ops(op))
            category = CATEGORY.get(op.op_class, "elementwise")
        moved = (op.elems_in + op.elems_weight + op.elems_out) * elem
        # a product reaches only compute_efficiency of the peak (1 when the profile says none)
        rate = profile.get(f"{m}.peak_flops", "compute_rate")
        if op.op_class in PRODUCTS:
            rate *= profile.opt(f"{m}.compute_efficiency", "fraction", 1.0)
        t_compute = flops / rate
        t_memory = moved / profile.get(f"{m}.mem_bandwidth", "bandwidth")
        t = max(t_compute, t_memory) + profile.get(f"{m}.call_overhead", "time")
        cost = OpCost(effective_macs=op.macs)
        e_static = t * profile.get(f"{m}.static_power", "power")
        cost.add(
            category, t, flops * profile.get(f"{m}.energy_per_flop", "energy_per_op") + e_static
        )
        cost.add(
            "data_movement", 0.0, moved * 8 * profile.get(f"{m}.energy_per_bit", "energy_per_bit")
        )
        cost.count("flops", flops)
        cost.count("memory_bound_calls", 1.0 if t_memory > t_compute else 0.0)
        return cost


register(Roofline())
