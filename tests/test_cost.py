"""Cost model: hand-checked golden values, monotonicity, pipelining, host fallback."""

from __future__ import annotations

import json
import math

import pytest

from seqbench.accel import profile as profile_mod
from seqbench.accel import validate, workloads
from seqbench.accel.cost import simulate
from seqbench.accel.mappings.reram import Crossbar, crossbar_mvm, write_operand
from seqbench.accel.profile import load_named, resolve_profiles
from seqbench.trace import OpRecord, Trace


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    """A fresh $SEQBENCH_HOME per test (pricing must not depend on what it holds)."""
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    profile_mod._CACHE.clear()
    yield
    profile_mod._CACHE.clear()


def one_op(
    op_class: str, g: int, m: int, k: int, n: int, name: str = "layers.0.op", **meta
) -> Trace:
    rec = OpRecord(
        name=name,
        op_class=op_class,
        shapes=[],
        out_shape=[],
        macs=g * m * k * n,
        elems_in=g * m * k,
        elems_weight=k * n,
        elems_out=g * m * n,
        dims={"g": g, "m": m, "k": k, "n": n},
        meta=dict(meta),
    )
    return Trace([rec], 1, 1, "sample", workloads.stats())


# --- golden values (the parameters of retransformer.yaml) ------------------------------------


def test_static_128x128_matmul_on_paper():
    """One 128-vector through a 128x128 8-bit weight: 2-bit cells -> 4 columns per weight,
    so 4 arrays; 8-bit input through 1-bit DACs -> 8 slices.
      ADC conversions = 8 slices x 128 weights x 4 columns            = 4096
      DAC row drives  = 8 slices x 128 rows x 4 column tiles          = 4096
      array reads     = 8 slices x 4 arrays                           = 32
      cycle = max(100 ns read, 128 columns / 1 ADC / 1.2 GS/s = 106.67 ns)
      time  = 8 x 106.67 ns                                           = 853.33 ns
      energy = 4096 x 0.821114 (ADC) + 4096 x 0.0107593 (row drivers) + 32 x 2.35177 (array)
               + 4096 x 0.130792 (shift-add) pJ (NeuroSim-derived)       = 4018.334 pJ
      movement: 1024 input bits arrive, 4096 go to the arrays (4 column tiles), 2048 out
        buffer    = every bit written, then read: (1024 + 2048) writes
                    + (4096 + 2048) reads = 9216 accesses x 0.08 pJ       = 737.28 pJ
        bus       = (4096 + 2048) x 0.054 pJ                              = 331.776 pJ
        router    = (1024 + 2048) x 0.0810156 pJ                          = 248.880 pJ
        registers = 2 x 4096 x 0.0645833 + 2 x 2048 x 0.154167 pJ        = 1160.535 pJ
                                                                    total = 2478.471 pJ
    """
    xb = Crossbar.from_profile(load_named("retransformer"))
    work = crossbar_mvm(xb, 1, 128, 128)
    assert work.arrays == 4
    assert work.adc_conversions == 4096
    assert work.dac_ops == 4096
    assert work.array_reads == 32
    assert work.time == pytest.approx(8 * 128 / 1.2e9)
    assert work.compute_energy == pytest.approx(4018.334e-12, rel=1e-6)
    assert work.components["buffer"] == pytest.approx(737.28e-12, rel=1e-9)
    assert work.components["router"] == pytest.approx(248.880e-12, rel=1e-5)
    assert work.components["registers"] == pytest.approx(1160.535e-12, rel=1e-5)
    assert work.buffer_energy == pytest.approx(2478.471e-12, rel=1e-5)

    sim = simulate(one_op("matmul_static", 1, 1, 128, 128), load_named("retransformer"))
    assert sim.breakdown["matmul_static"]["energy_J"] == pytest.approx(4018.334e-12, rel=1e-6)
    assert sim.breakdown["data_movement"]["energy_J"] == pytest.approx(2478.471e-12, rel=1e-5)
    assert sim.counters["energy_J.bus"] == pytest.approx(331.776e-12, rel=1e-9)
    assert sim.latency_s_per_sample == pytest.approx(853.333e-9, rel=1e-5)
    assert sim.counters["adc_conversions"] == 4096
    assert sim.counters["arrays_for_static_weights"] == 4


def test_row_tiles_add_partial_sums():
    """k = 300 rows -> 3 row tiles; each tile converts every column; tiles add digitally."""
    xb = Crossbar.from_profile(load_named("retransformer"))
    work = crossbar_mvm(xb, 2, 300, 10)
    assert work.arrays == 3 * 1  # 10 weights x 4 columns = 40 columns: one column tile
    assert work.adc_conversions == 2 * 8 * 3 * 40
    assert work.shift_adds == 2 * 8 * 3 * 40 + 2 * 10 * 2


def test_pipelayer_writes_k_transposed_before_use():
    """Q.K^T with K^T 8 x 4 on PipeLayer (16-bit weights, 4-bit cells -> 4 cells per value):
    8 rows x 4 values x 4 cells = 128 cells; each row (16 cells) fits one 128-wide array line,
    so 8 line writes x 3.91 nJ = 31.28 nJ and 8 x 50.88 ns = 407.04 ns (HPCA'17 NVSim)."""
    sim = simulate(
        one_op("matmul_dynamic", 1, 4, 8, 4, name="layers.0.attn.qk", heads=1),
        load_named("pipelayer"),
    )
    assert sim.counters["cell_writes"] == 128
    assert sim.breakdown["writes"]["energy_J"] == pytest.approx(31.28e-9)
    assert sim.breakdown["writes"]["time_s"] == pytest.approx(407.04e-9)


def test_wide_operand_rows_span_several_array_lines():
    """A 300-wide row of 8-bit values on 2-bit cells is 1200 cells: ceil(1200/128) = 10 lines."""
    xb = Crossbar.from_profile(load_named("retransformer"))
    time, energy, cells = write_operand(xb, 3, 300)
    assert cells == 3 * 1200
    assert energy == pytest.approx(3 * 10 * 3.91e-9)
    assert time == pytest.approx(3 * 7.2e-9)


def test_decode_step_writes_only_new_tokens():
    """A cached decode step (1 query vs 9 keys) writes one new K^T column, not all nine."""
    full = simulate(
        one_op("matmul_dynamic", 1, 9, 8, 9, name="l.0.a.qk", heads=1), load_named("pipelayer")
    )
    step = simulate(
        one_op("matmul_dynamic", 1, 1, 8, 9, name="l.0.a.qk", heads=1), load_named("pipelayer")
    )
    assert step.counters["cell_writes"] * 9 == full.counters["cell_writes"]


def _one_layer_encoder() -> Trace:
    """One encoder layer: d_model 64, 4 heads (d_head 16), d_ff 128, 16 tokens."""
    return workloads.transformer(
        d_model=64,
        heads=4,
        d_ff=128,
        encoder_layers=1,
        decoder_layers=0,
        src_len=16,
        tgt_len=16,
        vocab=0,
    )


def test_retransformer_decomposition_hides_writes_and_drops_kv_projections():
    trace = _one_layer_encoder()
    one_copy = load_named("retransformer").with_value("decomposition.x_head_copies", 1)
    rt = simulate(trace, one_copy)
    pl = simulate(trace, load_named("pipelayer"))
    assert rt.counters["skipped_projection_calls"] == 2  # W_k and W_v of the one attention
    assert rt.breakdown["writes"]["time_s"] == 0.0 and rt.breakdown["writes"]["hidden_time_s"] > 0
    assert pl.breakdown["writes"]["time_s"] > 0
    # X (16 x 64) written once vs K^T and V (2 x 16 x 64): half the cells
    assert rt.counters["cell_writes"] * 2 == pl.counters["cell_writes"]
    # a copy of X per head (4) is written four times over
    four = simulate(trace, one_copy.with_value("decomposition.x_head_copies", 4))
    assert four.counters["cell_writes"] == 4 * rt.counters["cell_writes"]
    # per head the decomposed products reduce over d_model: g.m.d_model.(k + n) per role
    # (4 heads, 16 tokens, d_head 16): 2 x 4.16.64.32 = 262144 MACs replace Q.K^T + S.V
    # (2 x 4.16.16.16 = 32768) and the K, V projections (2 x 16.64.64 = 131072)
    assert rt.effective_macs == pl.effective_macs - 131072 - 32768 + 262144


def test_roofline_golden():
    """GTX 1080: 1024^3 MACs: 2.147 GFLOP / (8.87 TFLOP/s x 0.5 derating) = 484.2 us
    (compute bound) + 5 us launch; energy = 180 W x time."""
    gpu = load_named("gtx-1080")
    sim = simulate(one_op("matmul_static", 1, 1024, 1024, 1024), gpu)
    t = 2 * 1024**3 / (8.87e12 * 0.5) + 5e-6
    assert sim.latency_s_per_sample == pytest.approx(t)
    assert sim.energy_J == pytest.approx(180 * t)


def test_reference_cpu_is_pinned_and_cited():
    """Xeon 8380: 1000^3 MACs = 2 GFLOP / 5.888 TFLOP/s + 2 us; nothing measured."""
    cpu = load_named("cpu")
    sim = simulate(one_op("matmul_static", 1, 1000, 1000, 1000), cpu)
    assert sim.latency_s_per_sample == pytest.approx(2e9 / 5.888e12 + 2e-6)
    for name in ("cpu", "gtx-1080", "titan-rtx", "edge-cpu"):
        for param in load_named(name).params.values():
            assert param.source or (param.assumed and param.why)


def test_priced_rows_are_identical_under_two_homes(tmp_path, monkeypatch):
    """The same trace priced with two different $SEQBENCH_HOMEs (one holding a stale host
    measurement of the old roofline) gives byte-identical records on every profile."""
    trace = workloads.transformer(encoder_layers=1, decoder_layers=1, src_len=16, tgt_len=16)
    rows = []
    for home, flops in (("a", 8e10), ("b", 1.88e11)):
        (tmp_path / home / "accel").mkdir(parents=True)
        (tmp_path / home / "accel" / "host_roofline.json").write_text(
            json.dumps({"peak_flops": flops, "mem_bandwidth": 1e10})
        )
        monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / home))
        profile_mod._CACHE.clear()
        rows.append(json.dumps([simulate(trace, p).to_dict() for p in resolve_profiles("all")]))
    assert rows[0] == rows[1]


def test_nand_search_prices_vvms_from_ices_figures():
    """1M x 512 INT8 = 512 MB = 32,768 pages of 16 KB: 32,768 VVMs, 32 at once (884 mW of
    NAND chips / 26.9 mW per VVM): 1,024 x 53 us = 54.3 ms; energy = 1.4 uJ per VVM + the
    rest of the system (1,227 - 884 mW) for that time."""
    trace = workloads.face_search(gallery=1_000_000, dims=512, k=10)
    sim = simulate(trace, load_named("ice"), host=load_named("edge-cpu"))
    vvms = math.ceil(512e6 / 16384)
    assert sim.counters["nand_vvms"] == vvms and sim.counters["nand_concurrent_vvms"] == 32
    t = math.ceil(vvms / 32) * 53e-6
    assert sim.breakdown["search"]["time_s"] == pytest.approx(t)
    assert sim.breakdown["search"]["energy_J"] == pytest.approx(vvms * 1.4e-6)
    assert sim.energy_J == pytest.approx(vvms * 1.4e-6 + 0.343 * t, rel=1e-3)
    assert not sim.host_fallback  # the search itself runs in NAND


def test_ice_time_falls_with_concurrency_and_energy_never_below_the_vvms():
    """More VVMs at once (a bigger NAND power budget) shorten the search; the energy never
    drops below the VVMs' own, however many run at once."""
    trace = workloads.face_search(gallery=200_000, dims=512, k=10)
    ice, host = load_named("ice"), load_named("edge-cpu")
    times, energies = [], []
    for budget in (26.9, 134.5, 884, 8840):  # 1, 5, 32, 328 VVMs at once
        sim = simulate(trace, ice.with_value("nand.array_power", budget), host=host)
        times.append(sim.latency_s_per_sample)
        energies.append(sim.energy_J)
        assert sim.energy_J >= sim.counters["nand_vvms"] * 1.4e-6
    assert times == sorted(times, reverse=True) and times[0] > 20 * times[-1]
    assert energies == sorted(energies, reverse=True)


def test_ice_falls_back_to_the_host_for_other_ops():
    trace = workloads.transformer(
        d_model=32,
        heads=2,
        d_ff=64,
        encoder_layers=1,
        decoder_layers=1,
        src_len=8,
        tgt_len=8,
        vocab=10,
    )
    ice, cpu = simulate(trace, load_named("ice")), simulate(trace, load_named("cpu"))
    assert set(ice.host_fallback) >= {"matmul_static", "matmul_dynamic", "softmax", "layernorm"}
    assert ice.energy_J == pytest.approx(cpu.energy_J)


# --- monotonicity ---------------------------------------------------------------------------


def _multcim_energy(**stat) -> float:
    trace = workloads.vilbert_base(text_len=8, regions=9, trace_stats=workloads.stats(**stat))
    return simulate(trace, load_named("multcim")).energy_J


@pytest.mark.parametrize("knob", ["attention", "tokens"])
def test_more_sparsity_never_costs_more_energy(knob):
    energies = [_multcim_energy(**{knob: s}) for s in (0.0, 0.2, 0.5, 0.8)]
    assert all(a >= b for a, b in zip(energies, energies[1:], strict=False))
    assert energies[0] > energies[-1]


def test_more_bit_sparsity_never_costs_more_energy():
    energies = [_multcim_energy(eff_bits=b, group_max_bits=7) for b in (7, 5, 3, 1)]
    assert all(a >= b for a, b in zip(energies, energies[1:], strict=False))


def test_mechanisms_reported_separately():
    trace = workloads.vilbert_base(
        text_len=8, regions=9, trace_stats=workloads.stats(attention=0.5, tokens=0.3, eff_bits=4)
    )
    mech = simulate(trace, load_named("multcim")).to_dict()["mechanisms"]
    assert set(mech) == {"attention", "token", "bit", "all"}
    assert all(m["energy_saved_J_per_unit"] > 0 for m in mech.values())


def test_more_adc_bits_never_lowers_energy():
    trace = one_op("matmul_static", 1, 16, 256, 64)
    base = load_named("retransformer")
    energies = [simulate(trace, base.with_value("adc.bits", b)).energy_J for b in (4, 6, 8, 10, 12)]
    assert all(a <= b for a, b in zip(energies, energies[1:], strict=False))


# --- composition ----------------------------------------------------------------------------


def test_pipelining_shortens_period_not_work():
    trace = workloads.transformer(
        d_model=64,
        heads=4,
        d_ff=128,
        encoder_layers=2,
        decoder_layers=2,
        src_len=32,
        tgt_len=32,
        vocab=0,
    )
    pl = simulate(trace, load_named("pipelayer"))
    assert pl.period_s_per_sample < pl.latency_s_per_sample
    assert pl.throughput_units_per_s == pytest.approx(32 / pl.period_s_per_sample)
    d = pl.to_dict()
    for key in (
        "latency_s_per_sample",
        "throughput_units_per_s",
        "unit",
        "energy_J_per_unit",
        "power_W",
        "tops_per_w",
        "breakdown",
        "host_fallback",
        "mechanisms",
    ):
        assert key in d
    assert d["power_W"] == pytest.approx(d["energy_J_per_sample"] / d["period_s_per_sample"])
    assert math.isfinite(d["tops_per_w"]) and d["tops_per_w"] > 0


def test_transformer_base_is_priced_consistently_on_all_profiles():
    """Every profile: the breakdown adds up to the energy, latency >= period, the chip's
    power stays under its peak, utilisation <= 100%, and twice the tokens cost more."""
    # Its speed is a benchmark figure (bench/bench_simulator.py), not a test.
    trace = workloads.transformer()  # 6+6 layers, d_model 512, sequence 128
    longer = workloads.transformer(src_len=256, tgt_len=256)
    for p in resolve_profiles("all"):
        result = simulate(trace, p).to_dict()
        parts = sum(v["energy_J"] for v in result["breakdown"].values())
        assert parts == pytest.approx(result["energy_J_per_sample"], rel=1e-9), p.name
        assert result["latency_s_per_sample"] >= result["period_s_per_sample"] > 0, p.name
        chip = result["chip"]
        if chip is not None:
            assert chip["peak_power_W"] is None or chip["chip_power_W"] <= chip["peak_power_W"]
            assert chip["utilisation"] is None or 0 < chip["utilisation"] <= 1.0
        bigger = simulate(longer, p).to_dict()
        assert bigger["energy_J_per_sample"] > result["energy_J_per_sample"], p.name


def _tiny_transformer(d_model: int = 64, d_ff: int = 256) -> Trace:
    return workloads.transformer(
        d_model=d_model,
        heads=4,
        d_ff=d_ff,
        encoder_layers=2,
        decoder_layers=0,
        src_len=16,
        tgt_len=16,
        vocab=0,
    )


@pytest.mark.parametrize("name", ["pipelayer", "retransformer"])
def test_a_model_larger_than_the_chip_pays_reprogramming(name):
    """The same trace on a chip that holds its weights and on one a quarter the size."""
    trace = _tiny_transformer()
    profile = load_named(name)
    fits = simulate(trace, profile.with_value("chip.tiles", 1)).to_dict()
    need = fits["chip"]["arrays_needed"]
    per_tile = profile.get("chip.arrays_per_tile", "count")
    assert fits["chip"]["weights_fit"] and need <= per_tile
    small = profile.with_value("chip.arrays_per_tile", math.floor(need / 4))
    squeezed = simulate(trace, small.with_value("chip.tiles", 1)).to_dict()
    assert not squeezed["chip"]["weights_fit"] and squeezed["chip"]["reload_rounds"] >= 4
    assert squeezed["chip"]["reload_energy_J_per_batch"] > 0
    assert squeezed["breakdown"]["writes"]["energy_J"] > fits["breakdown"].get("writes", {}).get(
        "energy_J", 0.0
    )
    assert squeezed["latency_s_per_sample"] > fits["latency_s_per_sample"]
    assert squeezed["period_s_per_sample"] > fits["period_s_per_sample"]
    for record in (fits, squeezed):
        assert record["chip"]["utilisation"] <= 1.0


def test_free_arrays_replicate_the_slowest_weights_only_as_far_as_they_fit():
    trace = _tiny_transformer()
    pl = load_named("pipelayer")
    one_tile = simulate(trace, pl.with_value("chip.tiles", 1)).to_dict()["chip"]
    big = simulate(trace, pl.with_value("chip.tiles", 4)).to_dict()
    assert one_tile["replication_max"] >= 1
    assert big["chip"]["replication_max"] > one_tile["replication_max"]
    assert big["chip"]["arrays_used"] <= big["chip"]["arrays_total"]
    assert big["chip"]["utilisation"] <= 1.0
    slow = simulate(trace, pl.with_value("chip.tiles", 1)).to_dict()
    assert big["period_s_per_sample"] < slow["period_s_per_sample"]
    # replication buys time, not energy: the same conversions happen on more arrays
    assert big["energy_J_per_sample"] == pytest.approx(slow["energy_J_per_sample"])


def test_weights_that_do_not_fit_still_replicate_within_their_rounds():
    """VGG-A's weights need about 2.2x ISAAC's arrays: two rounds per batch, and the arrays a
    round leaves over hold copies of its convolutions, so the batch runs faster than one copy
    each would, and every copy is written with its round."""
    trace = workloads.vgg("A")
    sim = simulate(trace, load_named("pipelayer"), host=load_named("cpu")).to_dict()
    chip = sim["chip"]
    assert not chip["weights_fit"] and chip["reload_rounds"] >= 2
    assert chip["replication_max"] > 1
    lines = chip["reload_energy_J_per_batch"] / 3.91e-9 / 128  # arrays written per batch
    assert lines > chip["arrays_needed"]  # the copies too


@pytest.mark.parametrize("name", ["retransformer", "multcim", "ice"])
def test_power_never_exceeds_the_chips_peak(name):
    """With a peak far below what the unconstrained schedule draws, the period stretches."""
    trace = _tiny_transformer() if name != "ice" else workloads.face_search(gallery=100_000)
    profile = load_named(name)
    free = simulate(trace, profile).to_dict()["chip"]
    assert free["chip_power_W"] <= free["peak_power_W"]
    peak = profile.params["chip.peak_power"]
    low = free["chip_power_W"] / 10 * (1e3 if peak.unit == "mW" else 1.0)
    capped = simulate(trace, profile.with_value("chip.peak_power", low)).to_dict()
    assert capped["chip"]["power_capped"]
    assert capped["chip"]["chip_power_W"] == pytest.approx(capped["chip"]["peak_power_W"])
    assert capped["period_s_per_sample"] > simulate(trace, profile).period_s_per_sample


def test_retransformer_heads_run_in_parallel_when_copies_of_x_exist():
    """Per head the weight product (own arrays) runs side by side; the product on X shares
    x_head_copies copies of X, so one copy queues the heads and four copies run all four at
    once. The sub-matrix pipeline (one query row per block) overlaps the two chained
    products: time = max(t_w, t_x) + min(t_w, t_x) / 16 for 16 queries. Q.K^T of 4 heads,
    16 queries, d_head 16 (d_model 64), 16 keys; a pipeline fed all 4 heads per step (the
    profile's own feeds one: test_a_pipeline_fed_one_head_per_step_runs_heads_in_turn)."""
    rt = load_named("retransformer").with_value("pipeline.heads_per_step", 4)
    g, heads, m, d_head, keys = 4, 4, 16, 16, 16
    trace = one_op("matmul_dynamic", g, m, d_head, keys, name="layers.0.attn.qk", heads=heads)
    sv = one_op("matmul_dynamic", g, m, keys, d_head, name="layers.0.attn.sv", heads=heads)
    trace.records.extend(sv.records)
    xb = Crossbar.from_profile(rt)
    d_model = heads * d_head
    # (weight product per head, product on X) for Q.K^T and for S.V
    parts = (
        (crossbar_mvm(xb, m, d_head, d_model).time, crossbar_mvm(xb, m, d_model, keys).time),
        (crossbar_mvm(xb, m, d_model, d_head).time, crossbar_mvm(xb, m, keys, d_model).time),
    )
    times = {}
    for copies in (1, 2, 4, 8):
        result = simulate(trace, rt.with_value("decomposition.x_head_copies", copies))
        expected = 0.0
        for w, x in parts:
            t_w, t_x = g * w / heads, g * x / min(copies, heads)
            expected += max(t_w, t_x) + min(t_w, t_x) / m
        times[copies] = result.breakdown["matmul_dynamic"]["time_s"]
        assert times[copies] == pytest.approx(expected)
    assert times[1] > 3 * times[4] and times[4] == times[8]  # no more heads than 4 to share


def test_submatrix_pipeline_overlaps_the_attention_only():
    """ReTransformer's sub-matrix pipeline is "for multi-head self-attention" (ICCAD'20
    abstract, Sec. 4.4): the attention's products (Q projection, the decomposed Q.K^T and
    S.V, softmax, output projection) overlap row by row, while add & norm and the FFN run op
    after op. One encoder layer: latency = the attention alone + each other op alone."""
    trace = _one_layer_encoder()
    rt = load_named("retransformer")

    def alone(keep) -> float:  # noqa: ANN001
        return simulate(trace, rt, only=keep).latency_s_per_sample

    attention = alone(lambda op: ".self_attention." in op.name)
    others = [op.name for op in trace.records if ".self_attention." not in op.name]
    assert {"encoder.layers.0.ffn.W_1", "encoder.layers.0.ffn.W_2"} <= set(others)
    serial = sum(alone(lambda op, name=name: op.name == name) for name in others)
    assert simulate(trace, rt).latency_s_per_sample == pytest.approx(attention + serial)
    # within the attention the products overlap query row by query row (16 blocks): the
    # longest op + the rest / 16 (to the X write's 0.1 us, hidden there, not alone)
    names = [op.name for op in trace.records if ".self_attention." in op.name]
    times = [alone(lambda op, name=name: op.name == name) for name in names]
    longest = max(times)
    assert attention == pytest.approx(longest + (sum(times) - longest) / 16, rel=0.01)
    assert attention < 0.6 * sum(times)


def test_a_pipeline_fed_one_head_per_step_runs_heads_in_turn_on_both_paths():
    """ReTransformer's sub-matrix pipeline feeds d_k-length segments one per step (Sec. 4.4):
    the heads follow one another whatever arrays they have, on the decomposed path (one
    dual-access copy of X, Sec. 4.2) and on the naive path alike; PipeLayer (no such feed)
    runs its heads side by side. Q.K^T of 4 heads, 16 queries, d_head 16, 16 keys."""
    g, heads, m, d_head, keys = 4, 4, 16, 16, 16
    trace = one_op("matmul_dynamic", g, m, d_head, keys, name="layers.0.attn.qk", heads=heads)
    rt = load_named("retransformer")
    assert rt.get("pipeline.heads_per_step", "count") == 1
    assert rt.get("decomposition.x_head_copies", "count") == 1
    xb = Crossbar.from_profile(rt)
    per_head = crossbar_mvm(xb, m, d_head, keys).time  # the naive product on one head's K^T
    naive = simulate(trace, validate.naive_path(rt)).breakdown["matmul_dynamic"]["time_s"]
    assert naive == pytest.approx(g * per_head)  # in turn: 4 heads one after another
    side = rt.with_value("pipeline.heads_per_step", heads)
    wide = simulate(trace, validate.naive_path(side)).breakdown["matmul_dynamic"]["time_s"]
    assert wide == pytest.approx(g * per_head / heads)
    pl = load_named("pipelayer")
    assert not pl.has("pipeline.heads_per_step")
    pl_xb = Crossbar.from_profile(pl)
    pl_time = simulate(trace, pl).breakdown["matmul_dynamic"]["time_s"]
    assert pl_time == pytest.approx(g * crossbar_mvm(pl_xb, m, d_head, keys).time / heads)


def test_decomposition_metric_counts_both_paths_products():
    """One encoder layer, d_model 64, 4 heads (d_head 16), 16 tokens (g = 4 head-batches):
    naive path = Q, K, V projections 3 x 16.64.64 + Q.K^T and S.V 2 x 4.16.16.16 = 229,376
    MACs; decomposed = Q projection 16.64.64 + per role g.m.d_model.(d_head + keys)
    = 2 x 4.16.64.32: 327,680 MACs (no K, V projections)."""
    trace = _one_layer_encoder()
    rt, cpu = load_named("retransformer"), load_named("cpu")
    naive = validate.matmul_latency(trace, validate.naive_path(rt), cpu)
    decomposed = validate.matmul_latency(trace, rt, cpu)
    assert naive.effective_macs == 3 * 16 * 64 * 64 + 2 * 4 * 16 * 16 * 16 == 229_376
    assert decomposed.effective_macs == 16 * 64 * 64 + 2 * 4 * 16 * 64 * 32 == 327_680
    assert validate.decomposition_speedup(trace, rt, cpu) == pytest.approx(
        naive.latency_s_per_sample / decomposed.latency_s_per_sample
    )


def test_vilbert_base_trace_matches_a_hand_count():
    """ViLBERT-base (config: text 12 x 768 / FFN 3072, visual 6 x 1024 / FFN 1024, 6
    connection layers at 1024 wide with both streams' FFNs), T text tokens, R regions:
      text layer:   4.T.768^2 + 2.T^2.768 + 2.T.768.3072
      visual layer: 4.R.1024^2 + 2.R^2.1024 + 2.R.1024.1024
      connection:   text side  T.768.1024 (Q) + 2.R.1024.1024 (K,V) + 2.T.R.1024 + T.1024.768
                    visual side R.1024.1024 (Q) + 2.T.768.1024 (K,V) + 2.R.T.1024 + R.1024^2
                    FFNs 2.T.768.3072 + 2.R.1024.1024"""
    T, R = 20, 37
    text = 4 * T * 768**2 + 2 * T * T * 768 + 2 * T * 768 * 3072
    visual = 4 * R * 1024**2 + 2 * R * R * 1024 + 2 * R * 1024 * 1024
    connection = (
        T * 768 * 1024
        + 2 * R * 1024 * 1024
        + 2 * T * R * 1024
        + T * 1024 * 768
        + R * 1024 * 1024
        + 2 * T * 768 * 1024
        + 2 * R * T * 1024
        + R * 1024 * 1024
        + 2 * T * 768 * 3072
        + 2 * R * 1024 * 1024
    )
    trace = workloads.vilbert_base(text_len=T, regions=R)
    assert sum(r.macs * r.count for r in trace.records) == 12 * text + 6 * visual + 6 * connection
    co = [r for r in trace.records if r.name.startswith("co.layers.0.") and r.role == "qk"]
    assert {r.meta["heads"] for r in co} == {8} and {r.dims["k"] for r in co} == {128}
    assert trace.units == T + R


def test_adc_energy_follows_accelergys_table_not_a_line():
    """Accelergy's ISAAC ADC table: 8 bits 1.67 pJ, 10 bits 2.379 pJ, 4 bits 0.79 pJ (ISAAC's
    own 8-bit ADC is 1.66667 pJ: the table's ratios scale it)."""
    rt = load_named("isaac")
    rated = Crossbar.from_profile(rt).adc_energy
    assert rated == pytest.approx(1.66667e-12)
    ten = Crossbar.from_profile(rt.with_value("adc.bits", 10)).adc_energy
    four = Crossbar.from_profile(rt.with_value("adc.bits", 4)).adc_energy
    assert ten == pytest.approx(2.379022742e-12 / 1.67 * 1.66667)
    assert four == pytest.approx(0.79e-12 / 1.67 * 1.66667)
    assert ten / rated > 10 / 8  # faster than linear in the bits
    twelve = Crossbar.from_profile(rt.with_value("adc.bits", 12)).adc_energy
    assert twelve == pytest.approx(4 * ten)  # beyond the table: x2 per bit


def test_attention_sparsity_is_not_credited_to_q_k_transposed():
    """Without a predictor the scores must all be computed: only S.V skips work."""
    trace = workloads.vilbert_base(text_len=8, regions=9, trace_stats=workloads.stats(0.5, 0.3))
    multcim = load_named("multcim")
    for rec in (r for r in trace.records if r.op_class == "matmul_dynamic"):
        single = Trace([rec], 1, 1, "token", trace.stats)
        kept = simulate(single, multcim).effective_macs / (rec.macs * rec.count)
        assert kept == (1.0 if rec.role == "qk" else pytest.approx(0.5 * 0.7)), rec.name
