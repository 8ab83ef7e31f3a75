"""``accels validate`` rows for ReTransformer (ICCAD'20): computing efficiency and power
against PipeLayer and a GPU, and the MatMul latency its decomposition saves."""

from __future__ import annotations

from typing import Any

from seqbench.accel import chip_power, workloads
from seqbench.accel.cost import Simulation, simulate
from seqbench.accel.mappings.reram import Crossbar, crossbar_mvm
from seqbench.accel.profile import Profile
from seqbench.accel.protocol import (
    CALIBRATED,
    PREDICTED,
    Check,
    fit_parameter,
    sensitivities,
    using,
)
from seqbench.accel.validate_pipelayer import ADC_RANGE, pipelayer_calibration
from seqbench.trace import OpRecord, Trace

# ReTransformer's Model A (Transformer-base, WMT16 En-De, d_k 64); sequence length assumed.
TRANSFORMER_BASE = {
    "d_model": 512,
    "heads": 8,
    "d_ff": 2048,
    "encoder_layers": 6,
    "decoder_layers": 6,
    "src_len": 128,
    "tgt_len": 128,
    "vocab": 0,
}
# Model B: the summary says only "larger"; Vaswani et al.'s Transformer-big assumed.
TRANSFORMER_BIG = {**TRANSFORMER_BASE, "d_model": 1024, "heads": 16, "d_ff": 4096}
# ReTransformer's MatMul latency: the attention's products on both paths (the naive path's
# K and V projections too, which the decomposition replaces), not the softmax.
ATTENTION_MATMULS = ("W_q", "W_k", "W_v", "qk", "sv")


def _eff(sim: Simulation) -> float:
    """Dense operations per joule (GOPs/s/W x 1e9)."""
    return sim.ops_per_s_per_w


def _executed_eff(sim: Simulation) -> float:
    """Executed operations (the MACs the hardware really performs, x2) per joule."""
    return 2.0 * sim.effective_macs / sim.energy_J if sim.energy_J else 0.0


def attention_matmul(op: OpRecord) -> bool:
    """An attention product counted in the MatMul latency (projections Q, K, V; QK^T; SV)."""
    return op.name.rsplit(".", 1)[-1] in ATTENTION_MATMULS


def naive_path(rt: Profile) -> Profile:
    """The same chip without the decomposition: K, V projected, K^T and V written first."""
    naive = rt.with_mapping("matmul_dynamic", "crossbar_write_compute")
    naive.settings = {**naive.settings, "skip_projections": []}
    return naive


def matmul_latency(trace: Trace, profile: Profile, host: Profile) -> Simulation:
    """The attention products' pipelined latency, the whole trace placed on the chip."""
    return simulate(trace, profile, host=host, only=attention_matmul)


def decomposition_speedup(trace: Trace, rt: Profile, host: Profile) -> float:
    """Naive-path MatMul latency over the decomposed path's."""
    naive = matmul_latency(trace, naive_path(rt), host)
    return naive.latency_s_per_sample / matmul_latency(trace, rt, host).latency_s_per_sample


def product_time(p: Profile) -> float:
    """s for one 512 x 512 weight product over 128 input vectors on ``p``'s arrays."""
    return crossbar_mvm(Crossbar.from_profile(p), 128, 512, 512).time


def retransformer_checks(reg: Any) -> list[Check]:
    """ReTransformer's efficiency (calibrated), its ratios to PipeLayer and the GPU, and the
    decomposition's MatMul latency reduction."""
    rt0, pl0, cpu, gpu = (reg.get(n) for n in ("retransformer", "pipelayer", "cpu", "titan-rtx"))
    # PipeLayer as its own paper calibrates it (a value fitted on another paper's headline)
    pl = using(pl0, pipelayer_calibration(pl0))
    trace = workloads.transformer(**TRANSFORMER_BASE)
    copies = "decomposition.x_head_copies"

    def eff(p: Profile) -> float:
        return _eff(simulate(trace, p, host=cpu)) / 1e9

    # the one calibrated parameter: the ADC's energy, the largest entry of the NeuroSim
    # circuit table (Table 1(b)) the paper does not publish, fitted on its absolute efficiency
    cal = fit_parameter(rt0, "adc.energy", eff, 467.68, "467.68 GOPs/s/W", ADC_RANGE)
    rt = using(rt0, cal)
    s_rt, s_pl = simulate(trace, rt, host=cpu), simulate(trace, pl, host=cpu)
    s_gpu = simulate(trace, gpu)
    workload = (
        "workload: Transformer-base (Model A: 6+6 layers, d 512, h 8, d_ff 2048; sequence 128 "
        "assumed), one teacher-forced pass, both designs on ISAAC's 168 x 96-array chip"
    )
    chip_rt, chip_pl = s_rt.chip or {}, s_pl.chip or {}
    implied_pl = 467.68 / 3.25
    gpu_watts = s_gpu.power_W
    naive = matmul_latency(trace, naive_path(rt), cpu)
    decomposed = matmul_latency(trace, rt, cpu)

    def side_by_side(model: dict[str, int]) -> float:
        """The decomposition's gain with a copy of X per head and every head fed per step."""
        h = model["heads"]
        wide = rt0.with_value(copies, h).with_value("pipeline.heads_per_step", h)
        return decomposition_speedup(workloads.transformer(**model), wide, cpu)

    by_length = {
        n: decomposition_speedup(
            workloads.transformer(**{**TRANSFORMER_BASE, "src_len": n, "tgt_len": n}), rt, cpu
        )
        for n in (32, 512)
    }
    model_b = decomposition_speedup(workloads.transformer(**TRANSFORMER_BIG), rt, cpu)
    speed = s_pl.period_s_per_sample / s_rt.period_s_per_sample
    per_product = product_time(pl) / product_time(rt)
    pl8 = pl.with_value("precision.input_bits", 8)
    s_pl8 = simulate(trace, pl8, host=cpu)
    uncalibrated_pl = chip_power.peak_ops_per_s(pl0) / chip_power.chip_power_at_peak(pl0) / 1e9

    def eff_vs_pl(p: Profile) -> float:
        return _eff(simulate(trace, p, host=cpu)) / _eff(s_pl)

    def power_vs_pl(p: Profile) -> float:
        return s_pl.power_W / simulate(trace, p, host=cpu).power_W

    def eff_vs_gpu(g: Profile) -> float:
        return _eff(s_rt) / _eff(simulate(trace, g))

    def power_vs_gpu(p: Profile) -> float:
        return gpu_watts / simulate(trace, p, host=cpu).power_W

    # the power the chip may draw stands for the throughput at which 'overall power' was
    # measured (the chip's size and clock are not public)
    cap = (
        None,
        65.8,
        "ReTransformer's chip power is not public; ISAAC's organisation, which "
        "it builds on, draws 65.8 W",
    )
    board = (140, 280, "half to all of the TITAN RTX's 280 W board power under load")
    rt_xb = Crossbar.from_profile(rt)
    pl_read = (
        pl.get("crossbar.read_latency", "time") * 1e9,
        rt_xb.cycle() * 1e9,
        "from PipeLayer's own NVSim spike read to ReTransformer's own read cycle (its "
        f"{rt_xb.read_latency * 1e9:g} ns array read, {rt_xb.cols} columns through "
        f"{rt_xb.adcs_per_array} ADC(s) of {rt_xb.adc_rate / 1e9:g} GS/s), had the paper "
        "priced both designs with one circuit table",
    )
    checks = [
        Check(
            "ReTransformer",
            "computing efficiency vs PipeLayer",
            3.25,
            eff_vs_pl(rt),
            "x",
            "ICCAD'20 abstract",
            f"{workload}; PipeLayer at its own paper's calibration (adc.energy fitted on "
            "its 142.9 GOPS/s/W); dense ops per joule; executed-ops ratio "
            f"{_executed_eff(s_rt) / _executed_eff(s_pl):.2f}x (the decomposition executes "
            f"{s_rt.effective_macs / s_rt.dense_macs:.2f}x the dense MACs); the implied "
            f"PipeLayer efficiency 467.68 / 3.25 = {implied_pl:.1f} GOPs/s/W is PipeLayer's own "
            "CNN peak (142.9), so the paper may compare against that published number",
            missing="ReTransformer's NeuroSim circuit table (Table 1(b): ADC, array and write "
            "energies) and how PipeLayer was run on a Transformer",
            role=PREDICTED,
            calibration=cal,
        ),
        Check(
            "ReTransformer",
            "power reduction vs PipeLayer",
            2.82,
            power_vs_pl(rt),
            "x",
            "ICCAD'20 abstract",
            f"{workload}; streaming power {s_rt.power_W:.3g} W vs {s_pl.power_W:.3g} W "
            f"(utilisation {chip_rt.get('utilisation', 0):.0%} / "
            f"{chip_pl.get('utilisation', 0):.0%}); the paper's 3.25x efficiency and 2.82x power "
            f"imply ReTransformer only 1.15x faster than PipeLayer; ours {speed:.2f}x (period "
            f"{s_rt.period_s_per_sample * 1e3:.3g} vs {s_pl.period_s_per_sample * 1e3:.3g} ms "
            f"per sample) = {per_product:.2f}x per product (each paper's own precision: "
            "PipeLayer's 16 one-bit input slices at its 10-bit converter's rate, "
            "ReTransformer's 8 at 8 bits) x "
            f"{speed / per_product:.2f}x in the schedule (ReTransformer's heads follow one "
            "another through its sub-matrix pipelined attention, PipeLayer's run side by side "
            "but its layer runs its products in turn); with PipeLayer at ReTransformer's 8-bit "
            f"inputs {s_pl8.power_W / s_rt.power_W:.2f}x power and "
            f"{_eff(s_rt) / _eff(s_pl8):.2f}x efficiency",
            missing="both chips' sizes, the throughput at which 'overall power' was "
            "measured (Table 3), and the precision and read time PipeLayer was run at on a "
            "Transformer",
            role=PREDICTED,
            calibration=cal,
        ),
        Check(
            "ReTransformer",
            "computing efficiency vs GPU",
            23.21,
            eff_vs_gpu(gpu),
            "x",
            "ICCAD'20 abstract",
            f"GPU: TITAN RTX roofline at board power ({_eff(s_gpu) / 1e9:.1f} GOPs/s/W; the "
            f"paper's implies {467.68 / 23.21:.1f})",
            missing="the GPU model and how its power was measured",
            role=PREDICTED,
            calibration=cal,
        ),
        Check(
            "ReTransformer",
            "power reduction vs GPU",
            1086,
            power_vs_gpu(rt),
            "x",
            "ICCAD'20 abstract",
            f"ReTransformer {s_rt.power_W:.3g} W streaming on the ISAAC-sized chip vs GPU "
            f"{gpu_watts:.0f} W; the paper's ratio implies ~{280 / 1086:.2f} W for ReTransformer, "
            "i.e. a chip far smaller than ISAAC's (its throughput 23.21 / 1086 = 2.1% of the GPU); "
            f"[2] needs {s_pl.power_W / 2.82:.2g} W of the same chip, so ReTransformer's chip "
            "size cannot close both power rows: the GPU's power as measured carries the rest",
            missing="ReTransformer's chip size (arrays, tiles) and the GPU model",
            role=PREDICTED,
            calibration=cal,
        ),
        Check(
            "ReTransformer",
            "MatMul latency reduction by the decomposition (Model A)",
            1.32,
            naive.latency_s_per_sample / decomposed.latency_s_per_sample,
            "x",
            "ICCAD'20 Sec. 5 (full-text summary: 1.32x Model A, 1.16x Model B)",
            f"{workload}; pipelined latency of the attention products (Q, K, V projections, "
            f"QK^T, SV; the whole trace placed on the chip): naive "
            f"{naive.latency_s_per_sample * 1e3:.3g} ms (K and V projected, then K^T and V "
            f"written before the products that use them) vs decomposed "
            f"{decomposed.latency_s_per_sample * 1e3:.3g} ms (no K/V projections; the two "
            "chained products overlap row by row in the sub-matrix pipeline); both paths fed "
            "one head's d_k segment per step (Sec. 4.4) on one dual-access copy of X (Sec. "
            f"4.2); sequence 32 / 512: {by_length[32]:.3g}x / {by_length[512]:.3g}x; Model B "
            f"(Transformer-big assumed: d 1024, h 16, d_ff 4096) {model_b:.3g}x against the "
            f"paper's 1.16x; with a copy of X per head and every head fed per step "
            f"{side_by_side(TRANSFORMER_BASE):.2f}x (Model B {side_by_side(TRANSFORMER_BIG):.2f}x: "
            "no fall with the model's size, where the paper's falls from 1.32x to 1.16x)",
        ),
        Check(
            "ReTransformer",
            "computing efficiency vs CPU (seed deck)",
            23.31,
            _eff(s_rt) / _eff(s_gpu),
            "x",
            "seed deck",
            "the deck writes CPU and 23.31x where the abstract says GPU and 23.21x",
            transcription_of="'computing efficiency vs GPU' (23.21x)",
        ),
        Check(
            "ReTransformer",
            "power reduction vs CPU (seed deck)",
            1086,
            gpu_watts / s_rt.power_W,
            "x",
            "seed deck",
            "the deck writes CPU where the abstract says GPU",
            transcription_of="'power reduction vs GPU' (1086x)",
        ),
        Check(
            "ReTransformer",
            "computing efficiency",
            467.68,
            eff(rt),
            "GOPs/s/W",
            "seed deck",
            f"dense ops per joule; on executed ops {_executed_eff(s_rt) / 1e9:.0f} GOPs/s/W; "
            f"with the NeuroSim-derived components uncalibrated {eff(rt0):.0f} GOPs/s/W, "
            f"{eff(rt0) / (_eff(s_gpu) / 1e9):.0f}x the GPU: the chip's size or power as the "
            "calibrated parameter instead would leave this row and [1], [3] (efficiency ratios, "
            "which no chip size moves) several times off; why the ADC lands outside its range: "
            f"467.68 / 3.25 = {implied_pl:.1f} is PipeLayer's published 142.9, which sits "
            f"{uncalibrated_pl / 142.9:.1f}x below the same per-action model of PipeLayer's own "
            f"chip at peak ({uncalibrated_pl:.0f} GOPS/s/W; [10] calibrates its ADC to "
            f"{pl.get('adc.energy', 'energy') * 1e12:.2f} pJ, as far outside): the paper's "
            "absolute efficiency inherits whatever PipeLayer's figure counts beyond per-action "
            "energies (not public), and the one calibrated parameter absorbs it",
            missing="ReTransformer's NeuroSim circuit table (Table 1(b)) and its chip-level "
            "overheads",
            role=CALIBRATED,
            calibration=cal,
        ),
    ]
    runs = {
        "computing efficiency vs PipeLayer": (
            pl,
            "adc.energy",
            lambda p: _eff(s_rt) / _eff(simulate(trace, p, host=cpu)),
            (None, None, "PipeLayer's integrate-and-fire counters have no published energy"),
        ),
        # the power ratio is the efficiency ratio times the speed ratio, and ReTransformer's
        # cap can only lower its power: the fact that moves it is how fast the paper's
        # PipeLayer ran, i.e. the read time its circuit table gave PipeLayer's arrays
        "power reduction vs PipeLayer": (
            pl,
            "crossbar.read_latency",
            lambda p: simulate(trace, p, host=cpu).power_W / s_rt.power_W,
            pl_read,
        ),
        "computing efficiency vs GPU": (gpu, "processor.static_power", eff_vs_gpu, board),
        "power reduction vs GPU": (rt, "chip.peak_power", power_vs_gpu, cap),
    }
    sensitivities(checks, runs)
    return checks
