"""FlatAdamW: torch's AdamW numbers, bit for bit, over one flat buffer."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from seqbench import checkpoints, train
from seqbench.families.runspec import DEFAULTS, TrainOptions
from seqbench.optim import FlatAdamW


def _model() -> nn.Module:
    torch.manual_seed(0)
    # odd sizes, so no tensor fills whole vectors and every one has a scalar tail
    return nn.Sequential(
        nn.Embedding(37, 13), nn.Linear(13, 29), nn.GELU(), nn.LayerNorm(29), nn.Linear(29, 7)
    )


def _batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [
        (torch.randint(0, 37, (8, 5), generator=g), torch.randint(0, 7, (8 * 5,), generator=g))
        for _ in range(n)
    ]


def _train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    start: int = 0,
    skip_grad_of: nn.Parameter | None = None,
) -> list[float]:
    losses = []
    for i, (x, y) in enumerate(batches, start):
        optimizer.param_groups[0]["lr"] = 0.01 / (1 + i)  # a schedule, as seqbench's
        loss = nn.functional.cross_entropy(model(x).reshape(-1, 7), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if skip_grad_of is not None and i == 3:
            skip_grad_of.grad = None  # torch skips it this step: moments and count stay
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        losses.append(loss.item())
    return losses


def _assert_same(a: nn.Module, b: nn.Module, oa: torch.optim.Optimizer, ob: torch.optim.Optimizer):
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    sa, sb = oa.state_dict()["state"], ob.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for index in sa:
        for key in sa[index]:
            assert torch.equal(sa[index][key], sb[index][key]), (index, key)


@pytest.mark.parametrize("decay", [0.0, 0.05])
def test_same_bits_as_torch(decay):
    ref, flat = _model(), _model()
    frozen = [m[0].weight for m in (ref, flat)]
    for p in frozen:  # a frozen parameter (a distilled model's teacher) has no gradient
        p.requires_grad_(False)
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=0.01, weight_decay=decay)
    opt_flat = FlatAdamW(flat.parameters(), lr=0.01, weight_decay=decay)
    batches = _batches(12)
    assert _train(ref, opt_ref, batches) == _train(flat, opt_flat, batches)
    assert opt_flat._flat is not None  # it took the flat path
    _assert_same(ref, flat, opt_ref, opt_flat)


def test_a_missing_gradient_goes_to_torchs_step():
    ref, flat = _model(), _model()
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=0.01, weight_decay=0.01)
    opt_flat = FlatAdamW(flat.parameters(), lr=0.01, weight_decay=0.01)
    batches = _batches(8)
    losses_ref = _train(ref, opt_ref, batches, skip_grad_of=ref[1].bias)
    assert losses_ref == _train(flat, opt_flat, batches, skip_grad_of=flat[1].bias)
    _assert_same(ref, flat, opt_ref, opt_flat)
    # the step counts differ from then on, so every later step was torch's own
    assert opt_flat.state[flat[1].bias]["step"] != opt_flat.state[flat[1].weight]["step"]


def test_resume_state_moves_between_torch_and_flat():
    """Half the steps, then the state saved as seqbench's resume files save it and loaded
    into the other class: the rest trains as one unbroken run."""
    batches = _batches(10)
    whole = _model()
    opt_whole = torch.optim.AdamW(whole.parameters(), lr=0.01, weight_decay=0.02)
    _train(whole, opt_whole, batches)
    for first, second in [(FlatAdamW, torch.optim.AdamW), (torch.optim.AdamW, FlatAdamW)]:
        model = _model()
        opt = first(model.parameters(), lr=0.01, weight_decay=0.02)
        _train(model, opt, batches[:5])
        tensors, meta = train._optimizer_tensors(opt)
        weights = checkpoints.state_tensors(model)
        model = _model()
        model.load_state_dict(weights)
        opt = second(model.parameters(), lr=0.01, weight_decay=0.02)
        train._load_optimizer(opt, tensors, meta)
        _train(model, opt, batches[5:], start=5)
        _assert_same(whole, model, opt_whole, opt)


def test_checkpoint_tensors_share_no_memory(tmp_path):
    model = _model()
    opt = FlatAdamW(model.parameters(), lr=0.01)
    _train(model, opt, _batches(2))
    tensors, _ = train._optimizer_tensors(opt)
    save_file({**checkpoints.state_tensors(model), **tensors}, str(tmp_path / "x.safetensors"))


def test_parameters_moved_elsewhere_are_gathered_again():
    ref, flat = _model(), _model()
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=0.01)
    opt_flat = FlatAdamW(flat.parameters(), lr=0.01)
    batches = _batches(6)
    _train(ref, opt_ref, batches[:3])
    _train(flat, opt_flat, batches[:3])
    flat[1].weight.data = flat[1].weight.data.clone()  # out of the buffer
    _train(ref, opt_ref, batches[3:], start=3)
    _train(flat, opt_flat, batches[3:], start=3)
    _assert_same(ref, flat, opt_ref, opt_flat)
    assert flat[1].weight.data_ptr() in opt_flat._flat.pointers


def test_make_optimizer_picks_flat_on_the_cpu_and_fused_when_asked():
    model = _model()
    assert type(train.make_optimizer(model, TrainOptions.from_dict(DEFAULTS))) is FlatAdamW
    asked = TrainOptions.from_dict({**DEFAULTS, "fused_optimizer": True})
    fused = train.make_optimizer(model, asked)
    assert type(fused) is torch.optim.AdamW and fused.defaults["fused"] is True
