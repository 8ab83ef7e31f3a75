"""MulTCIM's attention and token sparsity as rules on attention probabilities.

One home for the decisions, read by both sides: the functional effects
(:mod:`seqbench.accel.effects`) apply them to what the model computes, and the tracer
(:mod:`seqbench.trace`) records, per op, the share of its products they leave, which the cost
model (``mappings/digital_cim.py``) prices. Both rules depend on the row, not on its length:

* attention (``attention_threshold`` = alpha): a probability is dropped when it is under
  alpha times the row's uniform share, ``p < alpha / n`` with n the row's unmasked keys, so a
  uniform row loses the same share (none for alpha <= 1) at 26 keys as at 229;
* tokens (``token_theta``): a key's importance is the attention it receives (mean over heads
  and queries); the smallest set of most important keys holding ``theta`` of it is kept, with
  ties at the cutoff kept (a decision that depends on values, not on tie order). In a layered
  stream's self-attention (``encoder.layers.3.self_attention``) a pruned token stays pruned in
  every later layer of that stream: its key and value are neither produced (W_k, W_v rows) nor
  used (Q.K^T and S.V columns). Its query row still runs, since other streams, a decoder's
  cross-attention or a pooled output may read it; anywhere else (cross-attention, an RNN's
  attention) the keys are pruned for that call alone.

The MulTCIM papers (ISSCC'23 16.1, JSSC'24) name a runtime token pruner and attention
sparsity but the stored material does not give their exact rules; these are the length-
independent forms the papers' goal (keep the attention mass that matters) implies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

# The rules' defaults when a profile names neither (effects and the cost model read these).
DEFAULT_ATTENTION_THRESHOLD = 0.25  # alpha: about the old absolute 0.01 at 26 keys
DEFAULT_TOKEN_THETA = 0.95  # the share of attention the kept tokens hold


def rule(theta: float, alpha: float) -> str:
    """The key of a (token theta, attention threshold) pair; theta 1 / alpha 0 mean off."""
    return f"{theta:g}|{alpha:g}"


def is_attention(name: str) -> bool:
    """Whether a softmax named ``name`` computes attention probabilities."""
    return name.endswith(".softmax") or "attention" in name


def above_threshold(probs: Tensor, alpha: float) -> Tensor:
    """Entries kept by the attention rule: nonzero and at least ``alpha / n`` of their row."""
    valid = probs > 0
    n = valid.sum(dim=-1, keepdim=True).clamp(min=1)
    return valid & (probs * n >= alpha)


def renormalise(probs: Tensor, fallback: Tensor) -> Tensor:
    """Rows rescaled to sum to 1; a row with nothing left keeps ``fallback``'s row."""
    total = probs.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, probs / total.clamp(min=1e-30), fallback)


def key_importance(probs: Tensor) -> Tensor:
    """Attention each key receives, averaged over heads and queries: [B, Lk]."""
    if probs.dim() == 2:  # one query per row (an RNN decoder step): [B, Lk]
        return probs
    return probs.reshape(probs.shape[0], -1, probs.shape[-1]).mean(dim=1)


def pruned_keys(probs: Tensor, theta: float) -> Tensor:
    """Keys outside the smallest most-important set holding ``theta`` of the importance
    (ties at the cutoff kept; keys no query attends to, e.g. padding, are not counted as
    pruned): bool [B, Lk]."""
    importance = key_importance(probs)
    share = importance / importance.sum(dim=-1, keepdim=True).clamp(min=1e-30)
    ordered = share.sort(dim=-1, descending=True).values
    needed = (ordered.cumsum(dim=-1) < theta).sum(dim=-1, keepdim=True)
    needed = needed.clamp(max=share.shape[-1] - 1)
    cutoff = ordered.gather(-1, needed)
    return (share < cutoff) & (importance > 0)


def _broadcast_keys(mask: Tensor, probs: Tensor) -> Tensor:
    """[B, Lk] key mask shaped to broadcast over ``probs`` ([B, ..., Lq, Lk] or [B, Lk])."""
    if probs.dim() == 2:
        return mask
    return mask.reshape(mask.shape[0], *([1] * (probs.dim() - 2)), mask.shape[-1])


def stream_of(name: str) -> tuple[str, int, str] | None:
    """``encoder.layers.3.self_attention.softmax`` -> (``encoder.layers``, 3,
    ``self_attention.softmax``): the stream, the layer and the op's path inside the layer."""
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[:i]), int(part), ".".join(parts[i + 1 :])
    return None


@dataclass
class _Stream:
    layer: int
    module: str  # the self-attention's path inside a layer, e.g. "self_attention"
    pruned: Tensor  # [B, L] tokens removed for every later layer


@dataclass
class TokenPruner:
    """MulTCIM's runtime token pruner over forward passes (state is per stream; a layer index
    not above the stream's last one starts a new pass)."""

    theta: float
    _streams: dict[str, _Stream] = field(default_factory=dict)

    def prune(self, name: str, probs: Tensor) -> tuple[Tensor, Tensor]:
        """Probabilities with the removed and newly pruned keys zeroed and rows renormalised,
        and the keys zeroed in this call ([B, Lk] bool)."""
        place = stream_of(name)
        square = probs.dim() >= 3 and probs.shape[-1] == probs.shape[-2]
        in_stream = place is not None and square and "self" in place[2]
        earlier = self.removed_before(name, probs.shape[0], probs.shape[-1]) if in_stream else None
        if place is not None and in_stream:
            stream, layer, _ = place
            known = self._streams.get(stream)
            if known is not None and layer <= known.layer:
                del self._streams[stream]  # a new forward pass
        if earlier is not None:
            probs = renormalise(probs * ~_broadcast_keys(earlier, probs), probs)
        pruned = pruned_keys(probs, self.theta)
        if earlier is not None:
            pruned = pruned | earlier
        if place is not None and in_stream:
            module = place[2].rsplit(".", 1)[0]
            self._streams[place[0]] = _Stream(place[1], module, pruned)
        return renormalise(probs * ~_broadcast_keys(pruned, probs), probs), pruned

    def removed_before(self, name: str, batch: int, length: int) -> Tensor | None:
        """Tokens of ``name``'s stream removed by earlier layers ([B, L]), when ``name`` is
        in a later layer's self-attention and its batch and length match; else None."""
        place = stream_of(name)
        if place is None:
            return None
        known = self._streams.get(place[0])
        if known is None or place[1] <= known.layer or not place[2].startswith(known.module):
            return None
        if tuple(known.pruned.shape) != (batch, length):
            return None
        return known.pruned


def later_layer_share(
    pruner: TokenPruner, op_class: str, name: str, inputs: tuple[Tensor, ...], output: Tensor
) -> float | None:
    """For a later layer's W_k, W_v or Q.K^T in a stream with pruned tokens, the share of the
    op's products still needed (the removed tokens' keys and values are not); else None."""
    x = inputs[0]
    if op_class == "matmul_dynamic" and name.endswith(".qk") and output.dim() >= 3:
        batch, length = int(output.shape[0]), int(output.shape[-1])
    elif op_class == "matmul_static" and name.endswith((".W_k", ".W_v")) and x.dim() == 3:
        batch, length = int(x.shape[0]), int(x.shape[1])
    else:
        return None
    removed = pruner.removed_before(name, batch, length)
    return None if removed is None else 1.0 - float(removed.float().mean())
