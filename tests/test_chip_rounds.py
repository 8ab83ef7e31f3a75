"""PipeLayer's timing and the planner's rounds: hand counts of the cycle rule, the pipeline
within a round, and the choice between holding every weight and loading them in rounds."""

from __future__ import annotations

import pytest

from seqbench.accel import chip_power, cost, workloads
from seqbench.accel.chip import (
    Chip,
    Placement,
    resident_plan,
    round_schedule,
    rounds_lower_bound,
    rounds_plan,
)
from seqbench.accel.cost import simulate
from seqbench.accel.mappings.reram import Crossbar, crossbar_mvm
from seqbench.accel.profile import load_named
from seqbench.accel.validate_retransformer import TRANSFORMER_BASE


def test_a_pipelayer_conv_layer_takes_16_spikes_per_input_vector():
    """HPCA'17's example layer: a 1152 x 256 kernel matrix (3x3x128 -> 256) over 112 x 112 =
    12,544 input vectors without replication. 9 row tiles x 256 weights x 4 cells / 128
    columns = 72 arrays, all read at once; each vector is 16 one-bit spikes of 29.31 ns
    (NVSim), every bitline counted by its own integrate-and-fire unit."""
    xb = Crossbar.from_profile(load_named("pipelayer"))
    work = crossbar_mvm(xb, 12_544, 1152, 256)
    assert work.arrays == 9 * 8
    assert work.time == pytest.approx(12_544 * 16 * 29.31e-9)
    # one conversion per column per spike: 256 weights x 4 cells x 9 row tiles x 16 spikes
    assert work.adc_conversions == 12_544 * 16 * 9 * 256 * 4


def test_pipelayer_peak_is_its_arrays_at_one_vector_per_16_spikes():
    pl = load_named("pipelayer")
    per_array = 128 * 32 * 2 / (16 * 29.31e-9)  # 32 16-bit weights of 4 4-bit cells per row
    assert chip_power.peak_ops_per_s(pl) == pytest.approx(168 * 96 * per_array)


def test_within_a_round_the_batch_streams_through_its_layers():
    """Two rounds: layers a (3 s) and b (1 s) together, then c (2 s), batch of 4. Round one
    takes the slowest layer plus one sample's time through the other as the pipeline fills:
    3 + 1 / 4; round two 2; the rounds run in turn. A stage no round holds runs alone."""
    times = {"a": 3.0, "b": 1.0, "c": 2.0, "relu": 0.5}
    assert round_schedule([(["a", "b"], 1), (["c"], 1)], times, 4) == pytest.approx(
        3 + 1 / 4 + 2 + 0.5
    )
    # a layer too large for one round runs its two parts one after another
    assert round_schedule([(["a"], 2)], {"a": 3.0}, 4) == pytest.approx(6.0)


def test_the_planner_offers_rounds_that_copy_the_slow_layer_more():
    """A chip of 10 arrays: a slow layer on 1 array and a fast one on 8. Held together, the
    slow one gets the one spare array (8 s / 2 copies = 4 s a batch); in rounds it gets the
    other nine spare arrays (8 s / 10 copies) and the fast one runs after it: 0.8 + 1 s."""
    chip = Chip(arrays=10, peak_power=None, array_rows=128)
    slow = Placement("slow", 1, 8.0, 100.0, "layer.0")
    fast = Placement("fast", 8, 1.0, 100.0, "layer.1")
    held = resident_plan(chip, [slow, fast], 0.0, 0.0)
    assert held is not None and held.fits and held.replication == {"slow": 2, "fast": 1}
    rounds = rounds_plan(chip, [slow, fast], 0.0, 0.0)
    assert not rounds.fits and rounds.rounds == 2
    assert rounds.round_stages == [(["layer.0"], 1), (["layer.1"], 1)]
    assert rounds.replication == {"slow": 10, "fast": 1}
    # no schedule in rounds beats all the work spread over the chip plus one reload
    assert rounds_lower_bound(chip, [slow, fast], 0.0) == pytest.approx((8 + 8) / 10)
    # weights that do not fit have no resident plan
    assert resident_plan(Chip(arrays=8, peak_power=None), [slow, fast], 0.0, 0.0) is None


def test_the_plan_is_chosen_by_the_whole_period_so_it_never_jumps():
    """PipeLayer on Transformer-base holds every weight; its period is set by the K^T / V
    writes, which replication cannot shorten. Choosing the plan by crossbar time alone once
    flipped it to rounds between a 36.4 and a 38 ns read (0.96 -> 6.8 ms per sample); the
    whole composed period keeps it resident and the period grows smoothly with the read."""
    pl, cpu = load_named("pipelayer"), load_named("cpu")
    trace = workloads.transformer(**TRANSFORMER_BASE)
    periods = []
    for ns in (30, 34, 36.4, 38, 40, 45):
        sim = simulate(trace, pl.with_value("crossbar.read_latency", ns), host=cpu)
        assert sim.chip is not None and sim.chip["weights_fit"]
        periods.append(sim.period_s_per_sample)
    steps = [b / a for a, b in zip(periods, periods[1:], strict=False)]
    assert all(1.0 <= s < 1.2 for s in steps), steps


def test_alexnet_runs_faster_in_rounds_than_with_its_fc_weights_held():
    """On ISAAC's 16,128 arrays AlexNet's FC weights fill most of the chip for 8% of the
    MACs; loading them in rounds frees the arrays for copies of the convolutions."""
    pl, cpu = load_named("pipelayer"), load_named("cpu")
    trace = workloads.alexnet()
    sim = simulate(trace, pl, host=cpu)
    assert sim.chip is not None and not sim.chip["weights_fit"] and sim.chip["reload_rounds"] >= 2
    assert sim.chip["arrays_needed"] <= sim.chip["arrays_total"]
    assert any("faster than holding them all" in n for n in sim.notes)
    # MNIST's MLP, on 1% of the arrays with copies in the rest, stays resident
    mlp = simulate(workloads.mnist_mlp(), pl, host=cpu)
    assert mlp.chip is not None and mlp.chip["weights_fit"]


@pytest.mark.parametrize(
    ("profile", "trace"),
    [
        ("pipelayer", workloads.transformer(**TRANSFORMER_BASE)),
        ("pipelayer", workloads.alexnet()),
        ("pipelayer", workloads.mnist_mlp()),
        ("isaac", workloads.transformer(**TRANSFORMER_BASE)),
    ],
)
def test_the_bound_that_skips_the_round_search_is_below_every_plan_in_rounds(profile, trace):
    """With every weight product's time gone each stage keeps its written operands and vector
    ops, and no copies shorten those: the searched plan in rounds, composed whole, never
    runs a batch faster than the bound that lets ``simulate`` skip the search."""
    p, cpu = load_named(profile), load_named("cpu")
    priced = cost._price_trace(trace, p, cpu)
    chip = Chip.from_profile(p)
    assert chip is not None
    placements, pinned, operands, by_stage = cost._placements(priced)
    rounds = rounds_plan(chip, placements, pinned, operands, by_stage)
    period = cost._compose_simulation(priced, rounds, None).period_s_per_sample * trace.samples
    floor = cost._stages_floor(priced)
    assert floor > 0
    assert rounds_lower_bound(chip, placements, operands, floor) <= period


def test_pipelayer_on_transformer_base_never_searches_rounds(monkeypatch):
    """Its resident period (the K^T / V writes) is below the least time any plan in rounds
    could take, so the round search, three quarters of the simulation's time, is skipped."""

    def searched(*args, **kwargs):
        raise AssertionError("the round search ran")

    monkeypatch.setattr(cost, "rounds_plan", searched)
    sim = simulate(workloads.transformer(**TRANSFORMER_BASE), load_named("pipelayer"))
    assert sim.chip is not None and sim.chip["weights_fit"]
