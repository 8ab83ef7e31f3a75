"""A digital vector unit for the non-product ops (softmax, layer norm, pointwise, lookups).

Work is counted in elementary operations per element (an algorithmic count, not a hardware
parameter): softmax = max, subtract, exp, sum, divide; layer norm = mean, subtract, square,
sum, rsqrt-scale, multiply, add. The unit executes ``lanes`` operations per ``clock`` cycle
at ``energy_per_op`` each; operands move through the buffer at ``buffer.energy`` per bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqbench.accel.mappings import Context, Mapping, OpCost, register
from seqbench.ops import OpClass

if TYPE_CHECKING:
    from seqbench.accel.view import ProfileView
    from seqbench.trace import OpRecord

OPS_PER_ELEMENT = {OpClass.SOFTMAX: 5, OpClass.LAYERNORM: 7, OpClass.EMBEDDING: 0}
ELEMENTWISE_OPS = {"relu": 1, "add": 1, "sub": 1, "mul": 1, "sigmoid": 4, "tanh": 5, "gelu": 8}
CATEGORY = {
    OpClass.SOFTMAX: "softmax",
    OpClass.LAYERNORM: "normalization",
    OpClass.ELEMENTWISE: "elementwise",
    OpClass.EMBEDDING: "data_movement",
}


def vector_ops(op: OpRecord) -> float:
    """Elementary operations of one call of a non-product op."""
    if op.op_class == OpClass.ELEMENTWISE:
        return ELEMENTWISE_OPS.get(str(op.meta.get("kind")), 1) * op.elems_out
    return OPS_PER_ELEMENT.get(op.op_class, 1) * op.elems_out


class Vector(Mapping):
    name = "vector"

    def requires(self, profile: ProfileView) -> dict[str, str]:
        return {
            "vector.energy_per_op": "energy_per_op",
            "vector.lanes": "count",
            "vector.clock": "frequency",
            "buffer.energy": "energy_per_bit",
            "precision.activation_bits": "bits",
        }

    def cost(self, op: OpRecord, profile: ProfileView, ctx: Context) -> OpCost:
        n_ops = vector_ops(op)
        lanes = profile.get("vector.lanes", "count")
        clock = profile.get("vector.clock", "frequency")
        bits = profile.get("precision.activation_bits", "bits")
        moved_bits = (op.elems_in + op.elems_out + op.elems_weight) * bits
        cost = OpCost()
        category = CATEGORY.get(op.op_class, "elementwise")
        cost.add(
            category,
            n_ops / (lanes * clock),
            n_ops * profile.get("vector.energy_per_op", "energy_per_op"),
        )
        buffer_time = 0.0 if n_ops else moved_bits / (lanes * bits * clock)
        cost.add(
            "data_movement",
            buffer_time,
            moved_bits * profile.get("buffer.energy", "energy_per_bit"),
        )
        cost.count("vector_ops", n_ops)
        return cost


register(Vector())
