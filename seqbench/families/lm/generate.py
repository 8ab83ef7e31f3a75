"""Sampling text from a trained language model: prefill the prompt, then decode token by token.

The prompt runs through the model once (``prefill``, filling the K/V cache or the recurrent
state); each new token is one ``step``. The two phases run under ``ops.phase("prefill")`` and
``ops.phase("decode")`` so a trace tells them apart (prompt throughput vs generation tokens/s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seqbench import ops
from seqbench.data.tokenize import BOS_ID, EOS_ID
from seqbench.errors import SeqbenchError


@dataclass(frozen=True)
class Sampling:
    """How to pick each next token: ``temperature`` 0 is greedy; ``top_k`` 0 keeps all."""

    max_tokens: int = 50
    temperature: float = 0.8
    top_k: int = 40
    seed: int = 0
    stop_at_eos: bool = True

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise SeqbenchError(f"--max-tokens must be >= 1, got {self.max_tokens}", "e.g. 50")
        if self.temperature < 0:
            raise SeqbenchError(f"--temperature must be >= 0, got {self.temperature}", "e.g. 0.8")
        if self.top_k < 0:
            raise SeqbenchError(f"--top-k must be >= 0, got {self.top_k}", "0 keeps every token")


def pick(logits: Tensor, sampling: Sampling, generator: torch.Generator) -> Tensor:
    """Next token per row of ``logits`` [B,V]: argmax, or a top-k sample at the temperature."""
    if sampling.temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / sampling.temperature
    if 0 < sampling.top_k < logits.shape[-1]:
        cutoff = logits.topk(sampling.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < cutoff, float("-inf"))
    return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)[:, 0]


def check_length(prompt_tokens: int, max_tokens: int, context: int) -> None:
    """A prompt plus the tokens to generate must fit the model's context: a clear error, no
    silent truncation."""
    if prompt_tokens >= context:
        raise SeqbenchError(
            f"the prompt is {prompt_tokens} tokens (with bos), the model's context {context}",
            f"shorten the prompt to under {context - 1} tokens (nothing is truncated silently)",
        )
    if prompt_tokens + max_tokens > context:
        raise SeqbenchError(
            f"the prompt ({prompt_tokens} tokens with bos) plus --max-tokens {max_tokens} "
            f"exceeds the model's context of {context} tokens",
            f"shorten the prompt or use --max-tokens {max(1, context - prompt_tokens)} or less",
        )


def generate(
    model: nn.Module,
    prompt_ids: list[int],
    sampling: Sampling,
    on_token: Callable[[int], None] | None = None,
    *,
    use_cache: bool = True,
) -> list[int]:
    """New token ids after ``bos + prompt_ids`` (``on_token`` sees each as it is made).

    ``use_cache=False`` reruns the whole prefix every step (the reference the cached path is
    tested against).
    """
    prefix = [BOS_ID, *prompt_ids]
    check_length(len(prefix), sampling.max_tokens, int(getattr(model, "context", 1 << 30)))
    generator = torch.Generator().manual_seed(sampling.seed)
    was_training = model.training
    model.eval()
    out: list[int] = []
    try:
        with torch.no_grad():
            ids = torch.tensor([prefix])
            with ops.phase("prefill"):
                logits, state = model.prefill(ids)
            logits = logits[:, -1]
            with ops.phase("decode"):
                for _ in range(sampling.max_tokens):
                    token = pick(logits, sampling, generator)
                    out.append(int(token))
                    if on_token is not None:
                        on_token(out[-1])
                    stop = sampling.stop_at_eos and out[-1] == EOS_ID
                    if stop or len(out) == sampling.max_tokens:
                        break
                    if use_cache:
                        logits, state = model.step(state, token)
                    else:
                        ids = torch.cat([ids, token[:, None]], dim=1)
                        logits = model(ids)[:, -1]
    finally:
        model.train(was_training)
    return out
