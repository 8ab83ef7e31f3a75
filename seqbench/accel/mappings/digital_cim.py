"""Digital computing-in-memory with attention, token and bit sparsity (MulTCIM).

A bit-serial digital CIM macro spends ``cim.energy_per_bit_mac`` per (1-bit input x W-bit
weight) MAC step and completes ``cim.macs_per_cycle`` such steps per ``cim.clock`` cycle.
Three measured sparsities cut the work, each reported separately under ``mechanisms``, and
each credited exactly where the functional effects (``sparse_attention``, ``token_pruning``)
change what the model computes:

* attention: S.V skips the products of probabilities under ``attention_threshold`` times
  their row's uniform share 1/n. Q.K^T gets no credit: knowing which scores will be small
  before computing them needs a predictor, which the design does not have;
* token: the runtime pruner keeps the keys holding ``token_theta`` of the attention; S.V
  skips the pruned keys' products, and in a layered self-attention stream the pruned tokens'
  keys and values are not produced or used in any later layer (their W_k and W_v rows, Q.K^T
  and S.V columns): exactly the products the ``token_pruning`` effect leaves unused, read per
  op from the trace (``OpRecord.keep``, measured with the same rules, :mod:`seqbench.sparsity`);
  an analytic workload without per-op records falls back to the trace's sparsity statistics
  on S.V alone;
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
from seqbench.sparsity import DEFAULT_ATTENTION_THRESHOLD, DEFAULT_TOKEN_THETA

if TYPE_CHECKING:
    from seqbench.accel.view import ProfileView
    from seqbench.trace import OpRecord

MECHANISMS = ("attention", "token", "bit")
# Statistics recorded before the attention rule became relative (accelerators/measured/*.yaml)
# counted probabilities under this absolute value.
LEGACY_ATTENTION_THRESHOLD = 0.01


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
    """Keep ratios (attention, token: the analytic fallback) and bit fractions (energy, time)
    from the trace stats."""
    width = int(stats.get("bit_width", 8)) - 1  # magnitude bits of the measured operands
    bits = (stats.get("bit_sparsity") or {}).get(kind) or {}
    mean_eff = float(bits.get("mean_eff_bits", width))
    group_max = float(bits.get("mean_group_max_bits", mean_eff))
    if stats.get("attention_rule") == "relative":
        level = float(settings.get("attention_threshold", DEFAULT_ATTENTION_THRESHOLD))
        attention = _stat(stats, "attention_sparsity", level)
    else:  # measured before the relative rule: the old absolute 0.01 until remeasured
        attention = _stat(stats, "attention_sparsity", LEGACY_ATTENTION_THRESHOLD)
    return {
        "attention_keep": 1.0 - attention,
        "token_keep": 1.0
        - _stat(stats, "token_sparsity", float(settings.get("token_theta", DEFAULT_TOKEN_THETA))),
        "bit_energy": mean_eff / width if width else 1.0,
        "bit_time": (mean_eff if settings.get("ebb", True) else group_max) / width
        if width
        else 1.0,
    }


def op_keep(op: OpRecord, settings: dict[str, Any], on: set[str]) -> float | None:
    """Share of ``op``'s products left with mechanisms ``on`` (from the trace's per-op record
    at the nearest measured rule), or None when the trace has no per-op record for it."""
    if not op.keep:
        return None
    theta = float(settings.get("token_theta", DEFAULT_TOKEN_THETA)) if "token" in on else 1.0
    alpha = (
        float(settings.get("attention_threshold", DEFAULT_ATTENTION_THRESHOLD))
        if "attention" in on
        else 0.0
    )
    rules = [tuple(float(v) for v in rule.split("|")) for rule in op.keep]
    nearest = min(rules, key=lambda r: (abs(r[0] - theta), abs(r[1] - alpha)))
    return float(op.keep[f"{nearest[0]:g}|{nearest[1]:g}"])


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
            keep = op_keep(op, profile.settings, on)
            written_keep = op_keep(op, profile.settings, on - {"attention"})
            if keep is None:  # an analytic workload: its statistics, on S.V alone
                keep = 1.0
                if op.role == "sv":  # zero probabilities (thresholded, pruned keys)
                    keep *= f["token_keep"] if "token" in on else 1.0
                    keep *= f["attention_keep"] if "attention" in on else 1.0
                written_keep = keep
            macs = op.macs * keep
            e_frac, t_frac = (f["bit_energy"], f["bit_time"]) if "bit" in on else (1.0, 1.0)
            energy_bits = 1 + (in_bits - 1) * e_frac  # sign bit + effective magnitude bits
            time_bits = 1 + (in_bits - 1) * t_frac
            # K^T / V written into the macro: not for pruned keys (thresholding still needs V)
            written = g * k * n * w_bits * written_keep if dynamic else 0.0
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
