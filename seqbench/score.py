"""Scoring any model under a profile's functional effects, at the ATen level.

seqbench's own models meet the effects through :mod:`seqbench.ops`; any other model meets
the same effect hooks (:func:`seqbench.accel.effects.effect_hooks`) through
:func:`seqbench.trace_aten.aten_hooks`, which hands them every product, softmax, norm and
pointwise op of the forward pass. Two entries:

* :func:`score_batches`, the small interface for a user's model and data: a callable that
  yields ``(inputs, target)`` batches and a metric over all outputs and targets;
* :func:`score_on_task`, an external model whose interface fits a seqbench family (see
  :mod:`seqbench.external.adapters`) scored on a task by that family's own ``evaluate``, the
  function ``seqbench eval`` scores with.

With effects switched off (``effects=False``, or a profile that names none) the forward
passes run the model's own kernels unchanged, so the score equals the host's exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from seqbench.accel.effects import effect_hooks
from seqbench.accel.profile import Profile
from seqbench.config import load_task
from seqbench.families.base import EvalOutcome, family_for
from seqbench.trace_aten import aten_hooks


@contextlib.contextmanager
def under_profile(
    model: nn.Module, profile: Profile | None, *, seed: int = 0, effects: bool = True
) -> Iterator[None]:
    """Run the block's forward passes of ``model`` with ``profile``'s effects (none when
    ``profile`` is None: the host)."""
    if profile is None:
        yield
        return
    hooks = effect_hooks(profile, seed) if effects else []
    with aten_hooks(model, *hooks):
        yield


def _call(model: nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, dict):
        return model(**inputs)
    return model(*inputs) if isinstance(inputs, (tuple, list)) else model(inputs)


def score_batches(
    model: nn.Module,
    batches: Callable[[], Iterable[tuple[Any, Any]]],
    metric: Callable[[list[Any], list[Any]], Any],
    *,
    profile: Profile | None = None,
    seed: int = 0,
    effects: bool = True,
) -> Any:
    """``metric(outputs, targets)`` (a number, usually) of ``model`` over ``batches()``
    (``(inputs, target)`` pairs; inputs a tensor, a tuple or a dict), under ``profile``'s
    effects."""
    model.eval()
    outputs, targets = [], []
    with torch.no_grad(), under_profile(model, profile, seed=seed, effects=effects):
        for inputs, target in batches():
            outputs.append(_call(model, inputs))
            targets.append(target)
    return metric(outputs, targets)


def score_on_task(
    model: nn.Module,
    task: str,
    *,
    preset: str = "quick",
    split: str = "test",
    profile: Profile | None = None,
    seed: int = 0,
    effects: bool = True,
    limit: int | None = None,
) -> EvalOutcome:
    """``model`` (adapted to the task's family) scored on ``task``'s ``split`` by the family's
    ``evaluate``, under ``profile``'s effects."""
    spec, subset = load_task(task)
    family = family_for(spec)
    prepared, _ = family.prepare(spec, subset, preset)
    model.eval()
    with under_profile(model, profile, seed=seed, effects=effects):
        return family.evaluate(model, prepared, split, limit=limit, progress=False)
