"""``accels validate`` row for MulTCIM (ISSCC'23 / JSSC'24): energy per token on ViLBERT-base,
with the sparsities seqbench's tracer measured on a trained dual-stream model."""

from __future__ import annotations

from typing import Any

import yaml

from seqbench import paths
from seqbench.accel import workloads
from seqbench.accel.cost import simulate
from seqbench.accel.profile import Profile
from seqbench.accel.protocol import (
    CALIBRATED,
    Check,
    fit_parameter,
    using,
)

MEASURED_SPARSITY = "measured/vl-dual-sort-of-clevr.yaml"


def measured_sparsity() -> dict[str, Any]:
    """The committed sparsity statistics of a real traced run (see the YAML's ``run``)."""
    path = paths.accelerators_dir() / MEASURED_SPARSITY
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def multcim_checks(reg: Any) -> list[Check]:
    """MulTCIM's energy per token (its one headline, so calibrated)."""
    measured = measured_sparsity()
    stats = {**workloads.stats(), **measured["stats"]}
    trace = workloads.vilbert_base(trace_stats=stats)
    multcim, cpu = reg.get("multcim"), reg.get("cpu")

    def uj_per_token(p: Profile) -> float:
        return simulate(trace, p, host=cpu).energy_J_per_unit * 1e6

    cal = fit_parameter(
        multcim,
        "cim.energy_per_bit_mac",
        uj_per_token,
        2.24,
        "2.24 uJ/token",
        (
            7.3 / 8,
            133 / 8,
            "the seven SRAM-CIM macros ZigZag-IMC validated measure 7.3 to 133 fJ per MAC, "
            "taken as 8 input bits per MAC",
        ),
    )
    fitted = using(multcim, cal)
    sim = simulate(trace, fitted, host=cpu)
    dense = simulate(workloads.vilbert_base(), fitted, host=cpu)
    savings = ", ".join(f"{k} {v['fraction']:.1%}" for k, v in sim.mechanisms.items() if k != "all")
    total = sim.mechanisms.get("all", {}).get("fraction", 0.0)
    per_mac = f"{cal.value * 8:.1f}" if cal.value else "?"
    return [
        Check(
            "MulTCIM",
            "energy per token, ViLBERT-base",
            2.24,
            sim.energy_J_per_unit * 1e6,
            "uJ/token",
            "ISSCC'23 16.1 / JSSC'24 abstract",
            f"ViLBERT-base (12 text + 6 visual + 6 connection layers), 20 text tokens + 37 "
            f"regions assumed; sparsities measured by seqbench's tracer on the trained full "
            f"vl-dual (dual stream, co-attention) on Sort-of-CLEVR ({MEASURED_SPARSITY}); "
            f"each mechanism's saving with the other two on: {savings}; all three {total:.1%} "
            f"(dense {dense.energy_J_per_unit * 1e6:.2f} uJ/token); the fitted energy is "
            f"{per_mac} fJ per 8-bit MAC, against the profile's {multcim.params[cal.path].raw:g} "
            "fJ per bit-MAC borrowed from another 28 nm chip; MulTCIM's one headline leaves "
            "nothing to predict",
            missing="MulTCIM's macro energy per MAC, clock and macro size, and its measured "
            "sparsities on ViLBERT (JSSC'24 evaluation)",
            role=CALIBRATED,
            calibration=cal,
        )
    ]
