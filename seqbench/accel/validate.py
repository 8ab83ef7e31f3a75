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
    "retransformer": "workload assumed: Transformer-base 6+6 layers, d 512, h 8, d_ff 2048, "
    "sequence 128, one teacher-forced pass, embeddings/output projection excluded "
    "(ReTransformer's model and sequence length are not in stored material)",
    "multcim": "workload: ViLBERT-base (BERT-base text stream, 1024-d visual stream, "
    "6 co-attention "
    "blocks), 20 text tokens + 37 regions assumed; dense: the paper's measured sparsities are not "
    "in stored material",
    "pipelayer": "workload: AlexNet inference, batch 64, vs GTX 1080 (assumed baseline model)",
    "ice": "workload assumed: 1M 512-d 8-bit face vectors, top-10, one query, edge host",
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

    @property
    def error(self) -> float | None:
        if self.paper is None or self.ours is None or self.paper == 0:
            return None
        return (self.ours - self.paper) / self.paper

    @property
    def within(self) -> bool | None:
        return None if self.error is None else abs(self.error) <= TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        return {
            "paper_name": self.paper_name,
            "claim": self.claim,
            "paper": self.paper,
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
    s_gpu = simulate(trace, cpu.variant("titan_rtx"))
    s_cpu = simulate(trace, cpu)
    eff_ratio = _eff(s_rt) / _eff(s_pl)
    power_ratio = s_pl.power_W / s_rt.power_W
    # diagnostics (not results): the same ratio with ReRAM writes free and write-dominated
    free = _eff(simulate(trace, rt.with_value("crossbar.write_energy", 0), host=cpu)) / _eff(
        simulate(trace, pl.with_value("crossbar.write_energy", 0), host=cpu)
    )
    huge = 1e6 * rt.params["crossbar.write_energy"].raw
    bound = _eff(simulate(trace, rt.with_value("crossbar.write_energy", huge), host=cpu)) / _eff(
        simulate(trace, pl.with_value("crossbar.write_energy", huge), host=cpu)
    )
    dyn = s_rt.breakdown.get("matmul_dynamic", {}).get("energy_J", 0) / max(
        s_pl.breakdown.get("matmul_dynamic", {}).get("energy_J", 1e-30), 1e-30
    )
    why_eff = (
        f"{WORKLOAD_NOTES['retransformer']}. Decomposition as stated (Q.K^T=(Q.W_K^T).X^T, "
        f"S.V=(S.X).W_V) makes each head reduce over d_model: dynamic-product energy x{dyn:.1f} vs "
        f"PipeLayer, only partly repaid by dropping the K/V projections; writes are the only "
        f"PipeLayer penalty left, and the ratio moves from {free:.2f}x (writes free) to at most "
        f"{bound:.2f}x (writes dominating: the write-volume ratio K^T+V : X). "
        "3.25x cannot be reached "
        "by any ReRAM write energy: missing facts are ReTransformer's per-head mapping, its write "
        "energy/verify scheme and how its evaluation maps Transformers onto PipeLayer"
    )
    why_power = (
        "power = energy per sample / pipelined period; the sub-matrix pipeline makes ReTransformer "
        f"{s_pl.period_s_per_sample / s_rt.period_s_per_sample:.1f}x faster, "
        "so with similar energy "
        "its power rises; the paper's 1.15x speed and 3.25x energy (3.25/2.82) imply an energy gap "
        "our mechanisms cannot produce (see above)"
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
    s_pl, s_gpu = simulate(trace, pl, host=cpu), simulate(trace, cpu.variant("gtx_1080"))
    speedup = s_gpu.period_s_per_sample / s_pl.period_s_per_sample
    note = (
        f"{WORKLOAD_NOTES['pipelayer']}; the paper averages training and testing over "
        "several CNNs with weight replication; with replication 1 (its factors are not in "
        "stored material) the first convolution sets the period, and 42.45x would need "
        f"~{42.45 / speedup:.0f}x more parallel arrays; GPU energy is board power x time"
    )
    return [
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
    ice, cpu = reg.get("ice"), reg.get("cpu")
    host = cpu.variant("edge_cpu")
    trace = workloads.face_search()
    s_ice = simulate(trace, ice, host=host)
    s_base = simulate(trace, ice.with_mapping("similarity_search", "nand_host_scan"), host=host)
    note = (
        f"{WORKLOAD_NOTES['ice']}; every NAND parameter but words/read and resolution is "
        "assumed; the MICRO'22 result sentence is not in stored material (no paper figure)"
    )
    return [
        Check(
            "ICE",
            "search speedup vs NAND->DRAM->CPU flow",
            None,
            s_base.latency_s_per_sample / s_ice.latency_s_per_sample,
            "x",
            "MICRO'22 [gap]",
            note,
        ),
        Check(
            "ICE",
            "search energy saving vs NAND->DRAM->CPU flow",
            None,
            s_base.energy_J_per_sample / s_ice.energy_J_per_sample,
            "x",
            "MICRO'22 [gap]",
            note,
        ),
    ]


def run_validation(folder: Path | None = None) -> list[Check]:
    """Every headline check, in paper order."""
    reg = profile_registry(folder)
    return [*_retransformer(reg), *_multcim(reg), *_pipelayer(reg), *_ice(reg)]
