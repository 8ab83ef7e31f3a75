"""Tracer: operator records of real forward passes and decodes, measured statistics, caching."""

from __future__ import annotations

import collections

import pytest
import torch
from torch import nn

from seqbench import ops
from seqbench.accel import workloads
from seqbench.errors import SeqbenchError
from seqbench.trace import Trace, Tracer


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


class TinyAttention(nn.Module):
    """Projections, Q.K^T, softmax, S.V, output projection and a layer norm, from seqbench.ops."""

    def __init__(self, d: int = 16, heads: int = 2):
        super().__init__()
        self.heads = heads
        self.W_q, self.W_k, self.W_v, self.W_o = (ops.Linear(d, d) for _ in range(4))
        self.norm = ops.LayerNorm(d)
        ops.name_modules(self)
        self.trace_name = "block"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, L, self.heads, d // self.heads).transpose(1, 2)

        out, _ = ops.scaled_dot_product_attention(
            split(self.W_q(x)), split(self.W_k(x)), split(self.W_v(x)), name="layers.0.attention"
        )
        return self.norm(x + self.W_o(out.transpose(1, 2).reshape(B, L, d)))


def trace_of(fn, samples=1, units=1) -> Trace:  # noqa: ANN001
    tracer = Tracer()
    with torch.no_grad(), ops.hooks(tracer):
        fn()
    return tracer.finish(samples=samples, units=units, unit="token")


def test_tiny_attention_lists_qk_and_sv_as_dynamic_matmuls():
    block = TinyAttention()
    x = torch.randn(3, 5, 16)
    trace = trace_of(lambda: block(x), samples=3, units=15)
    dynamic = {r.name: r for r in trace.records if r.op_class == "matmul_dynamic"}
    assert set(dynamic) == {"layers.0.attention.qk", "layers.0.attention.sv"}
    qk, sv = dynamic["layers.0.attention.qk"], dynamic["layers.0.attention.sv"]
    assert (qk.role, sv.role) == ("qk", "sv")
    assert qk.dims == {"g": 6, "m": 5, "k": 8, "n": 5} and qk.meta["heads"] == 2
    assert sv.dims == {"g": 6, "m": 5, "k": 5, "n": 8}
    assert qk.macs == 6 * 5 * 8 * 5 and qk.weight_operand is None
    static = [r for r in trace.records if r.op_class == "matmul_static"]
    assert len(static) == 4
    assert all(
        r.weight_operand == 1 and r.dims == {"g": 1, "m": 15, "k": 16, "n": 16} for r in static
    )
    assert all(r.elems_weight == 256 for r in static)
    classes = collections.Counter(r.op_class for r in trace.records)
    assert classes["softmax"] == 1 and classes["layernorm"] == 1
    assert qk.stage == "layers.0"


def test_identical_calls_merge_with_a_count():
    block = TinyAttention()
    x = torch.randn(2, 4, 16)

    def twice() -> None:
        block(x)
        block(x)

    trace = trace_of(twice, samples=4, units=16)
    assert len(trace.records) == len(trace_of(lambda: block(x)).records)
    assert {r.count for r in trace.records} == {2}
    summary = trace.summary()
    assert summary["ops"]["matmul_dynamic"]["calls"] == 4
    assert summary["macs_total"] == sum(r.macs * r.count for r in trace.records)


def test_attention_and_token_sparsity_measured():
    # one query over four keys with probabilities 0.6, 0.25, 0.13, 0.02 (softmax of the logs)
    scores = torch.log(torch.tensor([[[0.6, 0.25, 0.13, 0.02]]]))
    trace = trace_of(lambda: ops.softmax(scores, dim=-1, name="a.softmax"))
    attention = trace.stats["attention_sparsity"]
    # thresholds are multiples of the row's uniform share 1/4: 0.02 is under 0.1 x 0.25
    assert attention["0.1"] == pytest.approx(0.25)
    assert attention["0.5"] == pytest.approx(0.25)  # 0.13 is not under 0.125
    tokens = trace.stats["token_sparsity"]
    # keep the most attended keys until their share reaches theta: 0.6, 0.85, 0.98, 1.0
    assert tokens["0.9"] == pytest.approx(0.25)  # three keys reach 0.98 >= 0.9
    assert tokens["0.99"] == pytest.approx(0.0)  # all four needed


def test_masked_probabilities_are_not_counted_as_sparse():
    scores = torch.tensor([[[0.0, 0.0, float("-inf"), float("-inf")]]])
    trace = trace_of(lambda: ops.softmax(scores, dim=-1, name="a.softmax"))
    assert trace.stats["attention_sparsity"]["0.5"] == 0.0


def test_bit_sparsity_of_quantized_inputs():
    # 8-bit symmetric: max 1.0 -> 127 (7 bits); 1/127 -> 1 (1 bit); 0 -> 0 bits
    x = torch.tensor([[1.0, 1 / 127, 0.0, 0.0] * 4])
    w = torch.zeros(3, 16)
    trace = trace_of(lambda: ops.linear(x, w, name="fc"))
    bits = trace.stats["bit_sparsity"]["static_input"]
    assert bits["mean_eff_bits"] == pytest.approx((7 + 1) / 4)
    assert bits["mean_group_max_bits"] == pytest.approx(7)
    assert bits["zero_bit_fraction"] == pytest.approx(1 - (7 + 1) / (4 * 7))


def test_save_load_roundtrip(tmp_path):
    block = TinyAttention()
    trace = trace_of(lambda: block(torch.randn(1, 3, 16)))
    path = tmp_path / "t" / "trace.json"
    trace.save(path)
    loaded = Trace.load(path)
    assert loaded.to_dict() == trace.to_dict()
    with pytest.raises(SeqbenchError, match="unknown trace unit"):
        Tracer().finish(samples=1, units=1, unit="furlong")


def _tiny_transformer():
    from seqbench.models import build_model

    config = dict(
        src_vocab_size=12,
        tgt_vocab_size=11,
        d_model=16,
        num_heads=2,
        num_encoder_layers=2,
        num_decoder_layers=1,
        d_ff=32,
        dropout=0.0,
    )
    return build_model("transformer", config).eval()


def test_registered_transformer_forward_matches_the_analytic_workload():
    model = _tiny_transformer()
    src, tgt = torch.randint(4, 12, (2, 6)), torch.randint(4, 11, (2, 5))
    trace = trace_of(lambda: model(src, tgt), samples=2, units=10)
    ours = collections.Counter()
    for r in trace.records:
        ours[r.op_class] += r.macs * r.count
    analytic = workloads.transformer(
        d_model=16,
        heads=2,
        d_ff=32,
        encoder_layers=2,
        decoder_layers=1,
        src_len=6,
        tgt_len=5,
        vocab=11,
        batch=2,
    )
    theirs = collections.Counter()
    for r in analytic.records:
        theirs[r.op_class] += r.macs * r.count
    assert ours["matmul_static"] == theirs["matmul_static"]
    assert ours["matmul_dynamic"] == theirs["matmul_dynamic"]
    dynamic = {r.name for r in trace.records if r.op_class == "matmul_dynamic"}
    assert {"encoder.layers.0.self_attention.qk", "decoder.layers.0.cross_attention.sv"} <= dynamic


def test_registered_transformer_decode_steps_stay_small():
    model = _tiny_transformer()
    src = torch.randint(4, 12, (2, 6))

    def decode() -> None:
        state = model.start(src)
        tokens = torch.full((2,), model.bos_id)
        for _ in range(6):
            logits, state = model.step(state, tokens)
            tokens = logits.argmax(-1)

    trace = trace_of(decode, samples=2, units=12)
    step_qk = [r for r in trace.records if r.name == "decoder.layers.0.self_attention.qk"]
    assert len(step_qk) == 6  # the cache grows: one record per key length
    assert all(r.dims["m"] == 1 for r in step_qk)
    cross = [r for r in trace.records if r.name == "decoder.layers.0.cross_attention.qk"]
    assert len(cross) == 1 and cross[0].count == 6  # same shape every step: merged
    assert trace.stats["seq_len"]["max_key"] == 6
