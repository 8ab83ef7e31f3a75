"""Digital computing-in-memory with attention, token and bit sparsity (MulTCIM).

A bit-serial digital CIM macro spends ``cim.energy_per_bit_mac`` per (1-bit input x W-bit
weight) MAC step and completes ``cim.macs_per_cycle`` such steps per ``cim.clock`` cycle.
Three measured sparsities cut the work, each reported separately under ``mechanisms``, and
each credited exactly where the functional effects (``sparse_attention``, ``token_pruning``)
change what the model computes:

* attention: S.V skips the V rows of probabilities under ``attention_threshold`` (the
  trace's measured fraction at that threshold). Q.K^T gets no credit: knowing which scores
  will be small before computing them needs a predictor, which the design does not have;
* token: keys a cumulative-attention rule (share ``token_theta``) prunes are zeroed in that
  attention's probabilities, so S.V skips their V rows (and V is not written for them). The
  tokens still pass through Q.K^T and every static product, as they do in the function;
  MulTCIM's pruner also removes tokens from later layers, which would need a model-level
  pruner in the function and is not credited;
* bit: zero most-significant bits of the (sign-magnitude) inputs are skipped; energy follows
  the mean effective bitwidth; time follows the per-group maximum (a bit-serial group waits
  for its longest input) unless effective-bitwidth balancing (``ebb``) evens the groups.

A mechanism's saving is the energy it removes with the other two on (so the three savings
need not add up to the total saving, which is reported as ``all``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seqbench.accel.mappings import Context, Mapping, OpCost, register
from seqbench.ops import OpClass

if TYPE_CHECKING:
    from seqbench.accel.view import ProfileView
    from seqbench.trace import OpRecord

MECHANISMS = ("attention", "token", "bit")


def _stat(stats: dict[str, Any], key: str, level: float) -> float:
    """The measured fraction at ``level`` (nearest recorded level), 0 when unmeasured."""
    table = stats.get(key) or {}
    if not table:
        return 0.0
    nearest = min(table, key=lambda k: abs(float(k) - level))
    return float(table[nearest])


def sparsity_factors(
    stats: dict[str, Any], settings: dict[str, Any], kind: str
) -> dict[str, float]:
    """Keep ratios (attention, token) and bit fractions (energy, time) from the trace stats."""
    width = int(stats.get("bit_width", 8)) - 1  # magnitude bits of the measured operands
    bits = (stats.get("bit_sparsity") or {}).get(kind) or {}
    mean_eff = float(bits.get("mean_eff_bits", width))
    group_max = float(bits.get("mean_group_max_bits", mean_eff))
    return {
        "attention_keep": 1.0
        - _stat(stats, "attention_sparsity", float(settings.get("attention_threshold", 0.01))),
        "token_keep": 1.0
        - _stat(stats, "token_sparsity", float(settings.get("token_theta", 0.95))),
        "bit_energy": mean_eff / width if width else 1.0,
        "bit_time": (mean_eff if settings.get("ebb", True) else group_max) / width
        if width
        else 1.0,
    }


class DigitalCIM(Mapping):
    name = "digital_cim"

    def requires(self, profile: ProfileView) -> dict[str, str]:
        return {
            "cim.energy_per_bit_mac": "energy_per_op",
            "cim.macs_per_cycle": "count",
            "cim.clock": "frequency",
            "cim.write_energy": "energy_per_bit",
            "buffer.energy": "energy_per_bit",
            "precision.input_bits": "bits",
            "precision.weight_bits": "bits",
            "precision.activation_bits": "bits",
        }

    def cost(self, op: OpRecord, profile: ProfileView, ctx: Context) -> OpCost:
        dynamic = op.op_class == OpClass.MATMUL_DYNAMIC
        enabled = set(profile.setting("mechanisms", MECHANISMS))
        f = sparsity_factors(
            ctx.stats, profile.settings, "dynamic_input" if dynamic else "static_input"
        )
        e_bit = profile.get("cim.energy_per_bit_mac", "energy_per_op")
        in_bits = profile.get("precision.input_bits", "bits")
        w_bits = profile.get("precision.weight_bits", "bits")
        act_bits = profile.get("precision.activation_bits", "bits")
        g, m, k, n = (op.dims[x] for x in "gmkn")

        def work(on: set[str]) -> tuple[float, float, float, float]:
            """(effective MACs, energy J, time bits per MAC, written bits) with ``on``."""
            keep = 1.0
            if op.role == "sv":  # zero probabilities (thresholded, pruned keys) skip V rows
                keep *= f["token_keep"] if "token" in on else 1.0
                keep *= f["attention_keep"] if "attention" in on else 1.0
            macs = op.macs * keep
            e_frac, t_frac = (f["bit_energy"], f["bit_time"]) if "bit" in on else (1.0, 1.0)
            energy_bits = 1 + (in_bits - 1) * e_frac  # sign bit + effective magnitude bits
            time_bits = 1 + (in_bits - 1) * t_frac
            written = g * k * n * w_bits * keep if dynamic else 0.0  # K^T / V into the macro
            return macs, macs * energy_bits * e_bit, time_bits, written

        macs, compute_e, time_bits, written = work(enabled)
        cost = OpCost(effective_macs=macs)
        rate = profile.get("cim.macs_per_cycle", "count") * profile.get("cim.clock", "frequency")
        category = "matmul_dynamic" if dynamic else "matmul_static"
        cost.add(category, macs * time_bits / rate, compute_e)
        if written:
            cost.add("writes", 0.0, written * profile.get("cim.write_energy", "energy_per_bit"))
        keep = macs / op.macs if op.macs else 1.0
        moved = (op.elems_in + op.elems_out) * act_bits * keep
        cost.add("data_movement", 0.0, moved * profile.get("buffer.energy", "energy_per_bit"))
        for mechanism in MECHANISMS:
            if mechanism in enabled:
                cost.mechanisms[mechanism] = work(enabled - {mechanism})[1] - compute_e
        cost.mechanisms["all"] = work(set())[1] - compute_e
        cost.count("bit_serial_steps", macs * time_bits)
        return cost


register(DigitalCIM())
