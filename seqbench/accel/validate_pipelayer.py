"""``accels validate`` rows for PipeLayer (HPCA'17): its whole-chip peak efficiency, and its
speedup and energy saving over the GTX 1080 averaged over the paper's testing networks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from seqbench.accel import chip_power, workloads
from seqbench.accel.cost import simulate
from seqbench.accel.profile import Profile
from seqbench.accel.protocol import (
    CALIBRATED,
    PREDICTED,
    Check,
    Fit,
    fit_parameter,
    geo_mean,
    sensitivities,
    using,
)
from seqbench.trace import Trace

# PipeLayer's testing average: MNIST networks, AlexNet and VGG-A..E (HPCA'17 Sec. 6).
PIPELAYER_NETWORKS: dict[str, Callable[[], Trace]] = {
    "MNIST MLP": workloads.mnist_mlp,
    "MNIST CNN": workloads.mnist_cnn,
    "AlexNet": workloads.alexnet,
    **{f"VGG-{v}": (lambda v=v: workloads.vgg(v)) for v in "ABCDE"},
}
# Plausible ranges for the parameters the sensitivity runs move (each with its source).
ADC_RANGE = (0.79, 2.379, "Accelergy's ISAAC ADC table, 4 to 10 bits at 32 nm, in pJ")
ISAAC_MM2, PIPELAYER_MM2 = 85.4, 82.63


def chip_peak_efficiency(profile: Profile) -> float:
    """Ops per joule of the modelled crossbar chip at peak: every array busy on a weight that
    fills it, every component priced per action (:mod:`seqbench.accel.chip_power`, the same
    accounting as ISAAC's reference row)."""
    return chip_power.peak_ops_per_s(profile) / sum(chip_power.peak_components(profile).values())


_NETWORK_TRACES: dict[str, Trace] = {}


def _pipelayer_ratios(pl: Profile, gpu: Profile, host: Profile) -> dict[str, tuple]:
    """Per network of PipeLayer's set: (speedup, energy saving) over the GPU."""
    ratios = {}
    for name, build in PIPELAYER_NETWORKS.items():
        if name not in _NETWORK_TRACES:  # analytic traces, built once and never mutated
            _NETWORK_TRACES[name] = build()
        trace = _NETWORK_TRACES[name]
        s_pl, s_gpu = simulate(trace, pl, host=host), simulate(trace, gpu)
        ratios[name] = (
            s_gpu.period_s_per_sample / s_pl.period_s_per_sample,
            s_gpu.energy_J_per_sample / s_pl.energy_J_per_sample,
        )
    return ratios


def pipelayer_calibration(pl: Profile) -> Fit:
    """PipeLayer's one calibrated parameter: the per-conversion energy of the ADC that stands
    in for its integrate-and-fire counters (unpublished), fitted on its whole-chip peak."""
    return fit_parameter(
        pl,
        "adc.energy",
        lambda p: chip_peak_efficiency(p) / 1e9,
        142.9,
        "142.9 GOPS/s/W",
        (
            None,
            None,
            "PipeLayer's spike drivers and integrate-and-fire counters have no published "
            "energy; as an ISAAC SAR ADC (rated at 8 bits) it would lie in 0.79-2.379 pJ",
        ),
    )


def pipelayer_checks(reg: Any) -> list[Check]:
    """PipeLayer's peak efficiency (calibrated), speedup and energy saving over the GPU."""
    pl0, cpu, gpu = reg.get("pipelayer"), reg.get("cpu"), reg.get("gtx-1080")

    def speedup(p: Profile, g: Profile = gpu) -> float:
        return geo_mean({k: v[0] for k, v in _pipelayer_ratios(p, g, cpu).items()})

    def saving(p: Profile, g: Profile = gpu) -> float:
        return geo_mean({k: v[1] for k, v in _pipelayer_ratios(p, g, cpu).items()})

    area_tiles = 168 * PIPELAYER_MM2 / ISAAC_MM2
    cal = pipelayer_calibration(pl0)
    pl = using(pl0, cal)
    ratios = _pipelayer_ratios(pl, gpu, cpu)
    each = ", ".join(f"{k} {v[0]:.3g}x / {v[1]:.3g}x" for k, v in ratios.items())
    arith = sum(v[0] for v in ratios.values()) / len(ratios)
    fits = {k: simulate(_NETWORK_TRACES[k], pl, host=cpu).chip or {} for k in ratios}
    too_big = [k for k, chip in fits.items() if not chip.get("weights_fit", True)]
    one_slice = speedup(pl.with_value("dac.bits", pl.params["precision.input_bits"].raw))
    workload = (
        "workload: PipeLayer's testing set (MNIST MLP 784-500-250-10 and Caffe's LeNet as the "
        "MNIST networks, AlexNet, VGG-A..E; batch 64; geometric mean) vs the GTX 1080 at "
        f"{gpu.params['processor.compute_efficiency'].raw:g} of its fp32 peak (a stated "
        "derating)"
    )
    checks = [
        Check(
            "PipeLayer",
            "computing efficiency (whole-chip peak)",
            142.9,
            chip_peak_efficiency(pl) / 1e9,
            "GOPS/s/W",
            "HPCA'17 Sec. 6.6 (review summary)",
            "the modelled chip's peak: every array busy on a weight that fills it (16-bit "
            "data, 4-bit cells, ISAAC's 1-bit DACs and a 10-bit ADC standing in for spikes and "
            "integrate-and-fire); every component priced per action at peak, as ISAAC's "
            "reference row",
            missing="the energies of PipeLayer's spike drivers and integrate-and-fire counters "
            "and its chip overheads (memory subarrays, buffers, interconnect)",
            role=CALIBRATED,
            calibration=cal,
        ),
        Check(
            "PipeLayer",
            "speedup vs GPU (testing)",
            42.45,
            speedup(pl),
            "x",
            "HPCA'17 abstract",
            f"{workload}; per network (speedup / energy saving) on ISAAC's 168 tiles: {each}; "
            f"arithmetic mean of the speedups {arith:.3g}x; weights that do not fit ISAAC's "
            f"16,128 arrays (reloaded in rounds every batch, each round's spare arrays holding "
            f"copies): {', '.join(too_big) or 'none'}; with one array cycle per 16-bit input "
            f"vector instead of 16 one-bit slices (as 'a conv layer needs 12,544 cycles' for "
            f"12,544 vectors would read) {one_slice:.3g}x",
            missing="PipeLayer's array count and per-layer replication factors",
            role=PREDICTED,
            calibration=cal,
        ),
        Check(
            "PipeLayer",
            "energy saving vs GPU (testing)",
            7.88,
            saving(pl),
            "x",
            "HPCA'17 Sec. 6 (review summary: 7.88x testing; 7.17x is the overall average)",
            f"{workload}; GPU energy = 180 W board power x time",
            missing="how the GPU's energy was measured and the spike/counter energies (above)",
            role=PREDICTED,
            calibration=cal,
        ),
    ]
    runs = {
        "speedup vs GPU (testing)": (
            pl,
            "chip.tiles",
            speedup,
            (1, area_tiles, "ISAAC's 168 tiles on 85.4 mm2, scaled to PipeLayer's 82.63 mm2"),
        ),
        "energy saving vs GPU (testing)": (
            gpu,
            "processor.compute_efficiency",
            lambda g: saving(pl, g),
            (None, 0.33, "PipeLayer's 122.7 TOPS peak / 42.45x: at most 33% of the peak"),
        ),
    }
    sensitivities(checks, runs)
    return checks
