"""Functional effects: exact at high precision, lossy where the hardware is, seeded, real drops."""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from types import SimpleNamespace

import pytest
import torch

from seqbench import ops
from seqbench.accel import profile as profile_mod
from seqbench.accel.effects import (
    CrossbarEffect,
    NandSimilarityEffect,
    SoftmaxEffect,
    calibrate,
    effect_hooks,
    int8_gemm_available,
    quantize,
)
from seqbench.accel.effects import _digits as effects_digits
from seqbench.accel.profile import load_named
from seqbench.sparsity import pruned_keys


@pytest.fixture(autouse=True)
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path))
    profile_mod._CACHE.clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
    profile_mod._CACHE.clear()


def high_precision(name: str, bits: int = 16):
    p = load_named(name)
    for path in ("precision.weight_bits", "precision.input_bits", "adc.bits"):
        if path in p.params:
            p = p.with_value(path, bits)
    if "softmax.lut_entries" in p.params:
        p = p.with_value("softmax.lut_entries", 1 << 22).with_value("softmax.lut_range", 60)
    return p


def tiny_transformer():
    from seqbench.models import build_model

    config = dict(
        src_vocab_size=12,
        tgt_vocab_size=11,
        d_model=16,
        num_heads=2,
        num_encoder_layers=1,
        num_decoder_layers=1,
        d_ff=32,
        dropout=0.0,
    )
    return build_model("transformer", config).eval()


def run(model, hooks, *args):  # noqa: ANN001
    with torch.no_grad(), ops.hooks(*hooks):
        return model(*args)


def test_cpu_has_no_effects():
    assert effect_hooks(load_named("cpu"), seed=0) == []


@pytest.mark.parametrize("name", ["pipelayer", "retransformer", "multcim"])
def test_effects_at_16_bits_leave_quality_unchanged(name):
    model = tiny_transformer()
    src, tgt = torch.randint(4, 12, (3, 6)), torch.randint(4, 11, (3, 5))
    exact = run(model, [], src, tgt)
    p = high_precision(name)
    if name == "multcim":  # the sparsity rules drop work on purpose; precision alone here
        p.effects = ["digital_quant"]
    effected = run(model, effect_hooks(p, seed=0), src, tgt)
    assert torch.equal(effected.argmax(-1), exact.argmax(-1))
    assert (effected - exact).abs().max() < 1e-2 * exact.abs().max()


def test_8_bit_profiles_do_change_the_outputs():
    model = tiny_transformer()
    src, tgt = torch.randint(4, 12, (3, 6)), torch.randint(4, 11, (3, 5))
    exact = run(model, [], src, tgt)
    effected = run(model, effect_hooks(load_named("retransformer"), seed=0), src, tgt)
    assert not torch.allclose(effected, exact, atol=1e-4)


def test_crossbar_adc_exact_path_equals_bit_serial_emulation():
    effect = CrossbarEffect(load_named("retransformer"), seed=0)
    assert effect.adc_exact  # ISAAC: 8-bit ADC + flipped encoding resolve every column sum
    x, w = torch.randn(5, 300), torch.randn(300, 17)
    fast = effect.matmul(x, w, "fc")
    effect.adc_exact, effect._weights = False, {}
    slow = effect.matmul(x, w, "fc")  # per (input bit, weight slice, row tile) with the ADC
    assert torch.allclose(fast, slow, atol=1e-5)


def count_int8_gemms(monkeypatch) -> list:
    """Record every ``torch._int_mm`` call from here on (the int8 GEMM path taken)."""
    int8_gemm_available()  # its one probing call (cached) before counting starts
    calls, real = [], torch._int_mm

    def counted(a, b):
        calls.append(a.shape)
        return real(a, b)

    monkeypatch.setattr(torch, "_int_mm", counted)
    return calls


@pytest.mark.parametrize(
    "changes",
    [
        {"adc.bits": 6},
        {"adc.bits": 4, "dac.bits": 2},
        {"adc.bits": 6, "nonideal.conductance_sigma": 0.1},
    ],
)
@pytest.mark.parametrize(
    "x_shape, w_shape",
    [
        ((12, 3, 200), (200, 80)),
        ((36, 200), (200, 80)),
        ((5, 3, 40), (40, 9)),  # small: float32, in matmul's layout too
        ((6, 4, 1, 32), (6, 4, 32, 11)),
    ],
)
def test_one_gemm_per_row_tile_emulates_bit_for_bit_as_matmuls_broadcast(
    changes, x_shape, w_shape, monkeypatch
):
    """Inputs on a weight matrix (a decoder step's [B, 1, d], a recurrent step's [B, d]) take
    one GEMM per row tile, in int8 where the CPU has it; an attention step's batched keys one
    per batch entry: the same numbers as matmul's broadcast over S*T*B float32 products
    (noisy cells keep the broadcast)."""
    import seqbench.accel.effects as effects_mod

    profile = load_named("retransformer")
    for path, value in changes.items():
        profile = profile.with_value(path, value)
    torch.manual_seed(0)
    x, w = torch.randn(*x_shape), torch.randn(*w_shape) * 0.1
    effect = CrossbarEffect(profile, seed=0)
    assert not effect.adc_exact
    int8_calls = count_int8_gemms(monkeypatch)
    fast = effect.matmul(x, w, "fc")
    large = math.prod(x_shape) * w_shape[-1] * 32 >= 2**22  # rows x k x T*N, S = 8 or 4
    int8_expected = large and len(w_shape) == 2 and not effect.noisy and int8_gemm_available()
    assert (len(int8_calls) > 0) == int8_expected
    monkeypatch.setattr(effects_mod, "int8_gemm_available", lambda: False)
    effect._weights = {}
    assert torch.equal(fast, effect.matmul(x, w, "fc"))  # one float32 GEMM
    monkeypatch.setattr(
        effects_mod, "_one_gemm", lambda Xt, Ct, small_ints=False: torch.matmul(Xt, Ct)
    )
    effect._weights = {}
    assert torch.equal(fast, effect.matmul(x, w, "fc"))  # the broadcast


@pytest.mark.parametrize(
    "changes",
    [{"adc.bits": 6}, {}, {"adc.bits": 6, "weight_encoding": "differential"}],
)
def test_a_nan_input_emulates_as_the_float_path(changes, monkeypatch):
    """A NaN never reaches an int8 GEMM (where it would turn into a number): the emulated
    and the integer paths give the float32 path's values and NaNs."""
    import seqbench.accel.effects as effects_mod

    profile = load_named("retransformer")
    for path, value in changes.items():
        if "." in path:
            profile = profile.with_value(path, value)
        else:  # a setting: positive and negative cells, no offsets to carry a NaN along
            profile = dataclasses.replace(profile, settings={**profile.settings, path: value})
    torch.manual_seed(0)
    x, w = torch.randn(64, 200), torch.randn(200, 400) * 0.1
    x[3, 5] = float("nan")
    effect = CrossbarEffect(profile, seed=0)
    got = effect.matmul(x, w, "fc")
    monkeypatch.setattr(effects_mod, "int8_gemm_available", lambda: False)
    effect._weights = {}
    want = effect.matmul(x, w, "fc")
    assert got.isnan().any()
    assert torch.equal(got.isnan(), want.isnan())
    assert torch.equal(got.nan_to_num(7.5), want.nan_to_num(7.5))


def test_digits_shift_and_mask_as_floor_and_mod():
    """Digits of non-negative integers by shifts equal the floor/mod formula; a NaN keeps it."""
    values = torch.tensor([[0.0, 1.0, 37.0, 255.0], [128.0, 65535.0, 2.0, 3.0]])
    for width, total in ((1, 8), (2, 8), (3, 16)):
        formula = torch.stack(
            [torch.floor(values / 2**s) % 2**width for s in range(0, total, width)]
        )
        assert torch.equal(effects_digits(values, width, total), formula)
    with_nan = values.clone()
    with_nan[0, 1] = float("nan")
    assert effects_digits(with_nan, 2, 8)[:, 0, 1].isnan().all()


@pytest.mark.parametrize("width", [200, 1100])  # 1,100 x 127 x 127 > 2^24: float32's own
def test_exact_adc_integer_product_is_bit_for_bit_matmul(width, monkeypatch):
    """With every column sum converted exactly, the quantized integers' product on a weight
    matrix is an int8 GEMM where float32 holds every partial sum: the same numbers."""
    import seqbench.accel.effects as effects_mod

    torch.manual_seed(0)
    x, w = torch.randn(64, 8, width) * 3, torch.randn(width, 400) * 0.05
    effect = CrossbarEffect(load_named("retransformer"), seed=0)
    assert effect.adc_exact
    int8_calls = count_int8_gemms(monkeypatch)
    fast = effect.matmul(x, w, "fc")
    assert (len(int8_calls) > 0) == (width == 200 and int8_gemm_available())
    qx, sx = quantize(x, 8)
    qw, sw = quantize(w, 8)
    assert torch.equal(fast, torch.matmul(qx, qw).mul_(sx * sw))
    monkeypatch.setattr(effects_mod, "int8_gemm_available", lambda: False)
    effect._weights = {}
    assert torch.equal(fast, effect.matmul(x, w, "fc"))


def test_fewer_adc_bits_lose_accuracy():
    x, w = torch.randn(8, 256), torch.randn(256, 32)
    errors = []
    for bits in (8, 6, 4):
        effect = CrossbarEffect(load_named("retransformer").with_value("adc.bits", bits), seed=0)
        errors.append(float((effect.matmul(x, w, "fc") - x @ w).norm() / (x @ w).norm()))
    assert errors[0] < errors[1] < errors[2]


def test_conductance_variation_is_seeded():
    p = load_named("retransformer").with_value("nonideal.conductance_sigma", 0.1)
    x, w = torch.randn(4, 64), torch.randn(64, 8)
    a = CrossbarEffect(p, seed=1).matmul(x, w, "fc")
    b = CrossbarEffect(p, seed=1).matmul(x, w, "fc")
    c = CrossbarEffect(p, seed=2).matmul(x, w, "fc")
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_token_pruning_really_drops_tokens():
    probs = torch.tensor([[[[0.6, 0.25, 0.13, 0.02]]]])  # [B, h, Lq, Lk]
    assert pruned_keys(probs, 0.9).flatten().tolist() == [False, False, False, True]
    p = load_named("multcim")
    hook = SoftmaxEffect(p, {"token_pruning"})
    scores = torch.log(probs)
    out = hook.transform_output(ops.OpClass.SOFTMAX, "a.softmax", (scores,), probs, {"dim": -1})
    assert out[..., 3].item() == 0.0
    assert out.sum(-1).item() == pytest.approx(1.0)


def test_sparse_attention_drops_small_probabilities():
    hook = SoftmaxEffect(load_named("multcim"), {"sparse_attention"})  # 0.25 x 1/3
    probs = torch.tensor([[0.5, 0.495, 0.005]])
    out = hook.transform_output(
        ops.OpClass.SOFTMAX, "x.softmax", (probs.log(),), probs, {"dim": -1}
    )
    assert out[0, 2].item() == 0.0 and out.sum().item() == pytest.approx(1.0)


def test_lut_softmax_keeps_masked_entries_at_zero():
    p = load_named("retransformer")
    hook = SoftmaxEffect(p, {"softmax_lut"})
    scores = torch.tensor([[1.0, 0.5, float("-inf")]])
    exact = torch.softmax(scores, -1)
    out = hook.transform_output(ops.OpClass.SOFTMAX, "x.softmax", (scores,), exact, {"dim": -1})
    assert out[0, 2].item() == 0.0
    assert torch.allclose(out, exact, atol=0.05)


def test_nand_search_is_exact_int8_with_seeded_bit_errors():
    gallery = torch.nn.functional.normalize(torch.randn(500, 32), dim=-1)
    queries = gallery[:4] + 0.01 * torch.randn(4, 32)
    exact = ops.similarity_search(queries, gallery, 5, name="search")
    clean = NandSimilarityEffect(load_named("ice").with_value("nand.bit_error_rate", 0.0))
    with ops.hooks(clean):
        int8 = ops.similarity_search(queries, gallery, 5, name="search")
    assert torch.equal(int8[:, 0], exact[:, 0])  # INT8 keeps the true neighbour first
    codes, _ = clean.stored(gallery)
    noisy = NandSimilarityEffect(load_named("ice").with_value("nand.bit_error_rate", 0.05))
    again = NandSimilarityEffect(load_named("ice").with_value("nand.bit_error_rate", 0.05))
    flipped, _ = noisy.stored(gallery)
    changed = float((flipped != codes).float().mean())
    assert 0.2 < changed < 0.5  # 1 - 0.95^8 = 0.34 of the bytes hit
    assert torch.equal(flipped, again.stored(gallery)[0])  # seeded
    assert flipped.abs().max() <= 128


def test_convolutions_get_crossbar_precision():
    conv = ops.Conv2d(3, 4, 3, padding=1)
    ops.name_modules(conv)
    x = torch.randn(1, 3, 8, 8)
    exact = run(conv, [], x)
    coarse = run(conv, effect_hooks(load_named("retransformer"), seed=0), x)
    fine = run(conv, effect_hooks(high_precision("retransformer"), seed=0), x)
    assert 0 < (coarse - exact).abs().max() < 0.05 * exact.abs().max()
    assert (fine - exact).abs().max() < (coarse - exact).abs().max()


@functools.cache
def _tiny_trained_classifier():
    """A seeded 2-layer classifier (ops.linear, so the crossbar sees both products) trained on
    Gaussian blobs: 128 inputs (one row tile), 64 hidden, 8 classes; test set of 300."""
    g = torch.Generator().manual_seed(0)
    dims, classes, n = 128, 8, 800
    centers = torch.randn(classes, dims, generator=g)
    labels = torch.randint(0, classes, (n,), generator=g)
    x = centers[labels] * 0.5 + torch.randn(n, dims, generator=g)
    W1 = torch.nn.Parameter(torch.randn(64, dims, generator=g) * dims**-0.5)
    W2 = torch.nn.Parameter(torch.randn(classes, 64, generator=g) * 64**-0.5)

    def forward(inputs):  # noqa: ANN001, ANN202
        hidden = torch.relu(ops.linear(inputs, W1, name="fc1"))
        return ops.linear(hidden, W2, name="fc2")

    opt = torch.optim.Adam([W1, W2], lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(forward(x[:500]), labels[:500]).backward()
        opt.step()
    forward.train_inputs = x[:500]  # what a calibrated ADC may look at
    return forward, x[500:], labels[500:]


@pytest.mark.parametrize("name", ["retransformer", "pipelayer"])
def test_fewer_adc_bits_never_raise_accuracy_of_a_trained_model(name):
    """The profile's own ADC resolves every column sum (no loss); below it each column's
    partial sum per input slice is rounded, and accuracy can only fall: at 4 bits it does."""
    forward, x, labels = _tiny_trained_classifier()
    profile = load_named(name)
    with torch.no_grad():
        exact = float((forward(x).argmax(-1) == labels).float().mean())
        accuracy = {}
        for bits in range(int(profile.get("adc.bits", "bits")), 3, -1):
            hook = CrossbarEffect(profile.with_value("adc.bits", bits), seed=0)
            with ops.hooks(hook):
                accuracy[bits] = float((forward(x).argmax(-1) == labels).float().mean())
    default = max(accuracy)
    assert CrossbarEffect(profile, seed=0).adc_exact
    assert accuracy[default] >= exact - 0.01  # only input/weight quantisation at the default
    ordered = [accuracy[b] for b in sorted(accuracy, reverse=True)]
    assert all(a >= b for a, b in zip(ordered, ordered[1:], strict=False)), accuracy
    assert accuracy[4] < accuracy[default] - 0.2, accuracy


def _adc_hook(profile, bits: int, adc_range: str, train_inputs=None):  # noqa: ANN001, ANN202
    """A crossbar hook at ``bits`` with ``adc_range``, calibrated on ``train_inputs``."""
    derived = profile.with_value("adc.bits", bits)
    derived.settings = {**derived.settings, "adc_range": adc_range}
    hook = CrossbarEffect(derived, seed=0)
    if train_inputs is not None:
        calibrate([hook], lambda: train_inputs.forward(train_inputs.x))
    return hook


def _accuracy_by_bits(forward, x, labels, adc_range, bits_list, rows=64):  # noqa: ANN001, ANN202
    profile = load_named("retransformer").with_value("crossbar.rows", rows)
    calibration = SimpleNamespace(forward=forward, x=forward.train_inputs)
    out, error = {}, {}
    with torch.no_grad():
        ideal = forward(x)
        for bits in bits_list:
            hook = _adc_hook(profile, bits, adc_range, calibration)
            with ops.hooks(hook):
                logits = forward(x)
            out[bits] = float((logits.argmax(-1) == labels).float().mean())
            error[bits] = float((logits - ideal).norm() / ideal.norm())
    return out, error


@pytest.mark.parametrize("adc_range", ["full", "calibrated"])
def test_quality_never_rises_as_adc_bits_fall(adc_range):
    """64-row arrays: 96 is the largest column sum, so 7 and 8 bits are exact; below, the
    accuracy of a trained classifier never rises and the output error never falls."""
    forward, x, labels = _tiny_trained_classifier()
    bits_list = [8, 7, 6, 5, 4, 3, 2]
    accuracy, error = _accuracy_by_bits(forward, x, labels, adc_range, bits_list)
    ordered = [accuracy[b] for b in bits_list]
    assert all(a >= b for a, b in zip(ordered, ordered[1:], strict=False)), accuracy
    errors = [error[b] for b in bits_list]
    assert all(a <= b for a, b in zip(errors, errors[1:], strict=False)), error
    assert accuracy[2] < accuracy[8] - 0.2, accuracy


def test_calibrated_adc_range_is_at_least_as_good_as_full_scale():
    """At equal bits a range set from the layer's own partial sums (clipping the rare tail)
    never scores below the full scale on a tiny trained model, and errs less where lossy."""
    forward, x, labels = _tiny_trained_classifier()
    bits_list = [6, 5, 4, 3]
    full, full_error = _accuracy_by_bits(forward, x, labels, "full", bits_list)
    cal, cal_error = _accuracy_by_bits(forward, x, labels, "calibrated", bits_list)
    assert all(cal[b] >= full[b] for b in bits_list), (cal, full)
    assert all(cal_error[b] < full_error[b] for b in bits_list), (cal_error, full_error)
    assert cal[4] > full[4] + 0.1, (cal, full)  # the point of calibrating


@pytest.mark.parametrize("adc_range", ["full", "calibrated"])
def test_isaac_setting_is_exact_either_way(adc_range):
    """ISAAC's 8-bit ADC with the flipped encoding resolves every 128-row sum (192 <= 255): no
    calibration is needed and the crossbar's product is the exact integer one."""
    profile = load_named("retransformer")
    assert profile.setting("adc_range") == "calibrated"  # the profile's own choice
    g = torch.Generator().manual_seed(3)
    x, w = torch.randn(5, 300, generator=g), torch.randn(300, 7, generator=g)
    hook = _adc_hook(profile, 8, adc_range)
    assert hook.adc_exact and not hook.needs_calibration
    assert not calibrate([hook], lambda: hook.matmul(x, w, "fc"))
    qx, sx = quantize(x, 8)
    qw, sw = quantize(w, 8)
    emulated = hook._emulate(qx, qw, hook._encode(qw, "fc"), "fc") * (sx * sw)
    torch.testing.assert_close(emulated, (qx @ qw) * (sx * sw), rtol=0, atol=1e-4)
    torch.testing.assert_close(hook.matmul(x, w, "fc"), (qx @ qw) * (sx * sw))


def test_calibration_reads_only_the_calibration_run():
    """The windows come from the calibration pass alone: scoring afterwards does not move them,
    and a layer never calibrated keeps the full scale."""
    profile = load_named("retransformer").with_value("crossbar.rows", 64)
    g = torch.Generator().manual_seed(4)
    w = torch.randn(64, 16, generator=g)
    hook = _adc_hook(profile, 4, "calibrated")
    calibrate([hook], lambda: hook.matmul(torch.randn(32, 64, generator=g), w, "fc"))
    low, step = hook.window("fc", (8, 4))
    hook.matmul(torch.randn(32, 64, generator=g) * 5, w, "fc")
    assert torch.equal(hook.window("fc", (8, 4))[0], low)
    assert torch.equal(hook.window("fc", (8, 4))[1], step)
    assert (step <= hook.full_scale / hook.levels).all()
    assert torch.equal(hook.window("other", (8, 4))[1], torch.full((8, 4), 96 / 15))


def test_adc_emulation_follows_the_mapping_slices():
    """One conversion per (input slice, weight slice, row tile, column): the ADC sees at most
    half the full scale after ISAAC's flip, so at the profile's bits it is exact."""
    p = load_named("retransformer")
    effect = CrossbarEffect(p, seed=0)
    # 128 rows x 1-bit input x 2-bit cells = 384, halved by the flip: 192 <= 255 (8 bits)
    assert effect.full_scale == 192 and effect.adc_exact
    assert not CrossbarEffect(p.with_value("adc.bits", 7), seed=0).adc_exact


class _SeenKeys(ops.OpHook):
    """Records, at S.V, which keys the probabilities still give any weight to."""

    def __init__(self) -> None:
        self.dropped: list[float] = []

    def record(self, op_class, name, inputs, output, meta):  # noqa: ANN001
        if name.endswith(".sv"):
            probs = inputs[0]  # [B, h, Lq, Lk]
            seen = (probs.abs().sum(dim=(1, 2)) > 0).float()  # [B, Lk]
            self.dropped.append(float(1 - seen.mean()))


def test_token_pruning_cost_drops_exactly_the_keys_the_model_no_longer_sees():
    """One attention traced, run with MulTCIM's token pruning, and priced: the fraction of S.V
    work the cost model drops equals the fraction of keys no query sees in the function, and
    Q.K^T (scores needed to decide) and the projections keep their full cost."""
    from seqbench.accel.cost import simulate
    from seqbench.trace import Tracer

    g = torch.Generator().manual_seed(3)
    B, h, L, d = 4, 2, 24, 8
    Q, K, V = (torch.randn(B, h, L, d, generator=g) for _ in range(3))
    K = K * torch.linspace(0.2, 3.0, L)[:, None]  # uneven key importance

    def attention(x):  # noqa: ANN001, ANN202
        scores = ops.matmul(Q, K.transpose(-1, -2), name="layers.0.attention.qk")
        probs = ops.softmax(scores * 2, name="layers.0.attention.softmax")
        return ops.matmul(probs, V, name="layers.0.attention.sv")

    tracer = Tracer()
    with ops.hooks(tracer):
        attention(None)
    trace = tracer.finish(samples=B, units=B * L)

    multcim = copy.copy(load_named("multcim"))
    multcim.effects = ["token_pruning"]
    seen = _SeenKeys()
    with ops.hooks(*effect_hooks(multcim, seed=0), seen):
        attention(None)
    (dropped,) = seen.dropped
    assert 0.1 < dropped < 0.9

    multcim.settings = {**multcim.settings, "mechanisms": ["token"]}
    sim = simulate(trace, multcim)
    by_role = {}
    for rec in (r for r in trace.records if r.macs):
        single = type(trace)([rec], trace.samples, trace.units, trace.unit, trace.stats)
        by_role[rec.role] = simulate(single, multcim).effective_macs / (rec.macs * rec.count)
    # per product: a few scores underflow to exactly 0 and count as masked, hence rel=1e-3
    assert by_role["sv"] == pytest.approx(1 - dropped, rel=1e-3)
    assert by_role["qk"] == 1.0
    assert sim.mechanisms["token"]["energy_saved_J_per_unit"] > 0


def _reference_quantize(x: torch.Tensor, bits: int) -> tuple[torch.Tensor, float]:
    """The plain formula quantize() computes faster (issue 18: same results, less time)."""
    top = 2 ** (bits - 1) - 1
    peak = float(x.detach().abs().max())
    scale = peak / top if peak > 0 else 1.0
    return torch.clamp(torch.round(x / scale), -top, top), scale


def _quantize_cases() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    big = torch.randn(4, 3, 9, 7, generator=g) * 50
    return [
        big,
        big.transpose(-1, -2),  # a key cache as K^T: reduced in memory order
        big[..., ::2],  # strided, neither it nor its transpose contiguous
        -big.abs(),  # the peak is a minimum
        torch.zeros(3, 4),
        torch.full((2, 2), 1e-44),  # subnormal peak: the scale leaves float32's range
        torch.tensor([1.0, float("nan"), -300.0]),
        torch.tensor([[1.0, float("inf")], [-2.0, 0.5]]),
        (big / 7).to(torch.bfloat16),
        big.double(),
    ]


@pytest.mark.parametrize("bits", [4, 8, 16])
def test_quantize_equals_the_reference_formula_bit_for_bit(bits: int) -> None:
    from seqbench.accel.effects import quantize

    for x in _quantize_cases():
        (q, scale), (ref_q, ref_scale) = quantize(x, bits), _reference_quantize(x, bits)
        assert scale == ref_scale or (scale != scale and ref_scale != ref_scale)
        assert q.dtype == ref_q.dtype and q.shape == ref_q.shape
        assert torch.equal(q.nan_to_num(7.5), ref_q.nan_to_num(7.5)), (x, bits)


def _reference_lut_softmax(self, scores: torch.Tensor, dim: int) -> torch.Tensor:  # noqa: ANN001
    """SoftmaxEffect's LUT softmax written out of place (the formula the fast one keeps)."""
    z = scores - scores.amax(dim=dim, keepdim=True).nan_to_num(0.0)
    step = self.range / (self.entries - 1)
    grid = torch.round(torch.clamp(z, min=-self.range) / step) * step
    e = torch.where(torch.isinf(z), torch.zeros_like(z), torch.exp(grid))
    return e / e.sum(dim=dim, keepdim=True).clamp(min=1e-30)


@pytest.mark.parametrize("name", ["retransformer", "pipelayer", "multcim"])
def test_rescored_outputs_are_identical_to_the_plain_formulas(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vectorised effects (fused quantize, in-place LUT softmax, a dynamic product's
    output reused as its ideal) give bit-identical outputs to the plain formulas."""
    from seqbench import decode
    from seqbench.accel import effects

    model = tiny_transformer()
    src, tgt = torch.randint(4, 12, (5, 7)), torch.randint(4, 11, (5, 6))

    def rescore() -> tuple[torch.Tensor, list[list[int]]]:
        hooks = effect_hooks(load_named(name), seed=0)
        with torch.no_grad(), ops.hooks(*hooks):
            return model(src, tgt), decode.greedy(model, src, 9)  # K/V cache: growing K^T

    fast = rescore()
    monkeypatch.setattr(effects, "quantize", _reference_quantize)
    monkeypatch.setattr(SoftmaxEffect, "_lut_softmax", _reference_lut_softmax)
    monkeypatch.setattr(CrossbarEffect, "_sees_raw_output", lambda self: False)
    slow = rescore()
    assert torch.equal(fast[0], slow[0]) and fast[1] == slow[1]


def test_a_dynamic_product_is_recomputed_after_a_hook_that_changes_outputs() -> None:
    effect = CrossbarEffect(load_named("retransformer"), seed=0)

    class Shift(ops.OpHook):
        def transform_output(self, op_class, name, inputs, output, meta):  # noqa: ANN001
            return output + 1

    a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    with ops.hooks(effect):
        assert effect._sees_raw_output()
        alone = ops.matmul(a, b, name="qk")
    with ops.hooks(ops.OpHook(), Shift(), effect):  # a recording-only hook would not matter
        assert not effect._sees_raw_output()
        shifted = ops.matmul(a, b, name="qk")
    assert torch.allclose(shifted, alone + 1, atol=1e-6)  # the crossbar error added to x + 1


def _sampled(table, level: float, n: int = 40000, **kw):  # noqa: ANN001, ANN202
    g = torch.Generator().manual_seed(11)
    return table.sample(torch.full((n,), level, dtype=torch.float64), g, **kw)


def test_noise_table_mean_and_spread_are_reproduced_by_sampling(tmp_path):
    """Sampling 40,000 cells per level reproduces the table: mean within 4 standard errors,
    sigma within 3% (its standard error at this n is 0.35%); with the published table's read
    noise the spread is sqrt(sigma^2 + (g q s)^2), s = sqrt(ln((t0 + t_read) / (2 t_read)))."""
    from seqbench.accel.noise import load_noise_table

    (tmp_path / "noise").mkdir()
    (tmp_path / "noise" / "t.yaml").write_text(
        "source: test\nlevels:\n  - {level: 0.0, mean: 0.05, sigma: 0.01}\n"
        "  - {level: 1.0, mean: 0.9, sigma: 0.05}\n"
    )
    table = load_noise_table("t", tmp_path / "p.yaml")
    for level, mean, sigma in ((0.0, 0.05, 0.01), (1.0, 0.9, 0.05), (0.5, 0.475, 0.03)):
        g = _sampled(table, level)
        assert abs(float(g.mean()) - mean) < 4 * sigma / 200, (level, float(g.mean()))
        assert abs(float(g.std()) / sigma - 1) < 0.03, (level, float(g.std()))
    published = load_noise_table("pcm-nandakumar2019", load_named("retransformer").path)
    s = math.sqrt(math.log((20 + 2.5e-7) / (2 * 2.5e-7)))
    for i, level in enumerate(published.levels[1:], start=1):
        g = _sampled(published, level)
        spread = math.hypot(published.sigma[i], published.mean[i] * published.read_q[i] * s)
        assert abs(float(g.mean()) - published.mean[i]) < 4 * spread / 200
        assert abs(float(g.std()) / spread - 1) < 0.03, (level, float(g.std()), spread)
    # drift: a day after programming every level has sunk by about (t / t0)^-nu
    later = _sampled(published, 1.0, t_inference=86400.0)
    assert float(later.mean()) < (86420 / 20) ** -0.04


def test_noise_table_drives_the_crossbar_and_stays_seeded():
    """noise_scale 0 leaves the ISAAC setting exact; 1 perturbs it, the same way per seed."""
    profile = load_named("retransformer").with_value("crossbar.rows", 64)
    g = torch.Generator().manual_seed(5)
    x, w = torch.randn(8, 64, generator=g), torch.randn(64, 16, generator=g)
    quiet = CrossbarEffect(profile, seed=0)
    assert quiet.noise is not None and not quiet.noisy
    noisy = [
        CrossbarEffect(profile.with_value("nonideal.noise_scale", 1), seed=s) for s in (1, 1, 2)
    ]
    a, b, c = (h.matmul(x, w, "fc") for h in noisy)
    exact = quiet.matmul(x, w, "fc")
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert 0 < float((a - exact).norm() / exact.norm()) < 1


def test_a_missing_noise_table_is_one_clear_error():
    from seqbench.errors import SeqbenchError

    profile = load_named("retransformer")
    profile.settings = {**profile.settings, "noise_table": "nope"}
    with pytest.raises(SeqbenchError, match="pcm-nandakumar2019"):
        CrossbarEffect(profile, seed=0)


def test_acts_on_reads_the_op_classes_the_trace_records() -> None:
    """An effect counts as acting on a model only when the model runs an op class it hooks."""
    from seqbench.accel.effects import acts_on, effect_hooks

    def trace(*classes: str) -> SimpleNamespace:
        return SimpleNamespace(records=[SimpleNamespace(op_class=c) for c in classes])

    ice, isaac, multcim = (effect_hooks(load_named(n)) for n in ("ice", "isaac", "multcim"))
    seq2seq = trace("matmul_static", "recurrent_step", "elementwise")
    assert not acts_on(ice, seq2seq) and acts_on(ice, trace("similarity_search"))
    assert acts_on(isaac, seq2seq) and acts_on(isaac, trace("conv"))
    assert not acts_on(isaac, trace("softmax", "layernorm"))
    assert acts_on(multcim, trace("softmax")) and not acts_on(multcim, trace("embedding"))
    assert not acts_on([], seq2seq)
    # a hook of unknown reach is taken to act on everything
    assert acts_on([ops.OpHook()], trace("embedding"))
