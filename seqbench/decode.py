"""Greedy and beam-search decoding over the incremental interface of translation models.

Both are batched and work with any model offering ``start``/``step``/``select`` (see
``seqbench.models.seq2seq``); the Transformer's ``step`` reuses its K/V cache.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

from seqbench.models.seq2seq import Seq2SeqModel


@contextlib.contextmanager
def inference(model: Seq2SeqModel) -> Iterator[None]:
    """Eval mode and no autograd for the block; the model's previous mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def strip_special(rows: Tensor, eos_id: int, pad_id: int, bos_id: int) -> list[list[int]]:
    """Token ids Long[B,T] -> per row the ids before the first eos, without pad and bos."""
    out = []
    for row in rows.tolist():
        if eos_id in row:
            row = row[: row.index(eos_id)]
        out.append([t for t in row if t not in (pad_id, bos_id)])
    return out


def greedy(model: Seq2SeqModel, src: Tensor, max_len: int) -> list[list[int]]:
    """Most likely next token at every step, for each row of ``src`` Long[B,S].

    Generates at most ``max_len`` tokens per row; rows stop at eos (later steps feed pad).
    """
    with inference(model):
        state = model.start(src)
        tokens = src.new_full((src.shape[0],), model.bos_id)
        finished = torch.zeros_like(tokens, dtype=torch.bool)
        generated = [src.new_empty(src.shape[0], 0)]
        for _ in range(max_len):
            logits, state = model.step(state, tokens)
            tokens = logits.argmax(dim=-1).masked_fill(finished, model.pad_id)
            generated.append(tokens.unsqueeze(1))
            finished |= tokens == model.eos_id
            if bool(finished.all()):
                break
    return strip_special(torch.cat(generated, dim=1), model.eos_id, model.pad_id, model.bos_id)


def beam_search(
    model: Seq2SeqModel,
    src: Tensor,
    beam_size: int,
    max_len: int,
    length_penalty: float = 1.0,
) -> list[list[int]]:
    """The best of ``beam_size`` hypotheses per row of ``src`` Long[B,S].

    Hypotheses are ranked during the search by total log-probability; a finished one keeps
    its slot (extended by pad at no cost). The final choice maximises
    ``log p / length ** length_penalty`` (length counts eos; 0 disables normalisation).
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    B, k = src.shape[0], beam_size
    device = src.device
    with inference(model):
        state = model.start(src)
        state = model.select(state, torch.arange(B, device=device).repeat_interleave(k))
        scores = torch.zeros(B, k, device=device)
        scores[:, 1:] = float("-inf")  # all beams start identical: expand only the first
        tokens = src.new_full((B * k,), model.bos_id)
        finished = torch.zeros(B, k, dtype=torch.bool, device=device)
        lengths = torch.zeros(B, k, dtype=torch.long, device=device)
        history = src.new_empty(B, k, 0)
        row_offset = torch.arange(B, device=device).unsqueeze(1) * k
        pad_only: Tensor | None = None
        for _ in range(max_len):
            logits, state = model.step(state, tokens)
            V = logits.shape[-1]
            log_probs = torch.log_softmax(logits.float(), dim=-1).view(B, k, V)
            if pad_only is None:
                pad_only = torch.full((V,), float("-inf"), device=device)
                pad_only[model.pad_id] = 0.0
            log_probs = torch.where(finished.unsqueeze(-1), pad_only, log_probs)
            scores, flat = (scores.unsqueeze(-1) + log_probs).view(B, k * V).topk(k, dim=-1)
            beam, next_tokens = flat // V, flat % V
            history = torch.cat(
                [
                    history.gather(1, beam.unsqueeze(-1).expand_as(history)),
                    next_tokens.unsqueeze(-1),
                ],
                dim=2,
            )
            was_finished = finished.gather(1, beam)
            lengths = lengths.gather(1, beam) + (~was_finished).long()
            finished = was_finished | (next_tokens == model.eos_id)
            state = model.select(state, (row_offset + beam).view(-1))
            tokens = next_tokens.view(-1)
            if bool(finished.all()):
                break
        normalised = scores / lengths.clamp(min=1).float() ** length_penalty
        best = history[torch.arange(B, device=device), normalised.argmax(dim=-1)]
    return strip_special(best, model.eos_id, model.pad_id, model.bos_id)
