"""Text-generation metrics: sacrebleu BLEU and chrF (with signatures), exact match."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import sacrebleu

METRIC_CLASSES = {"bleu": sacrebleu.metrics.BLEU, "chrf": sacrebleu.metrics.CHRF}


# One evaluation scores the same references once on the host and again under every profile's
# effects, and extracting their statistics is about half of each score's time (SCAN's 7,706
# commands: BLEU 1.6 s -> 0.6 s, chrF 2.3 s -> 1.3 s): a metric keeps them per reference set
# (a task's dev and test, per metric). Same scores and signatures.
@functools.lru_cache(maxsize=8)
def _scorer(kind: str, references: tuple[str, ...]) -> sacrebleu.metrics.base.Metric:
    """A ``kind`` ("bleu" | "chrf") metric holding ``references``' statistics."""
    return METRIC_CLASSES[kind](references=[list(references)])


def _check_lengths(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")


def _corpus_score(
    kind: str, hypotheses: Sequence[str], references: Sequence[str]
) -> tuple[float, str]:
    _check_lengths(hypotheses, references)
    return _score_of(kind, tuple(hypotheses), tuple(references))


# Effects that leave every output as the host's (ISAAC's exact 16-bit crossbar on SCAN) give
# the same hypotheses again: their scores are the host's, computed once.
@functools.lru_cache(maxsize=8)
def _score_of(
    kind: str, hypotheses: tuple[str, ...], references: tuple[str, ...]
) -> tuple[float, str]:
    metric = _scorer(kind, references)
    score = metric.corpus_score(list(hypotheses), None)
    return float(score.score), str(metric.get_signature())


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """Corpus BLEU (0-100) and its sacrebleu signature, one reference per hypothesis."""
    return _corpus_score("bleu", hypotheses, references)


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """Corpus chrF (0-100) and its sacrebleu signature."""
    return _corpus_score("chrf", hypotheses, references)


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Sequence accuracy in percent: hypotheses equal to their reference after stripping."""
    _check_lengths(hypotheses, references)
    if not references:
        return 0.0
    hits = sum(h.strip() == r.strip() for h, r in zip(hypotheses, references, strict=True))
    return 100.0 * hits / len(references)
