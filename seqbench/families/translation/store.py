"""Prepared translation splits on disk: one parquet file per split.

Columns ``src``, ``tgt`` (raw strings) and ``src_ids``, ``tgt_ids`` (SentencePiece ids, no
bos/eos).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("src", pa.string()),
        ("tgt", pa.string()),
        ("src_ids", pa.list_(pa.int32())),
        ("tgt_ids", pa.list_(pa.int32())),
    ]
)


@dataclass(frozen=True)
class SplitData:
    """One tokenized split: raw strings and their token ids (no bos/eos)."""

    src: list[str]
    tgt: list[str]
    src_ids: list[list[int]]
    tgt_ids: list[list[int]]

    def __len__(self) -> int:
        return len(self.src)


def write_split(path: Path, data: SplitData) -> None:
    """Write a split as a parquet file with columns src, tgt, src_ids, tgt_ids."""
    table = pa.table([data.src, data.tgt, data.src_ids, data.tgt_ids], schema=SCHEMA)
    pq.write_table(table, path)


def read_split(path: Path) -> SplitData:
    """Read a split written by :func:`write_split`."""
    table = pq.read_table(path)
    return SplitData(*(table.column(name).to_pylist() for name in SCHEMA.names))


def length_stats(ids: list[list[int]]) -> dict[str, float]:
    """Token-length summary: mean, median, 95th percentile and max (tokens)."""
    lengths = sorted(len(x) for x in ids) or [0]

    def quantile(q: float) -> int:
        return lengths[min(len(lengths) - 1, int(q * len(lengths)))]

    return {
        "mean": round(sum(lengths) / len(lengths), 2),
        "p50": quantile(0.5),
        "p95": quantile(0.95),
        "max": lengths[-1],
    }
