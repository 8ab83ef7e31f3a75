"""Dropout with a choice of how its masks are drawn: ``bernoulli`` (torch's own) or ``packed``.

torch's CPU ``bernoulli_`` draws each mask element from a 64-bit Mersenne Twister value in one
serial loop: about 6 ns per element, a fifth of a Multi30k transformer's training step
(``bench/README.md``, "Dropout masks from packed random words"). ``packed`` draws one 64-bit
word per four elements from the same generator (seeded and resumed like every other draw) and
keeps an element when its 16-bit slice falls below the keep probability, rounded to 1/65,536
(0.9 becomes 0.899994). The survivors are scaled by ``1 / keep``, as torch's are, so only
which elements drop differs.

A task opts in per preset with the training option ``dropout_masks: packed``; the default
keeps torch's masks, so every run trained before draws the same masks as it did.
:func:`masks` sets the kind for a block (the training step's forward); :class:`Dropout` reads
it. Outside training, and at p = 0 or p = 1, both kinds do what ``nn.Dropout`` does.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch
from torch import Tensor, nn

# Training option values: the first is what an unset option means.
MASK_KINDS: tuple[str, ...] = ("bernoulli", "packed")

_SLICE_VALUES = 1 << 16  # one mask element per 16 bits of a random word
_kind: contextvars.ContextVar[str] = contextvars.ContextVar("dropout_masks", default=MASK_KINDS[0])


@contextlib.contextmanager
def masks(kind: str) -> Iterator[None]:
    """Draw the masks of every :class:`Dropout` run in this block the ``kind`` way."""
    if kind not in MASK_KINDS:
        raise ValueError(f"dropout masks {kind!r}: one of {', '.join(MASK_KINDS)}")
    token = _kind.set(kind)
    try:
        yield
    finally:
        _kind.reset(token)


def packed_keep(shape: torch.Size, keep: float, device: torch.device) -> Tensor:
    """Bool[shape]: each element kept with probability ``keep`` (to 1/65,536), four elements
    per 64-bit draw of torch's generator on ``device``."""
    n = shape.numel()
    # The full signed 64-bit range: every bit of each word is random (random_() alone leaves
    # the top bit 0, and the highest slice would have 15 random bits).
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    threshold = round(keep * _SLICE_VALUES) - _SLICE_VALUES // 2  # slices are signed int16
    return words.view(torch.int16)[:n].view(shape) < threshold


def packed_dropout(X: Tensor, p: float) -> Tensor:
    """``X`` with each element zeroed with probability ``p`` and the rest scaled by
    ``1 / (1 - p)``; masks from :func:`packed_keep`. Differentiable in ``X``."""
    keep = 1.0 - p
    scale = packed_keep(X.shape, keep, X.device).to(X.dtype).mul_(1.0 / keep)
    return X * scale


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose training masks are drawn as :func:`masks` says (torch's by default)."""

    def forward(self, input: Tensor) -> Tensor:
        if self.training and 0.0 < self.p < 1.0 and _kind.get() == "packed":
            return packed_dropout(input, self.p)
        return super().forward(input)
