"""The ATen-level tracer: any module's forward pass as the same OpRecords ops.py records."""

from __future__ import annotations

import collections
from dataclasses import asdict

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from seqbench import ops
from seqbench.accel.cost import simulate
from seqbench.accel.profile import list_profiles, load_named
from seqbench.errors import SeqbenchError
from seqbench.models.registry import build_model
from seqbench.trace import Tracer
from seqbench.trace_aten import trace_forward


@pytest.fixture(autouse=True)
def seeded() -> None:
    torch.manual_seed(0)  # the random weights and inputs of every test here


def per_class(trace) -> dict[str, tuple[int, int, int, int]]:  # noqa: ANN001
    """op class -> (MACs, elements in, weight elements, elements out), summed over calls."""
    totals: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0])
    for r in trace.records:
        for i, v in enumerate((r.macs, r.elems_in, r.elems_weight, r.elems_out)):
            totals[r.op_class][i] += v * r.count
    return {k: tuple(v) for k, v in totals.items()}


def seqbench_transformer() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    config = {"src_vocab_size": 50, "tgt_vocab_size": 60, "d_model": 32, "num_heads": 4}
    config |= {"d_ff": 64, "num_encoder_layers": 2, "num_decoder_layers": 2}
    model = ops.name_modules(build_model("transformer", config)).eval()
    src = torch.randint(3, 50, (2, 7))
    src[1, 5:] = 0  # padding: masked attention in the statistics
    return model, src, torch.randint(3, 60, (2, 5))


def test_seqbench_transformer_traced_both_ways_is_the_same_trace_and_cost():
    model, src, tgt = seqbench_transformer()
    tracer = Tracer()
    with torch.no_grad(), ops.hooks(tracer):
        model(src, tgt)
    by_ops = tracer.finish(samples=2, units=10, unit="token")
    by_aten = trace_forward(model, (src, tgt), unit="token", units=10)
    assert per_class(by_aten) == per_class(by_ops)
    assert by_aten.stats == by_ops.stats
    # Record for record the same, but for the tied output projection: ops.py names it
    # in code ("output_projection"); at the ATen level it is the root's functional linear.
    renamed = {"output_projection": "linear"}
    expected = [asdict(r) | {"name": renamed.get(r.name, r.name)} for r in by_ops.records]
    assert [asdict(r) for r in by_aten.records] == expected
    assert by_aten.meta["unknown_ops"] == {}
    for name in list_profiles():
        profile = load_named(name)
        a, b = simulate(by_ops, profile).to_dict(), simulate(by_aten, profile).to_dict()
        for key in ("latency_s_per_sample", "period_s_per_sample", "energy_J_per_unit"):
            assert a[key] == b[key], (name, key)
        assert a["breakdown"] == b["breakdown"], name


class Block(nn.Module):
    """Attention written with torch ops (no seqbench.ops): explicit and fused forms."""

    def __init__(self, d: int = 16, heads: int = 2, fused: bool = False):
        super().__init__()
        self.heads, self.fused = heads, fused
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, d = x.shape
        q, k, v = (
            t.view(B, L, self.heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1)
        )
        if self.fused:
            context = nn.functional.scaled_dot_product_attention(q, k, v)
        else:
            scores = torch.matmul(q, k.transpose(-2, -1)) / (d // self.heads) ** 0.5
            context = torch.softmax(scores, dim=-1) @ v
        return self.norm(x + self.out(context.transpose(1, 2).reshape(B, L, d)))


class Net(nn.Module):
    def __init__(self, fused: bool = False):
        super().__init__()
        self.layers = nn.ModuleList([Block(fused=fused), Block(fused=fused)])
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.nn.functional.gelu(layer(x))
        return self.head(x)


@pytest.mark.parametrize("fused", [False, True])
def test_attention_products_are_named_after_the_module_and_counted_by_hand(fused):
    model, x = Net(fused).eval(), torch.randn(3, 5, 16)
    trace = trace_forward(model, (x,), unit="token", units=15)
    names = {r.name: r for r in trace.records}
    qk, sv = names["layers.1.qk"], names["layers.1.sv"]
    assert (qk.op_class, qk.role, sv.role) == ("matmul_dynamic", "qk", "sv")
    assert qk.dims == {"g": 6, "m": 5, "k": 8, "n": 5} and qk.meta["heads"] == 2
    assert sv.dims == {"g": 6, "m": 5, "k": 5, "n": 8}
    assert names["layers.1.softmax"].op_class == "softmax"
    assert names["layers.0.qkv"].dims == {"g": 1, "m": 15, "k": 16, "n": 48}
    assert names["layers.0.norm"].op_class == "layernorm"
    assert names["gelu"].meta["kind"] == "gelu"
    static = 2 * 15 * (16 * 48 + 16 * 16) + 15 * 16 * 4
    dynamic = 2 * 2 * 6 * 5 * 8 * 5
    macs = {c: m for c, (m, *_) in per_class(trace).items() if m}
    assert macs == {"matmul_static": static, "matmul_dynamic": dynamic}
    assert trace.stats["attention_sparsity"] and trace.stats["seq_len"]["max_key"] == 5


def test_macs_agree_with_torch_flop_counter():
    # flop_counter counts 2 FLOPs per MAC of mm/addmm/bmm/convolution and ignores the rest;
    # it has no formula for the CPU flash-attention kernel, so the explicit form is compared.
    model, x = Net(fused=False).eval(), torch.randn(3, 5, 16)
    trace = trace_forward(model, (x,))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    assert 2 * sum(r.macs * r.count for r in trace.records) == counter.get_total_flops()


def test_convolutions_are_static_products_of_the_module_that_owns_the_kernel():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, stride=2))
    trace = trace_forward(model.eval(), (torch.randn(2, 3, 10, 10),))
    convs = [r for r in trace.records if r.op_class == "conv"]
    assert [r.name for r in convs] == ["0", "2"]
    assert convs[0].macs == 2 * 10 * 10 * 8 * 3 * 9 and convs[1].macs == 2 * 4 * 4 * 4 * 8 * 9
    assert convs[1].meta == {"stride": 2, "padding": 0}


def test_meta_tensors_count_macs_from_shapes_alone():
    with torch.device("meta"):
        model = Net()
    trace = trace_forward(model, (torch.empty(3, 5, 16, device="meta"),), stats=True)
    real = trace_forward(Net(), (torch.randn(3, 5, 16),))
    assert per_class(trace) == per_class(real)


class Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(self.proj(x), dim=-1)  # no table lists cumsum


def test_an_unknown_op_is_listed_priced_on_the_host_and_counted():
    trace = trace_forward(Odd().eval(), (torch.randn(2, 8),))
    assert trace.meta["unknown_ops"] == {"aten.cumsum": 1}
    (odd,) = [r for r in trace.records if r.meta.get("unknown")]
    assert odd.op_class == "elementwise" and odd.name == "cumsum" and odd.elems_out == 16
    sim = simulate(trace, load_named("retransformer"))
    assert sim.host_fallback["elementwise"]["calls"] > 0  # retransformer maps elementwise
    assert simulate(trace, load_named("cpu")).energy_J > 0  # the host prices it itself


def test_a_forward_that_needs_inputs_not_given_is_refused_in_one_line():
    with pytest.raises(SeqbenchError, match="does not take the example inputs"):
        trace_forward(Net(), ())
