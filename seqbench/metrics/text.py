"""Text-generation metrics: sacrebleu BLEU and chrF (with signatures), exact match."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import sacrebleu

# sacrebleu metrics with their references' statistics extracted, per (metric, references):
# one evaluation scores the same references once on the host and again under every profile's
# effects, and extracting them is about half of each score's time (SCAN's 7,706 commands:
# BLEU 1.6 s -> 0.6 s, chrF 2.3 s -> 1.3 s). Same scores and signatures.
_SCORERS: OrderedDict[tuple[str, tuple[str, ...]], sacrebleu.metrics.base.Metric] = OrderedDict()
_KEEP = 4  # reference sets kept (a task's dev and test, per metric)


def _scorer(kind: str, references: Sequence[str]) -> sacrebleu.metrics.base.Metric:
    """A ``kind`` ("bleu" | "chrf") metric holding ``references``' statistics."""
    key = (kind, tuple(references))
    metric = _SCORERS.get(key)
    if metric is None:
        make = sacrebleu.metrics.BLEU if kind == "bleu" else sacrebleu.metrics.CHRF
        metric = make(references=[list(references)])
        _SCORERS[key] = metric
        while len(_SCORERS) > 2 * _KEEP:
            _SCORERS.popitem(last=False)
    else:
        _SCORERS.move_to_end(key)
    return metric


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """Corpus BLEU (0-100) and its sacrebleu signature, one reference per hypothesis."""
    return _corpus_score("bleu", hypotheses, references)


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """Corpus chrF (0-100) and its sacrebleu signature."""
    return _corpus_score("chrf", hypotheses, references)


def _corpus_score(
    kind: str, hypotheses: Sequence[str], references: Sequence[str]
) -> tuple[float, str]:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    metric = _scorer(kind, references)
    score = metric.corpus_score(list(hypotheses), None)
    return float(score.score), str(metric.get_signature())


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Sequence accuracy in percent: hypotheses equal to their reference after stripping."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    if not references:
        return 0.0
    hits = sum(h.strip() == r.strip() for h, r in zip(hypotheses, references, strict=True))
    return 100.0 * hits / len(references)
