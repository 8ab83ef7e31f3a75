"""``accels validate`` rows for ISAAC (ISCA'16), the crossbar chip whose every component is public.

The ``isaac`` profile gives ISAAC's organisation and each component's energy per action
(Accelergy's library, :mod:`accelerators/derive`); it gives no power. The rows hold the chip's
peak work, priced per action by the same code that prices a trace
(:mod:`seqbench.accel.chip_power`), against ISAAC's Table 1: the IMA's component powers
within 10%, the chip's power at peak within 15%, and the GOPS/s/W it publishes.
"""

from __future__ import annotations

from typing import Any

from seqbench.accel import chip_power
from seqbench.accel.mappings.reram import ADC_ENERGY_PJ
from seqbench.accel.protocol import Fit, solve

IMAS_PER_TILE = 12  # ISAAC ISCA'16 Table 1 (the profile counts arrays per tile: 12 x 8)
SOURCE = "ISAAC ISCA'16 Table 1"


def row(
    claim: str, paper: float, ours: float, unit: str, source: str, note: str, **kw: Any
) -> dict[str, Any]:
    """One row as :class:`seqbench.accel.validate.Check` takes it (validate builds the Check)."""
    return dict(
        paper_name="ISAAC (reference)",
        claim=claim,
        paper=paper,
        ours=ours,
        unit=unit,
        source=source,
        note=note,
        **kw,
    )


def isaac_rows(reg: Any) -> list[dict[str, Any]]:
    """ISAAC's IMA component powers, chip power at peak and GOPS/s/W, paper vs ours."""
    isaac = reg.get("isaac")
    peak = chip_power.peak_components(isaac)
    imas = isaac.get("chip.tiles", "count") * IMAS_PER_TILE
    tiles = isaac.get("chip.tiles", "count")
    watts = sum(peak.values())
    ops = chip_power.peak_ops_per_s(isaac)
    per_tile = ", ".join(
        f"{name} {peak[name] / tiles * 1e3:.2f} mW" for name in ("buffer", "bus", "router")
    )
    ima_note = (
        "every array streaming 16-bit inputs through a full 128x128 weight (16 weights of 8 "
        "2-bit cells), priced per action; one activation lasts max(100 ns read, 128 columns / "
        "1.2 GS/s) = 106.7 ns"
    )
    rows = [
        ("ADC", "adc", 16.0),
        ("DACs", "dac", 4.0),
        ("crossbar arrays", "arrays", 2.4),
        ("shift-and-add", "shift_add", 0.2),
    ]
    checks = [
        row(
            f"IMA {label} power at peak",
            paper_mw,
            peak[key] / imas * 1e3,
            "mW",
            SOURCE,
            ima_note,
            tolerance=0.10,
        )
        for label, key, paper_mw in rows
    ]
    parts = ", ".join(f"{name} {w:.2f}" for name, w in sorted(peak.items(), key=lambda x: -x[1]))
    checks.append(
        row(
            "chip power at peak (predicted from components)",
            65.8,
            watts,
            "W",
            SOURCE,
            f"no chip power is an input: the components at the chip's peak work, W: {parts} "
            f"(per tile: {per_tile}; Table 1: eDRAM 20.7, bus 7, router 42 / 4 tiles); the "
            "components at their rated rates sum to "
            f"{chip_power.component_sum(isaac):.2f} W (the bound); tile sigmoid / max-pool "
            "units (0.16 W) not modelled",
            tolerance=0.15,
        )
    )
    needed_w = ops / 380.7e9
    checks.append(
        row(
            "computing efficiency at peak",
            380.7,
            ops / watts / 1e9,
            "GOPS/s/W",
            "ISAAC ISCA'16 (as quoted by PipeLayer HPCA'17)",
            f"peak {ops / 1e12:.1f} TOPS (2 ops per 16-bit MAC) over the {watts:.1f} W above; "
            "ISAAC's own 100 ns cycle would give 41.3 TOPS and 627 GOPS/s/W",
            missing=(
                "how ISAAC accounts its 380.7 GOPS/s/W (not found in stored material): at this "
                f"peak it would need {needed_w:.0f} W, or at {watts:.1f} W a throughput of "
                f"{380.7e9 * watts / 1e12:.1f} TOPS ({380.7e9 * watts / ops:.0%} of peak)"
            ),
            tolerance=0.15,
            sensitivity=_adc_sensitivity(isaac, 380.7e9),
        )
    )
    return checks


def _adc_sensitivity(isaac: Any, target_ops_per_j: float) -> Fit:
    """The ADC energy at which the chip's peak efficiency would meet ``target_ops_per_j``
    (the ADCs draw half the chip's power: the one component that could plausibly hold it)."""

    def efficiency(pj: float) -> float:
        p = isaac.with_value("adc.energy", pj)
        return chip_power.peak_ops_per_s(p) / chip_power.chip_power_at_peak(p)

    param = isaac.params["adc.energy"]
    value = solve(efficiency, target_ops_per_j, float(param.raw))
    low, high = min(ADC_ENERGY_PJ.values()), max(ADC_ENERGY_PJ.values())
    return Fit(
        isaac.name,
        "adc.energy",
        param.unit,
        param.raw,
        value,
        f"{target_ops_per_j / 1e9:g} GOPS/s/W",
        low,
        high,
        "Accelergy's ISAAC ADC table, 4 to 10 bits at 32 nm",
    )
