"""An interpolated Kneser-Ney trigram model on token ids: the count-based baseline.

Written here rather than taken from ``nltk.lm``: nltk's ``KneserNeyInterpolated`` recomputes
continuation counts by scanning its n-gram tables on every ``score`` call (seconds per token
on a 100k-token train stream), and it would be a dependency for one table row. The recursion
is Chen & Goodman's (1999) interpolated KN with one absolute discount per order,
``D = n1 / (n1 + 2 n2)`` from the counts of counts::

    P3(w|u,v) = max(c(uvw) - D3, 0) / c(uv.) + D3 N1+(uv.) / c(uv.) * P2(w|v)
    P2(w|v)   = max(N1+(.vw) - D2, 0) / N1+(.v.) + D2 N1+'(v.) / N1+(.v.) * P1(w)
    P1(w)     = max(N1+(.w) - D1, 0) / N1+(..) + D1 |{w: N1+(.w) > 0}| / N1+(..) / V

where N1+ counts distinct left contexts (continuation counts) and an unseen context backs off
whole to the lower order. The uniform floor over the vocabulary ``V`` gives every id mass, so
each conditional distribution sums to one over the vocabulary.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def _discount(counts: Counter) -> float:
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    return n1 / (n1 + 2 * n2) if n1 + n2 else 0.75


class KneserNeyTrigram:
    """Fit on one token stream; :meth:`prob` and :meth:`nll` over another."""

    order = 3

    def __init__(self, stream: Sequence[int], vocab_size: int):
        self.vocab_size = vocab_size
        tokens = list(stream)
        trigrams = Counter(zip(tokens, tokens[1:], tokens[2:], strict=False))
        bigram_types = Counter(zip(tokens, tokens[1:], strict=False))
        # Continuation counts: distinct left neighbours of each bigram / token.
        self.cont2: Counter = Counter((v, w) for (_, v, w) in trigrams)
        self.cont1: Counter = Counter(w for (_, w) in bigram_types)
        self.d3, self.d2 = _discount(trigrams), _discount(self.cont2)
        self.d1 = _discount(self.cont1)
        self.tri = trigrams
        self.ctx3: Counter = Counter()  # c(uv.)
        self.types3: Counter = Counter()  # N1+(uv.)
        for (u, v, _), c in trigrams.items():
            self.ctx3[(u, v)] += c
            self.types3[(u, v)] += 1
        self.ctx2: Counter = Counter()  # N1+(.v.)
        self.types2: Counter = Counter()  # N1+'(v.)
        for (v, _), c in self.cont2.items():
            self.ctx2[v] += c
            self.types2[v] += 1
        self.total1 = sum(self.cont1.values())
        self.types1 = len(self.cont1)

    def p1(self, w: int) -> float:
        if self.total1 == 0:
            return 1.0 / self.vocab_size
        seen = max(self.cont1.get(w, 0) - self.d1, 0.0) / self.total1
        return seen + self.d1 * self.types1 / self.total1 / self.vocab_size

    def p2(self, v: int, w: int) -> float:
        denominator = self.ctx2.get(v, 0)
        if denominator == 0:
            return self.p1(w)
        seen = max(self.cont2.get((v, w), 0) - self.d2, 0.0) / denominator
        return seen + self.d2 * self.types2[v] / denominator * self.p1(w)

    def prob(self, u: int, v: int, w: int) -> float:
        """P(w | u, v)."""
        denominator = self.ctx3.get((u, v), 0)
        if denominator == 0:
            return self.p2(v, w)
        seen = max(self.tri.get((u, v, w), 0) - self.d3, 0.0) / denominator
        return seen + self.d3 * self.types3[(u, v)] / denominator * self.p2(v, w)

    def nll(self, stream: Sequence[int]) -> tuple[float, int]:
        """Total negative log-likelihood (nats) of ``stream[1:]`` given what precedes each
        token (the first token is context only, as for the neural models), and the count."""
        tokens = list(stream)
        total = 0.0
        for i in range(1, len(tokens)):
            u = tokens[i - 2] if i >= 2 else -1  # -1: no token (never in the counts)
            total -= math.log(self.prob(u, tokens[i - 1], tokens[i]))
        return total, max(len(tokens) - 1, 0)
