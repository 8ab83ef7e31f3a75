"""Metric signatures: every setting a score depends on, pinned for reproducibility.

Like sacrebleu's ``Signature``, a signature is built from named fields and written by one
:meth:`Signature.format`: fields are ``name:value``, joined by ``|`` within a group and the
groups by spaces (``bleu:nrefs:1|... chrf:... data:FINGERPRINT|spm:unigram-8000/8000``). A
family builds its own from its metric's settings; records and reports keep the formatted text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Signature:
    """Groups of (name, value) fields, in the order they are written."""

    groups: tuple[tuple[tuple[str, str], ...], ...]

    @classmethod
    def of(cls, *groups: Mapping[str, Any]) -> Signature:
        """A signature of ``groups`` (each a mapping of field name to value, in order)."""
        return cls(tuple(tuple((name, str(value)) for name, value in g.items()) for g in groups))

    def format(self) -> str:
        """The signature as records and leaderboards print it."""
        return " ".join("|".join(f"{name}:{value}" for name, value in g) for g in self.groups)

    def __str__(self) -> str:
        return self.format()
