"""Adapters that give an external model the interface a seqbench family scores.

A family's ``evaluate`` calls its models in one way (the ``lm`` family: ``model(ids)`` ->
logits ``[B, T, V]``, and ``model.context`` tokens per window). An adapter wraps a
``transformers`` model so that call works; the wrapped model is the adapter's ``model``
submodule, so traced op names read ``model.transformer.h.0.attn...``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from seqbench.errors import SeqbenchError


class CausalLM(nn.Module):
    """A ``transformers`` causal LM (GPT-2, ...) as the ``lm`` family scores it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        config = model.config
        self.context = int(getattr(config, "n_positions", 0) or config.max_position_embeddings)
        self.vocab_size = int(config.vocab_size)

    def forward(self, ids: Tensor) -> Tensor:
        return self.model(input_ids=ids).logits


ADAPTERS: dict[str, type[nn.Module]] = {"lm": CausalLM}


def adapt(model: nn.Module, family: str, vocab_size: int | None = None) -> nn.Module:
    """``model`` wrapped for ``family``'s evaluate; refuses a family no adapter fits, and a
    vocabulary that is not the task's (its token ids would mean other tokens)."""
    if family not in ADAPTERS:
        raise SeqbenchError(
            f"no adapter scores an external model on a {family!r} task",
            f"families with one: {sorted(ADAPTERS)}",
        )
    adapted: Any = ADAPTERS[family](model)
    if vocab_size is not None and getattr(adapted, "vocab_size", vocab_size) != vocab_size:
        raise SeqbenchError(
            f"the model's vocabulary has {adapted.vocab_size} tokens, the task's {vocab_size}",
            "build the model with the task's tokenizer (vocab_size in its configuration)",
        )
    return adapted
