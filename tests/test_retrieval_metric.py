"""Recall@K (VSE++ protocol) on hand-made similarities, and exact vector search."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqbench import ops
from seqbench.errors import SeqbenchError
from seqbench.metrics.retrieval import (
    image_to_text_recall,
    rank,
    recall_from_similarity,
    text_to_image_recall,
)
from seqbench.search import VectorIndex

# Rows: images 0..2; columns: captions 0..2, caption j describes image j.
SIMILARITY = np.array(
    [
        [0.9, 0.1, 0.3],
        [0.2, 0.1, 0.8],
        [0.4, 0.5, 0.6],
    ]
)


def test_recall_at_k_on_a_hand_made_3x3_matrix() -> None:
    # i2t: image 0 ranks caption 0 first; image 1 ranks its caption 1 last (0.8, 0.2, 0.1);
    # image 2 ranks caption 2 first.
    # t2i: caption 0 ranks image 0 first; caption 1 scores (0.1, 0.1, 0.5): image 2, then the
    # tie 0 before 1, so image 1 is third; caption 2 scores (0.3, 0.8, 0.6): image 2 second.
    metrics = recall_from_similarity(SIMILARITY, np.arange(3), ks=(1, 2, 3))
    assert metrics["i2t_r1"] == pytest.approx(200 / 3)
    assert metrics["i2t_r2"] == pytest.approx(200 / 3)
    assert metrics["i2t_r3"] == pytest.approx(100.0)
    assert metrics["t2i_r1"] == pytest.approx(100 / 3)
    assert metrics["t2i_r2"] == pytest.approx(200 / 3)
    assert metrics["t2i_r3"] == pytest.approx(100.0)
    assert metrics["rsum"] == pytest.approx(200 / 3 * 2 + 100 + 100 / 3 + 200 / 3 + 100)


def test_image_query_hits_when_any_of_its_captions_is_in_the_top_k() -> None:
    caption_image = np.array([0, 0, 1, 1])
    ranked = np.array([[1, 2], [0, 3]])  # image 0: its 2nd caption first; image 1: 1st is 0's
    assert image_to_text_recall(ranked, caption_image, ks=(1, 2)) == {1: 50.0, 2: 100.0}
    ranked_images = np.array([[0], [1], [1], [0]])
    assert text_to_image_recall(ranked_images, caption_image, ks=(1,)) == {1: 50.0}


def test_rank_breaks_ties_by_lower_index_and_no_queries_is_an_error() -> None:
    assert rank(np.array([[0.5, 0.7, 0.5, 0.7]]), 4).tolist() == [[1, 3, 0, 2]]
    with pytest.raises(ValueError):
        text_to_image_recall(np.zeros((0, 3), dtype=int), np.zeros(0, dtype=int))


def test_exact_search_top_k_equals_a_brute_force_sort() -> None:
    generator = torch.Generator().manual_seed(0)
    gallery = torch.nn.functional.normalize(torch.randn(300, 16, generator=generator), dim=1)
    queries = torch.nn.functional.normalize(torch.randn(40, 16, generator=generator), dim=1)
    index = VectorIndex([f"g{i}" for i in range(300)], gallery, name="test")
    found = index.search(queries, 10)
    brute = [sorted(range(300), key=lambda j: -float(q @ gallery[j]))[:10] for q in queries]
    assert found.indices.tolist() == brute
    assert found.ids[0] == [f"g{j}" for j in brute[0]]
    assert index.search(queries, 1000).indices.shape == (40, 300)  # k capped at the gallery


def test_search_records_a_similarity_search_op_with_gallery_dim_k_queries() -> None:
    class Recorder(ops.OpHook):
        def __init__(self) -> None:
            self.seen: list = []

        def record(self, op_class, name, inputs, output, meta) -> None:  # noqa: ANN001
            self.seen.append((op_class, name, [tuple(t.shape) for t in inputs], dict(meta)))

    recorder = Recorder()
    index = VectorIndex(["a", "b", "c"], torch.eye(3), name="images")
    with ops.hooks(recorder):
        index.search(torch.eye(3)[:2], 2)
    assert recorder.seen == [
        (ops.OpClass.SIMILARITY_SEARCH, "search.images", [(2, 3), (3, 3)], {"k": 2})
    ]


def test_gallery_with_duplicate_ids_is_a_clear_error() -> None:
    with pytest.raises(SeqbenchError, match="has the id 'b' twice") as err:
        VectorIndex(["a", "b", "b"], torch.eye(3), name="images")
    assert "unique id" in str(err.value)
