"""The ``compile`` training option: checked as a flag, and compiled training (torch.compile with
inductor, fused AdamW) gives the eager losses on a tiny batch."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from seqbench import train
from seqbench.errors import SeqbenchError
from seqbench.families.runspec import DEFAULTS, TrainOptions, check_options
from seqbench.families.translation.family import TranslationFamily, make_batch
from seqbench.models import build_model
from tests.test_dropout import TINY_TRANSFORMER

# Inductor reorders and fuses the float arithmetic, and the fused AdamW step rounds unlike
# torch's default one: losses agree to this relative tolerance, not bit for bit.
RTOL = 1e-4


def test_compile_option_is_a_flag() -> None:
    assert check_options({"compile": True}, "here") == {"compile": True}
    with pytest.raises(SeqbenchError, match="compile = 'yes' is not true or false"):
        check_options({"compile": "yes"}, "here")
    assert TrainOptions.from_dict(DEFAULTS).compile is False
    assert TrainOptions.from_dict({**DEFAULTS, "compile": True}).compile is True


def _losses(model: torch.nn.Module, opts: TrainOptions, steps: int = 3) -> list[float]:
    """The loss of each of ``steps`` training steps on one tiny SCAN-like batch."""
    family = TranslationFamily()
    batch = make_batch([[3, 4, 5, 6], [7, 8, 9, 3]], [[5, 6, 7, 8], [9, 10, 11, 12]])
    optimizer = train.make_optimizer(model, opts)
    step_model = train.training_step_model(model, opts)
    model.train()
    losses = []
    for _ in range(steps):
        loss = family.loss(step_model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(opts.clip_norm))
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_compiled_training_gives_the_eager_losses() -> None:
    # no dropout: compiled dropout draws other random numbers than eager
    config = {**TINY_TRANSFORMER, "dropout": 0.0}
    torch.manual_seed(0)
    model = build_model("transformer", config, family="translation")
    eager_opts = TrainOptions.from_dict(DEFAULTS)
    compiled_opts = dataclasses.replace(eager_opts, family={"compile": True})
    eager = _losses(copy.deepcopy(model), eager_opts)
    try:
        compiled = _losses(copy.deepcopy(model), compiled_opts)
    except torch._dynamo.exc.BackendCompilerFailed as err:  # no working C++ compiler here
        pytest.skip(f"inductor cannot compile on this machine: {err}")
    assert compiled == pytest.approx(eager, rel=RTOL)
    assert eager[-1] < eager[0]  # the steps trained: the comparison is not of constants
