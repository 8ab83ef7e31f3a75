"""``seqbench accels validate``: each paper's headline comparison, recomputed.

Every "ours" number below comes out of :func:`seqbench.accel.cost.simulate` applied to the
profiles in ``accelerators/`` and an analytic trace of the paper's workload
(:mod:`seqbench.accel.workloads`); nothing is typed in to match. The paper figures are the
headline numbers in FACTS-accelerators.md (abstracts). Where the first-order model misses,
the note says by how much and which missing fact (or modelling limit) is responsible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqbench.accel import workloads
from seqbench.accel.cost import Simulation, simulate
from seqbench.accel.profile import profile_registry

TOLERANCE = 0.25

# The papers' workloads as far as the stored material states them; the rest is assumed.
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
WORKLOAD_NOTES = {
    "retransformer": "workload: Transformer-base (ReTransformer's Model A: base, ~65M, WMT16 "
    "En-De; d_k 64) as 6+6 layers, d 512, h 8, d_ff 2048; sequence 128 assumed (its sequence "
    "length, Model B and Table 1-3 numbers are not in stored material); one teacher-forced "
    "pass, embeddings/output projection excluded",
    "multcim": "workload: ViLBERT-base (BERT-base text stream, 1024-d visual stream, "
    "6 co-attention "
    "blocks), 20 text tokens + 37 regions assumed; dense: the paper's measured sparsities are not "
    "in stored material",
    "pipelayer": "workload: AlexNet inference, batch 64, vs GTX 1080 (PipeLayer's GPU, Caffe; "
    "the paper's 42.45x is the geometric mean of testing over 4 MNIST nets, AlexNet, VGG-A..E)",
    "ice": "workload assumed: 1M 512-d INT8 face vectors, top-10, one query, Raspberry Pi 4 "
    "class host (ICE: 500K CASIA-WebFace / CelebA / VGGFace2 faces, MobileFaceNet/FaceNet, "
    "on Raspberry Pi 3/4 and Jetson Nano)",
}


@dataclass
class Check:
    """One headline figure: the paper's value, ours, and why they differ."""

    paper_name: str
    claim: str
    paper: float | None
    ours: float | None
    unit: str
    source: str
    note: str = ""
    gated: bool = False  # the acceptance asks this one to be within TOLERANCE (or explained)
    paper_high: float | None = None  # the paper gives a range [paper, paper_high]

    @property
    def error(self) -> float | None:
        """Relative to the paper; for a range, 0 inside it, else relative to the nearer end."""
        if self.paper is None or self.ours is None or self.paper == 0:
            return None
        if self.paper_high is not None:
            if self.paper <= self.ours <= self.paper_high:
                return 0.0
            end = self.paper if self.ours < self.paper else self.paper_high
            return (self.ours - end) / end
        return (self.ours - self.paper) / self.paper

    @property
    def within(self) -> bool | None:
        return None if self.error is None else abs(self.error) <= TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        return {
            "paper_name": self.paper_name,
            "claim": self.claim,
            "paper": self.paper,
            "paper_high": self.paper_high,
            "ours": self.ours,
            "unit": self.unit,
            "error": self.error,
            "within_25pct": self.within,
            "source": self.source,
            "note": self.note,
        }


def _eff(sim: Simulation) -> float:
    return sim.ops_per_s_per_w


def _retransformer(reg: Any) -> list[Check]:
    rt, pl, cpu = reg.get("retransformer"), reg.get("pipelayer"), reg.get("cpu")
    trace = workloads.transformer(**TRANSFORMER_BASE)
    s_rt, s_pl = simulate(trace, rt, host=cpu), simulate(trace, pl, host=cpu)
    s_gpu = simulate(trace, reg.get("titan-rtx"))
    s_cpu = simulate(trace, cpu)
    eff_ratio = _eff(s_rt) / _eff(s_pl)
    power_ratio = s_pl.power_W / s_rt.power_W
    # diagnostics (not results): the same ratio with ReRAM writes free and write-dominated
    free = _eff(simulate(trace, rt.with_value("crossbar.row_write_energy", 0), host=cpu)) / _eff(
        simulate(trace, pl.with_value("crossbar.row_write_energy", 0), host=cpu)
    )
    huge = 1e6 * rt.params["crossbar.row_write_energy"].raw
    bound = _eff(
        simulate(trace, rt.with_value("crossbar.row_write_energy", huge), host=cpu)
    ) / _eff(simulate(trace, pl.with_value("crossbar.row_write_energy", huge), host=cpu))
    dyn = s_rt.breakdown.get("matmul_dynamic", {}).get("energy_J", 0) / max(
        s_pl.breakdown.get("matmul_dynamic", {}).get("energy_J", 1e-30), 1e-30
    )
    speed = s_pl.period_s_per_sample / s_rt.period_s_per_sample
    e_ratio = s_pl.energy_J_per_sample / s_rt.energy_J_per_sample
    pl_eff_implied = 467.68 / 3.25
    why_eff = (
        f"{WORKLOAD_NOTES['retransformer']}. Both designs now use their papers' arrays, "
        "precisions and write latencies (ReTransformer 2-bit cells, 8 b, 7.2 ns/line; PipeLayer "
        "4-bit cells, 16 b, 50.88 ns and 3.91 nJ/line). The decomposition as the paper states it "
        "(W_Q, W_K^T, X^T in crossbars, d_k 64) makes each head reduce over d_model: "
        f"dynamic-product energy x{dyn:.1f} vs PipeLayer, only partly repaid by dropping the K/V "
        f"projections; the ratio moves from {free:.2f}x (writes free) to at most {bound:.2f}x "
        "(writes dominating: write-volume ratio K^T+V : X). Missing facts: ReTransformer's write "
        "energy (PipeLayer's is reused) and its ADC/NeuroSim parameters (Table 1(b)); and how it "
        f"priced PipeLayer: the implied PipeLayer efficiency 467.68/3.25 = {pl_eff_implied:.1f} "
        "GOPs/s/W is within 1% of PipeLayer's own published CNN figure 142.9 GOPS/s/W (HPCA'17 "
        "Sec. 6.6), so the 3.25x may compare against that published number rather than a "
        "Transformer run on PipeLayer; ICCAD'20 Sec. 5 would settle it and is not in stored "
        "material"
    )
    why_power = (
        "power = energy per sample / pipelined period. The paper's 3.25x efficiency and 2.82x "
        "power imply ReTransformer only 3.25/2.82 = 1.15x faster than PipeLayer, with 3.25x less "
        f"energy per op; ours is {speed:.1f}x faster (sub-matrix pipeline, one query row of a "
        "head per step, vs PipeLayer's layer pipeline with writes on the critical path) with "
        f"{e_ratio:.2f}x less energy per sample, so its streaming power is higher. Missing facts: "
        "the throughput/area at which the paper measured 'overall power' (its Table 3 values "
        "are not in stored material) and PipeLayer's Transformer setup (see above)"
    )
    gpu_note = (
        "GPU model of the paper not in stored material (TITAN RTX assumed, board power = TDP, "
        f"5 us per kernel); GPU here: {_eff(s_gpu) / 1e9:.1f} GOPs/s/W vs the paper's implied "
        f"{467.68 / 23.21:.1f}; ours is ISAAC-level array efficiency with no chip overheads "
        "(controllers, NoC, leakage), which the paper's 467.68 GOPs/s/W includes"
    )
    return [
        Check(
            "ReTransformer",
            "computing efficiency vs PipeLayer",
            3.25,
            eff_ratio,
            "x",
            "ICCAD'20 abstract",
            why_eff,
            gated=True,
        ),
        Check(
            "ReTransformer",
            "power reduction vs PipeLayer",
            2.82,
            power_ratio,
            "x",
            "ICCAD'20 abstract",
            why_power,
            gated=True,
        ),
        Check(
            "ReTransformer",
            "computing efficiency vs GPU",
            23.21,
            _eff(s_rt) / _eff(s_gpu),
            "x",
            "ICCAD'20 abstract",
            gpu_note,
        ),
        Check(
            "ReTransformer",
            "power reduction vs GPU",
            1086,
            s_gpu.power_W / s_rt.power_W,
            "x",
            "ICCAD'20 abstract",
            f"ReTransformer {s_rt.power_W:.3g} W streaming vs GPU "
            f"{s_gpu.power_W:.0f} W; the paper's implies ~{280 / 1086:.2f} W for ReTransformer",
        ),
        Check(
            "ReTransformer",
            "computing efficiency vs CPU (seed deck)",
            23.31,
            _eff(s_rt) / _eff(s_cpu),
            "x",
            "seed deck (the abstract says GPU, 23.21x)",
            "baseline CPU unknown: ours is this machine's measured roofline",
        ),
        Check(
            "ReTransformer",
            "power reduction vs CPU (seed deck)",
            1086,
            s_cpu.power_W / s_rt.power_W,
            "x",
            "seed deck",
            "as above, measured host",
        ),
        Check(
            "ReTransformer",
            "computing efficiency",
            467.68,
            _eff(s_rt) / 1e9,
            "GOPs/s/W",
            "seed deck",
            gpu_note.split("; ", 1)[-1],
        ),
    ]


def _multcim(reg: Any) -> list[Check]:
    trace = workloads.vilbert_base()
    sim = simulate(trace, reg.get("multcim"), host=reg.get("cpu"))
    ours = sim.energy_J_per_unit * 1e6
    needed = 1 - 2.24 / ours
    e_mac = reg.get("multcim").params["cim.energy_per_bit_mac"].raw
    note = (
        (
            f"{WORKLOAD_NOTES['multcim']}. Dense energy {ours:.2f} uJ/token at an assumed "
            f"{e_mac} fJ per 1b MAC (28 nm proxy); matching 2.24 needs the three sparsities "
            f"together to save {needed:.0%} of it. Missing facts: MulTCIM's macro energy per MAC "
            "and its measured attention/token/bit sparsity on ViLBERT (JSSC 2024 evaluation)"
        )
        if needed > 0
        else f"{WORKLOAD_NOTES['multcim']}."
    )
    return [
        Check(
            "MulTCIM",
            "energy per token, ViLBERT-base",
            2.24,
            ours,
            "uJ/token",
            "ISSCC'23 16.1 title / JSSC'24 abstract",
            note,
            gated=True,
        )
    ]


def _pipelayer(reg: Any) -> list[Check]:
    trace = workloads.alexnet(batch=64)
    pl, cpu = reg.get("pipelayer"), reg.get("cpu")
    s_pl, s_gpu = simulate(trace, pl, host=cpu), simulate(trace, reg.get("gtx-1080"))
    speedup = s_gpu.period_s_per_sample / s_pl.period_s_per_sample
    note = (
        f"{WORKLOAD_NOTES['pipelayer']}; the paper averages training and testing over "
        "several CNNs with weight replication; with replication 1 (its factors are not in "
        "stored material) the first convolution sets the period, and 42.45x would need "
        f"~{42.45 / speedup:.0f}x more parallel arrays; GPU energy is board power x time"
    )
    eff_note = (
        f"{WORKLOAD_NOTES['pipelayer']}; the paper's figure is its whole-chip peak (1485 "
        "GOPS/s/mm2 on 82.63 mm2) over chip power, ours is dense ops per joule on AlexNet "
        "testing. Missing from the model: PipeLayer keeps intermediate data in ReRAM memory "
        "subarrays, not eDRAM (the reason HPCA'17 gives for its 142.9 being below ISAAC's "
        "380.7), and the energies of its integrate-and-fire counters and spike drivers, priced "
        "here as ISAAC's ADC/DAC (not in stored material); no chip overheads"
    )
    return [
        Check(
            "PipeLayer",
            "computing efficiency",
            142.9,
            _eff(s_pl) / 1e9,
            "GOPs/s/W",
            "HPCA'17 Sec. 6.6 (review summary)",
            eff_note,
        ),
        Check(
            "PipeLayer",
            "speedup vs GPU",
            42.45,
            speedup,
            "x",
            "HPCA'17 abstract",
            note,
        ),
        Check(
            "PipeLayer",
            "energy saving vs GPU",
            7.17,
            s_gpu.energy_J_per_sample / s_pl.energy_J_per_sample,
            "x",
            "HPCA'17 abstract",
            note,
        ),
    ]


def _ice(reg: Any) -> list[Check]:
    ice = reg.get("ice")
    host = reg.get("edge-cpu")
    trace = workloads.face_search()
    s_ice = simulate(trace, ice, host=host)
    s_base = simulate(trace, ice.with_mapping("similarity_search", "nand_host_scan"), host=host)
    note = (
        f"{WORKLOAD_NOTES['ice']}. The paper's range spans its datasets and edge boards; ours "
        "is one workload. NAND array figures of ICE's Table II (72 us multiply + 140 us "
        "accumulate per 4-plane VVM, 5.74 uJ) are not used because the vectors/dimensions one "
        "VVM covers are missing; search/read latency and energy, interface and candidate "
        "factor stay assumed, and ICE's HTNS two-layer search (which shrinks the scanned set) "
        "is not modelled"
    )
    return [
        Check(
            "ICE",
            "search speedup vs edge system (NAND->DRAM->CPU)",
            17,
            s_base.latency_s_per_sample / s_ice.latency_s_per_sample,
            "x",
            "MICRO'22 (wiki summary: 17x-95x execution time)",
            note,
            paper_high=95,
        ),
        Check(
            "ICE",
            "energy-efficiency gain vs edge system",
            11,
            s_base.energy_J_per_sample / s_ice.energy_J_per_sample,
            "x",
            "MICRO'22 (wiki summary: 11x-140x energy efficiency)",
            note,
            paper_high=140,
        ),
    ]


def run_validation(folder: Path | None = None) -> list[Check]:
    """Every headline check, in paper order."""
    reg = profile_registry(folder)
    return [*_retransformer(reg), *_multcim(reg), *_pipelayer(reg), *_ice(reg)]
