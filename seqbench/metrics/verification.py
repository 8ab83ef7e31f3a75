"""Face verification and identification metrics (the LFW protocol).

Verification scores pairs (cosine similarity); a pair is declared "same" when its score
exceeds a threshold. :func:`ten_fold_accuracy` chooses the threshold on nine folds and
measures accuracy on the tenth, as LFW's View 2 does; :func:`tar_at_far` is the true accept
rate at the threshold whose false accept rate is at most ``far``; :func:`roc_points` gives
the curve for the record; :func:`rank1` is closed-set identification against a gallery.
"""

from __future__ import annotations

import numpy as np


def _check(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if scores.shape != same.shape or scores.ndim != 1:
        raise ValueError(f"{scores.shape} scores for {same.shape} labels")
    return scores, same


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (pair is "same" when score > t) maximising accuracy on these pairs."""
    scores, same = _check(scores, same)
    values = np.unique(scores)
    # Candidates: below every score, and midway between neighbouring distinct scores.
    candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, values[-1:]])
    accuracies = [np.mean((scores > t) == same) for t in candidates]
    return float(candidates[int(np.argmax(accuracies))])


def ten_fold_accuracy(
    scores: np.ndarray, same: np.ndarray, folds: np.ndarray
) -> tuple[float, float, list[float]]:
    """(mean accuracy, std, per-fold thresholds): each fold's threshold from the other folds."""
    scores, same = _check(scores, same)
    folds = np.asarray(folds)
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        held = folds == fold
        t = best_threshold(scores[~held], same[~held])
        thresholds.append(t)
        accuracies.append(float(np.mean((scores[held] > t) == same[held])))
    return float(np.mean(accuracies)), float(np.std(accuracies)), thresholds


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """True accept rate at the lowest threshold whose false accept rate is <= ``far``."""
    scores, same = _check(scores, same)
    impostor = np.sort(scores[~same])[::-1]
    genuine = scores[same]
    if len(impostor) == 0 or len(genuine) == 0:
        raise ValueError("TAR@FAR needs both genuine and impostor pairs")
    allowed = int(np.floor(far * len(impostor)))  # impostors that may score above t
    threshold = impostor[allowed] if allowed < len(impostor) else -np.inf
    return float(np.mean(genuine > threshold))


def roc_points(scores: np.ndarray, same: np.ndarray, n: int = 21) -> list[dict[str, float]]:
    """``n`` (threshold, FAR, TAR) points at evenly spaced score quantiles."""
    scores, same = _check(scores, same)
    out = []
    for t in np.quantile(scores, np.linspace(0, 1, n)):
        accept = scores > t
        out.append(
            {
                "threshold": float(t),
                "far": float(accept[~same].mean()) if (~same).any() else 0.0,
                "tar": float(accept[same].mean()) if same.any() else 0.0,
            }
        )
    return out


def rank1(top1: np.ndarray, probe_labels: np.ndarray, gallery_labels: np.ndarray) -> float:
    """Fraction of probes whose best gallery match (index ``top1``) has the probe's identity."""
    top1 = np.asarray(top1)
    return float(np.mean(np.asarray(gallery_labels)[top1] == np.asarray(probe_labels)))
