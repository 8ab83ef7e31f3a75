"""torch's AdamW, its one-tensor-at-a-time CPU arithmetic run once over every parameter.

On the CPU torch's default AdamW updates one parameter tensor at a time: about ten elementwise
kernels per tensor, each dispatched from Python. A model of 150-180 small tensors (the
Sort-of-CLEVR models, SCAN's transformer) spends 2-6 ms of every training step dispatching
them (``bench/README.md``, "One AdamW over every parameter"). An elementwise kernel gives an
element the same value wherever it lies in a tensor, so the same operations in the same order
over one buffer that holds every parameter (and one each for the gradient and the two
moments) give the same bits as torch's loop. :class:`FlatAdamW` does that: on its first step
the parameters become views into one buffer, each starting on a 64-byte boundary as torch's
allocator would place it (so a kernel that reads them meets the same alignment).

Whatever that path cannot reproduce exactly goes to torch's own step: a parameter without a
gradient (torch skips it, moments and step count untouched), gradients on a frozen
parameter, parameters of several dtypes or devices or non-contiguous ones, a tensor learning
rate, AdamW options other than the defaults seqbench trains with. The state stays torch's
(``state_dict`` and ``load_state_dict`` as AdamW's), so resume files move between the two.
The fused AdamW (``fused_optimizer: true``) is another choice: faster still, other bits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

ALIGN_BYTES = 64  # torch's CPU allocator aligns every block to 64 bytes


@dataclass
class _Flat:
    """The buffers and the views into them; ``pointers``: where each parameter's data must
    still start for the views to hold (a parameter given new storage leaves them)."""

    params: list[Tensor]  # the trained parameters, in the group's order
    data: Tensor  # parameters
    grad: Tensor  # gradients, copied in each step (the gaps stay zero)
    exp_avg: Tensor
    exp_avg_sq: Tensor
    grad_views: list[Tensor]
    steps: Tensor  # torch's per-parameter step counts, one element each (states view them)
    pointers: list[int]


class FlatAdamW(torch.optim.AdamW):
    """``torch.optim.AdamW(params, lr=..., weight_decay=...)`` with torch's single-tensor
    arithmetic, bit for bit, in a few kernels per step instead of ten per parameter."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, weight_decay=weight_decay, foreach=False)
        self._flat: _Flat | None = None

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._flat = None  # the loaded moments are new tensors: gather them on the next step

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        self._flat = None

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        if closure is not None or not self._flat_step():
            self._flat = None  # torch's step may leave the counts unequal: check on the next
            return super().step(closure)
        return None

    def _flat_step(self) -> bool:
        """One update over the flat buffers; False (nothing done) where it would not give
        torch's numbers exactly."""
        if len(self.param_groups) != 1:
            return False
        group = self.param_groups[0]
        lr, (beta1, beta2) = group["lr"], group["betas"]
        if not all(isinstance(x, float | int) for x in (lr, beta1, beta2)):
            return False
        if any(group[k] for k in ("amsgrad", "maximize", "capturable", "differentiable")):
            return False
        if group["fused"] or group["foreach"]:
            return False
        trained = [p for p in group["params"] if p.requires_grad]
        if any(p.grad is not None for p in group["params"] if not p.requires_grad):
            return False
        if not trained or any(p.grad is None or p.grad.is_sparse for p in trained):
            return False
        flat = self._flat
        if flat is None or not _still_views(flat, trained):
            flat = self._flat = _gather(self, trained)
            if flat is None:
                return False
        torch._foreach_copy_(flat.grad_views, [p.grad for p in trained])
        flat.steps.add_(1)  # each count as torch's ``step_t += 1``
        step = flat.steps[0].item()  # as torch's _get_value: the float32 count as a float
        _adamw_update(flat, float(lr), float(beta1), float(beta2), group, step)
        return True


def _adamw_update(
    flat: _Flat, lr: float, beta1: float, beta2: float, group: dict[str, Any], step: float
) -> None:
    """torch's ``_single_tensor_adam`` (decoupled weight decay, no amsgrad), the same
    operations in the same order, over the flat buffers."""
    param, grad, exp_avg, exp_avg_sq = flat.data, flat.grad, flat.exp_avg, flat.exp_avg_sq
    weight_decay, eps = group["weight_decay"], group["eps"]
    if weight_decay != 0:
        param.mul_(1 - lr * weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5
    denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-step_size)


def _scalar_dtype() -> torch.dtype:
    """The dtype torch's AdamW keeps its non-fused step count in."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _still_views(flat: _Flat, trained: list[Tensor]) -> bool:
    """Whether ``trained`` are still the parameters the buffers were built for, each still
    viewing its place (``param.data = ...`` or ``.to(...)`` elsewhere moves one out)."""
    if len(trained) != len(flat.params):
        return False
    return all(
        p is q and p.data_ptr() == ptr
        for p, q, ptr in zip(trained, flat.params, flat.pointers, strict=True)
    )


def _gather(optimizer: FlatAdamW, trained: list[Tensor]) -> _Flat | None:
    """Copy the parameters and their moments into flat buffers and make them views into
    those; None where the parameters do not allow it exactly (mixed dtypes or devices,
    non-contiguous or complex tensors, step counts that differ)."""
    first = trained[0]
    dtype, device = first.dtype, first.device
    if not dtype.is_floating_point or any(
        p.dtype != dtype or p.device != device or not p.is_contiguous() for p in trained
    ):
        return None
    states = [optimizer.state[p] for p in trained]
    fresh = all(len(s) == 0 for s in states)
    if not fresh:
        if not all({"step", "exp_avg", "exp_avg_sq"} <= s.keys() for s in states):
            return None
        counts = {float(s["step"]) for s in states}
        if len(counts) != 1 or any(
            not torch.is_tensor(s["step"]) or s["step"].device.type != "cpu" for s in states
        ):
            return None
    align = max(1, ALIGN_BYTES // first.element_size())
    offsets, total = [], 0
    for p in trained:
        offsets.append(total)
        total += -(-p.numel() // align) * align

    def buffer(parts: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:
        flat = torch.zeros(total, dtype=dtype, device=device)
        views = [flat[o : o + p.numel()].view_as(p) for o, p in zip(offsets, trained, strict=True)]
        if parts is not None:
            torch._foreach_copy_(views, parts)
        return flat, views

    data, data_views = buffer([p.detach() for p in trained])
    grad, grad_views = buffer(None)
    exp_avg, avg_views = buffer(None if fresh else [s["exp_avg"] for s in states])
    exp_avg_sq, sq_views = buffer(None if fresh else [s["exp_avg_sq"] for s in states])
    count = 0.0 if fresh else float(states[0]["step"])
    steps = torch.full((len(trained),), count, dtype=_scalar_dtype())  # torch's lazy init
    for index, (p, view, state, avg, sq) in enumerate(
        zip(trained, data_views, states, avg_views, sq_views, strict=True)
    ):
        p.data = view
        state["step"], state["exp_avg"], state["exp_avg_sq"] = steps[index], avg, sq
    return _Flat(
        params=list(trained),
        data=data,
        grad=grad,
        exp_avg=exp_avg,
        exp_avg_sq=exp_avg_sq,
        grad_views=grad_views,
        steps=steps,
        pointers=[p.data_ptr() for p in trained],
    )
