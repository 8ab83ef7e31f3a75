"""Recall@K for image-text retrieval (the VSE++ protocol) and RSUM.

Image -> text: an image query hits at K when *any* of its captions is among its top K.
Text -> image: each caption queries for its one image. Values are percentages; RSUM is the
sum of the six recalls (R@1, R@5, R@10 both ways; at most 600).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

KS = (1, 5, 10)


def _recall(hits: np.ndarray, ks: Sequence[int]) -> dict[int, float]:
    """``hits`` bool [Q, K]: whether rank j of query q is relevant -> {k: % with a hit in top k}."""
    if hits.shape[0] == 0:
        raise ValueError("no queries to score")
    return {k: 100.0 * float(hits[:, :k].any(axis=1).mean()) for k in ks}


def image_to_text_recall(
    ranked_captions: np.ndarray, caption_image: np.ndarray, ks: Sequence[int] = KS
) -> dict[int, float]:
    """``ranked_captions`` [I, K]: caption indices per image query, best first.

    ``caption_image`` [C]: the image index each caption describes.
    """
    images = np.arange(ranked_captions.shape[0])[:, None]
    return _recall(np.asarray(caption_image)[ranked_captions] == images, ks)


def text_to_image_recall(
    ranked_images: np.ndarray, caption_image: np.ndarray, ks: Sequence[int] = KS
) -> dict[int, float]:
    """``ranked_images`` [C, K]: image indices per caption query, best first."""
    return _recall(ranked_images == np.asarray(caption_image)[:, None], ks)


def recall_metrics(
    ranked_captions: np.ndarray,
    ranked_images: np.ndarray,
    caption_image: np.ndarray,
    ks: Sequence[int] = KS,
) -> dict[str, float]:
    """``i2t_r{k}``, ``t2i_r{k}`` (percent) and ``rsum`` from both directions' rankings."""
    i2t = image_to_text_recall(ranked_captions, caption_image, ks)
    t2i = text_to_image_recall(ranked_images, caption_image, ks)
    # text -> image first: the headline direction, shown first where tables truncate
    metrics = {f"t2i_r{k}": v for k, v in t2i.items()} | {f"i2t_r{k}": v for k, v in i2t.items()}
    metrics["rsum"] = sum(i2t.values()) + sum(t2i.values())
    return metrics


def rank(similarity: np.ndarray, k: int) -> np.ndarray:
    """Top-``k`` column indices of each row, best first; ties go to the lower index."""
    order = np.argsort(-np.asarray(similarity), axis=1, kind="stable")
    return order[:, :k]


def recall_from_similarity(
    similarity: np.ndarray, caption_image: np.ndarray, ks: Sequence[int] = KS
) -> dict[str, float]:
    """Every recall from a full image x caption similarity matrix [I, C] (small sets, tests)."""
    k = max(ks)
    return recall_metrics(rank(similarity, k), rank(similarity.T, k), caption_image, ks)
