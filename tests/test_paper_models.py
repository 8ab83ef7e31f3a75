"""The papers' workloads from real definitions agree with accel/workloads.py's hand-built
traces (per-op-class MACs within 1%; they agree exactly), traced on meta tensors."""

from __future__ import annotations

import collections

import pytest
import torch

from seqbench.accel import workloads
from seqbench.external import paper_models
from seqbench.trace import Trace
from seqbench.trace_aten import trace_forward


def macs_per_class(trace: Trace) -> dict[str, int]:
    totals: collections.Counter = collections.Counter()
    for r in trace.records:
        totals[r.op_class] += r.macs * r.count
    return {k: v for k, v in totals.items() if v}


def assert_within_1_percent(traced: Trace, analytic: Trace) -> None:
    a, b = macs_per_class(traced), macs_per_class(analytic)
    assert set(a) == set(b)
    for op_class, macs in b.items():
        assert abs(a[op_class] - macs) <= 0.01 * macs, (op_class, a[op_class], macs)


def traced(model) -> Trace:  # noqa: ANN001
    return trace_forward(model.module, model.inputs, unit=model.unit, units=model.units)


def test_transformer_base_as_nn_transformer_agrees_with_the_analytic_trace():
    with torch.device("meta"):
        model = paper_models.transformer_base(src_len=32, tgt_len=24, vocab=1000)
    trace = traced(model)
    assert_within_1_percent(trace, workloads.transformer(src_len=32, tgt_len=24, vocab=1000))
    assert trace.meta["unknown_ops"] == {}
    roles = collections.Counter(r.role for r in trace.records if r.op_class == "matmul_dynamic")
    assert roles == {"qk": 18, "sv": 18}  # 6 encoder + 2 x 6 decoder attentions


def test_transformer_base_as_a_marian_configuration_agrees_too():
    pytest.importorskip("transformers")
    from seqbench.external.hf import build_hf

    model = build_hf("Helsinki-NLP/opus-mt-en-de", seq_len=64, shapes_only=True)
    analytic = workloads.transformer(src_len=64, tgt_len=64, vocab=58101)
    assert_within_1_percent(traced(model), analytic)


def test_vilbert_base_streams_agree_with_the_analytic_trace():
    with torch.device("meta"):
        model = paper_models.vilbert_base(workloads.VILBERT_BASE, text_len=20, regions=37)
    trace = traced(model)
    assert_within_1_percent(trace, workloads.vilbert_base(text_len=20, regions=37))
    names = {r.name for r in trace.records}
    assert {"co.layers.5.visual_attention.qk", "visual.layers.0.self_attention.W_q"} <= names


def test_alexnet_agrees_with_the_analytic_trace():
    with torch.device("meta"):
        model = paper_models.image_model(paper_models.AlexNet(), "alexnet", 227, batch=2)
    assert_within_1_percent(traced(model), workloads.alexnet(batch=2))


@pytest.mark.parametrize("config", ["A", "C", "D", "E"])
def test_vgg_matches_its_hand_count(config):
    with torch.device("meta"):
        model = paper_models.image_model(paper_models.VGG(config), f"vgg-{config}", 224)
    trace = traced(model)
    # Hand count: every 3x3 conv at its feature-map size (224 halved after each pool).
    expected, size, channels = 0, 224, 3
    for item in paper_models.VGG_CONFIGS[config]:
        if item == "M":
            size //= 2
            continue
        kernel, out = (1, int(item[2:])) if isinstance(item, str) else (3, item)  # C's 1x1
        expected += size * size * channels * kernel * kernel * out
        channels = out
    assert macs_per_class(trace)["conv"] == expected
    assert macs_per_class(trace)["matmul_static"] == 25088 * 4096 + 4096 * 4096 + 4096 * 1000
    if hasattr(workloads, "vgg"):  # issue 27's analytic VGG, when it has landed
        assert_within_1_percent(trace, workloads.vgg(config, batch=1))


@pytest.mark.parametrize(
    ("name", "hand"),
    [
        ("mnist-mlp", {"matmul_static": 784 * 500 + 500 * 250 + 250 * 10}),
        ("mnist-cnn", {"conv": 24 * 24 * 25 * 20 + 8 * 8 * 500 * 50, "matmul_static": 405000}),
    ],
)
def test_pipelayers_mnist_networks_match_hand_counts(name, hand):
    with torch.device("meta"):
        model = paper_models.PAPERS[name](0, 1, 0)
    trace = traced(model)
    assert macs_per_class(trace) == hand  # 405,000 = 800 x 500 + 500 x 10
    analytic = getattr(workloads, name.replace("-", "_"), None)
    if analytic is not None:  # issue 27's analytic MNIST networks
        assert_within_1_percent(trace, analytic(batch=1))


def test_price_paper_runs_a_definition_from_the_command_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from seqbench import results
    from seqbench.cli.main import cli

    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["price", "--paper", "alexnet", "--accel", "cpu"])
    assert result.exit_code == 0, result.output
    (record,) = results.load_all()
    assert record["trace"]["macs_total"] == sum(
        r.macs * r.count for r in workloads.alexnet(batch=1).records
    )
    bad = CliRunner().invoke(cli, ["price", "--paper", "alexnet", "--hf", "gpt2"])
    assert bad.exit_code == 2 and "exactly one of" in bad.output
