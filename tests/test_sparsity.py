"""MulTCIM's attention and token sparsity: length-independent rules, one decision for the
function (effects) and the cost (trace -> digital CIM mapping)."""

from __future__ import annotations

import pytest
import torch

from seqbench import ops, sparsity
from seqbench.accel import profile as profile_mod
from seqbench.accel.effects import SoftmaxEffect, priced_trace, pruning_shares
from seqbench.accel.mappings import MAPPINGS, Context
from seqbench.accel.profile import load_named
from seqbench.trace import Tracer


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A private home; profiles are read fresh."""
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    monkeypatch.setattr(profile_mod, "_CACHE", {})


def _mass_lost(probs: torch.Tensor, effects: set[str]) -> float:
    """Share of the row's attention mass the profile's rules drop (before renormalising)."""
    hook = SoftmaxEffect(load_named("multcim"), effects)
    out = hook.transform_output(
        ops.OpClass.SOFTMAX, "x.softmax", (probs.log(),), probs, {"dim": -1}
    )
    return float(probs[out == 0].sum() / probs.sum())


@pytest.mark.parametrize(
    "effects", [{"sparse_attention"}, {"token_pruning"}, {"sparse_attention", "token_pruning"}]
)
def test_a_uniform_row_loses_the_same_share_at_26_and_229_keys(effects):
    """The old fixed 0.01 threshold dropped nothing of a uniform 26-key row (0.038 each) and
    all of a 229-key one (0.0044 each); relative to the row both lose the same: nothing."""
    lost = [_mass_lost(torch.full((1, 2, 3, n), 1.0 / n), effects) for n in (26, 229)]
    assert lost[0] == pytest.approx(lost[1], abs=1e-6) and lost[0] == pytest.approx(0.0)
    old = [float((torch.full((n,), 1.0 / n) < 0.01).float().mean()) for n in (26, 229)]
    assert old == [0.0, 1.0]  # what the fixed threshold did


@pytest.mark.parametrize(
    "effects", [{"sparse_attention"}, {"token_pruning"}, {"sparse_attention", "token_pruning"}]
)
def test_a_row_of_the_same_shape_loses_about_the_same_share_at_both_lengths(effects):
    """A peaked row sampled at 26 and at 229 points of one curve: the dropped mass differs by
    less than the coarser row's resolution (one key of 26 holds about 1/26 of it)."""

    def row(n: int) -> torch.Tensor:
        z = torch.linspace(-3, 3, n)
        p = torch.exp(-0.5 * z**2 * 4)
        return (p / p.sum()).view(1, 1, 1, n)

    short, long = _mass_lost(row(26), effects), _mass_lost(row(229), effects)
    assert short > 0 and long > 0
    assert abs(short - long) < 1 / 26, (short, long)


def test_ties_at_the_cutoff_are_kept():
    probs = torch.tensor([[[[0.4, 0.2, 0.2, 0.2]]]])
    # 0.95 needs all four; 0.5 needs 0.4 + one 0.2, and the other 0.2s tie with it
    assert not sparsity.pruned_keys(probs, 0.5).any()
    assert sparsity.pruned_keys(probs, 0.3).flatten().tolist() == [False, True, True, True]


def _encoder_model():
    from seqbench.models import build_model

    torch.manual_seed(0)
    config = dict(src_vocab_size=30, tgt_vocab_size=11, d_model=32, num_heads=2, d_ff=32)
    config.update(num_encoder_layers=3, num_decoder_layers=1, dropout=0.0)
    model = build_model("transformer", config).eval()
    with torch.no_grad():  # sharpen attention so the pruner has something to prune
        for layer in model.encoder.layers:
            layer.self_attention.W_q.weight.mul_(6)
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, 30, (3, 17), generator=g)
    src[2, 12:] = 0  # padding in one sequence
    tgt = torch.randint(4, 11, (3, 5), generator=g)
    return model, src, tgt


class _Seen(ops.OpHook):
    """Each attention's probabilities at this hook's place in the chain (before or after the
    effect) and, after it, the tokens the effect's pruner has removed so far."""

    def __init__(self, effect: SoftmaxEffect | None = None) -> None:
        self.effect = effect
        self.probs: dict[str, torch.Tensor] = {}
        self.removed: dict[str, torch.Tensor] = {}

    def transform_output(self, op_class, name, inputs, output, meta):  # noqa: ANN001
        if op_class == ops.OpClass.SOFTMAX:
            self.probs[name] = output.detach().clone()
            stream = self.effect and self.effect.pruner._streams.get("encoder.layers")
            if stream is not None:
                self.removed[name] = stream.pruned.clone()
        return output


def test_the_cost_model_prices_exactly_the_tokens_the_function_kept():
    """MulTCIM's pruned tokens are the same in cost and in function: S.V is charged for the
    probabilities the function left nonzero, and in every later encoder layer the K/V
    projections and Q.K^T columns of the tokens the function removed are not charged."""
    model, src, tgt = _encoder_model()
    profile = load_named("multcim")
    effect = SoftmaxEffect(profile, {"token_pruning", "sparse_attention"})
    raw, after = _Seen(), _Seen(effect)
    tracer = Tracer()
    with torch.no_grad():
        with ops.hooks(tracer):  # the host trace, as eval captures it once per checkpoint
            model(src, tgt)
        with ops.hooks(raw, effect, after):  # the function, as the profile scores it
            model(src, tgt)
    priced = priced_trace(tracer.finish(samples=3, units=15), pruning_shares([effect]))
    records = {r.name: r for r in priced.records}
    mapping = MAPPINGS.get("digital_cim")
    ctx = Context(stats=priced.stats, host=profile)
    rule = effect.rule
    assert rule == "0.95|0.25"
    removed = []
    for i in range(3):
        name = f"encoder.layers.{i}.self_attention"
        used = int((after.probs[f"{name}.softmax"] > 0).sum())
        used /= int((raw.probs[f"{name}.softmax"] > 0).sum())
        sv = records[f"{name}.sv"]
        assert sv.keep[rule] == pytest.approx(used, abs=1e-12)
        assert mapping.cost(sv, profile, ctx).effective_macs == pytest.approx(sv.macs * used)
        if i > 0:  # the tokens removed up to the layer before are not computed here
            share = 1 - float(removed[-1].float().mean())
            for op in ("W_k", "W_v", "qk"):
                record = records[f"{name}.{op}"]
                assert record.keep[rule] == pytest.approx(share, abs=1e-12), op
                cost = mapping.cost(record, profile, ctx)
                assert cost.effective_macs == pytest.approx(record.macs * share), op
            probs = after.probs[f"{name}.softmax"]  # and the function never attends to them
            assert (probs.sum(dim=(1, 2))[removed[-1]] == 0).all()
        removed.append(after.removed[f"{name}.softmax"])
    assert int(removed[2].sum()) > int(removed[0].sum()) > 0  # more pruned layer by layer
    assert (removed[2] | ~removed[0]).all()  # once removed, always removed
    # the decoder is another stream: nothing is carried into it
    assert not records["decoder.layers.0.self_attention.W_k"].keep


def test_token_and_attention_savings_are_reported_per_mechanism():
    from seqbench.accel.cost import simulate

    model, src, tgt = _encoder_model()
    tracer = Tracer()
    with torch.no_grad(), ops.hooks(tracer):
        model(src, tgt)
    sim = simulate(tracer.finish(samples=3, units=15), load_named("multcim"))
    assert sim.mechanisms["token"]["fraction"] > 0
    assert sim.mechanisms["attention"]["fraction"] > 0
