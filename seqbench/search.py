"""Vector search over an embedded gallery: embed once, then exact top-K by dot product.

The product and top-K run through :func:`seqbench.ops.similarity_search`, so a trace taken
during evaluation holds one ``similarity_search`` record per query chunk (gallery size and
dimension from its inputs, ``k`` in its meta, queries = rows): the records a profile such as
ICE (in-NAND search) prices, while the encoders that made the vectors run elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from seqbench import ops
from seqbench.errors import SeqbenchError

# Queries per search call: bounds the score matrix (chunk x gallery floats) in memory.
QUERY_CHUNK = 4096


@dataclass(frozen=True)
class SearchResult:
    """Gallery indices [Q, k] of each query's best matches, best first."""

    indices: Tensor
    ids: list[list[str]]


class VectorIndex:
    """A gallery of ``vectors`` [N, d] (unit length for cosine search) with unique ``ids``."""

    def __init__(self, ids: Sequence[str], vectors: Tensor, *, name: str) -> None:
        if vectors.dim() != 2 or vectors.shape[0] != len(ids):
            raise ValueError(f"{len(ids)} ids for vectors of shape {tuple(vectors.shape)}")
        seen: set[str] = set()
        for item in ids:
            if item in seen:
                raise SeqbenchError(
                    f"gallery {name!r} has the id {item!r} twice",
                    "give every gallery item a unique id (deduplicate the source)",
                )
            seen.add(item)
        self.ids = list(ids)
        self.vectors = vectors.detach()
        self.name = name

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def search(self, queries: Tensor, k: int) -> SearchResult:
        """Exact top-``k`` by dot product for every row of ``queries`` [Q, d]."""
        if queries.dim() != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries {tuple(queries.shape)} do not match dimension {self.dim}")
        chunks = [
            ops.similarity_search(
                queries[start : start + QUERY_CHUNK], self.vectors, k, name=f"search.{self.name}"
            )
            for start in range(0, queries.shape[0], QUERY_CHUNK)
        ]
        k_found = min(k, self.size)
        indices = torch.cat(chunks) if chunks else torch.empty(0, k_found, dtype=torch.long)
        return SearchResult(indices, [[self.ids[i] for i in row] for row in indices.tolist()])
