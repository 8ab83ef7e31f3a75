"""The gallery search at growing sizes: 1K..1M embeddings and ICE's own data sets.

For each size the exact top-k search really runs on the host: the gallery is the real
enrolled test embeddings followed by seeded distractors (random unit vectors stored as INT8,
as ICE stores its database), built and searched in chunks of ``CHUNK`` vectors with the
running top-k merged, so memory stays at one chunk (``CHUNK x dim`` floats) whatever the size.
Each chunk's search runs through :func:`seqbench.ops.similarity_search` under its own
tracer, so the workload's trace is that search, which a profile (ICE, the CPU) then prices.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from seqbench import ops
from seqbench.accel.validate_ice import ICE_DATASETS
from seqbench.trace import Trace, Tracer

CHUNK = 1 << 17  # gallery vectors built and searched at a time (64 MiB at dim 128)
SIZES = {"1K": 1_000, "10K": 10_000, "100K": 100_000, "1M": 1_000_000}


@dataclass
class ScalingRow:
    """One gallery size: what ran on the host, and the trace of that search."""

    name: str
    vectors: int
    dim: int
    bytes_int8: int
    queries: int
    host_search_s: float
    rank1: float  # of the real probes, against real gallery + distractors
    trace: Trace

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vectors": self.vectors,
            "dim": self.dim,
            "bytes_int8": self.bytes_int8,
            "queries": self.queries,
            "host_search_s": self.host_search_s,
            "host_searches_per_s": self.queries / self.host_search_s,
            "rank1": self.rank1,
        }


def sizes(dim: int) -> dict[str, int]:
    """Gallery sizes: the fixed ladder plus ICE's data sets (INT8 bytes / dim vectors)."""
    out = dict(SIZES)
    for name, size in ICE_DATASETS.items():
        out[f"{name} ({size / 1e6:g} MB INT8)"] = int(size // dim)
    return out


def int8_distractors(count: int, dim: int, generator: torch.Generator) -> Tensor:
    """``count`` random unit vectors as INT8 codes with a per-vector scale (max |u| / 127),
    returned dequantised (float), so their dot products are what the INT8 store gives."""
    x = torch.nn.functional.normalize(torch.randn(count, dim, generator=generator), dim=-1)
    step = x.abs().amax(-1, keepdim=True) / 127.0
    return x.div_(step).round_().mul_(step)


def search_at(
    name: str,
    vectors: int,
    gallery: Tensor,
    gallery_labels: np.ndarray,
    probes: Tensor,
    probe_labels: np.ndarray,
    k: int,
    seed: int,
) -> ScalingRow:
    """Exact top-``k`` of ``probes`` against ``gallery`` padded to ``vectors`` with distractors."""
    dim = gallery.shape[1]
    generator = torch.Generator().manual_seed(seed)
    tracer = Tracer(stats=False)
    best_scores = torch.full((probes.shape[0], k), -torch.inf)
    best_index = torch.zeros((probes.shape[0], k), dtype=torch.long)
    searching = 0.0
    real = gallery.shape[0]
    for start in range(0, vectors, CHUNK):
        stop = min(vectors, start + CHUNK)
        parts = []
        if start < real:
            parts.append(gallery[start : min(stop, real)])
        if stop > max(start, real):
            parts.append(int8_distractors(stop - max(start, real), dim, generator))
        chunk = torch.cat(parts)
        t0 = time.perf_counter()
        with ops.hooks(tracer):
            top = ops.similarity_search(probes, chunk, k, name="search.gallery")
        scores = (probes @ chunk.T).gather(1, top)  # the found rows' scores, to merge chunks
        merged_scores = torch.cat([best_scores, scores], 1)
        merged_index = torch.cat([best_index, top + start], 1)
        order = merged_scores.topk(k, dim=1).indices
        best_scores, best_index = merged_scores.gather(1, order), merged_index.gather(1, order)
        searching += time.perf_counter() - t0
    top1 = best_index[:, 0].numpy()
    hit = (top1 < real) & (gallery_labels[np.minimum(top1, real - 1)] == probe_labels)
    trace = tracer.finish(
        samples=probes.shape[0],
        units=probes.shape[0],
        unit="query",
        meta={"workload": "gallery_search", "gallery": vectors, "dim": dim, "k": k},
    )
    return ScalingRow(
        name, vectors, dim, vectors * dim, probes.shape[0], searching, float(hit.mean()), trace
    )


def scaling_table(
    gallery: Tensor,
    gallery_labels: np.ndarray,
    probes: Tensor,
    probe_labels: np.ndarray,
    *,
    max_vectors: int,
    queries: int,
    k: int = 10,
    seed: int = 0,
) -> tuple[list[ScalingRow], list[dict[str, Any]]]:
    """Rows for every size up to ``max_vectors`` (run), and the sizes above it (skipped)."""
    probes, probe_labels = probes[:queries], probe_labels[:queries]
    ran, skipped = [], []
    for name, vectors in sizes(gallery.shape[1]).items():
        if vectors > max_vectors:
            skipped.append({"name": name, "vectors": vectors, "why": f"above {max_vectors:,}"})
            continue
        ran.append(
            search_at(name, max(vectors, 1), gallery, gallery_labels, probes, probe_labels, k, seed)
        )
    return ran, skipped
