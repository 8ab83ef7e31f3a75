"""Prepared retrieval splits on disk: one zstd-compressed Arrow IPC file per split.

Columns: ``image_id``, ``pixels`` (H*W*3 uint8 bytes; the shape is in the schema metadata),
``captions`` (list of strings), ``caption_ids`` (SentencePiece ids per caption, truncated to
``max_tokens``) and ``group`` (a generated scene's foil group, else the image's own row).
Files are written chunk by chunk, so a large source never sits in memory whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from seqbench.atomic import atomic_path
from seqbench.data.arrow import read_table
from seqbench.data.tokenize import SentencePieceTokenizer
from seqbench.families.retrieval.sources import RetrievalRecord, image_array

_IPC = pa.ipc.IpcWriteOptions(compression="zstd")
_WRITE_CHUNK = 1024  # images per Arrow record batch while writing


@dataclass
class RetrievalSplit:
    """One prepared split in memory."""

    image_ids: list[str]
    images: np.ndarray  # uint8 [N, H, W, 3]
    captions: list[list[str]]
    caption_ids: list[list[list[int]]]
    groups: np.ndarray  # int64 [N]: foil group (generated) or the image's own row

    def __len__(self) -> int:
        return len(self.image_ids)


def write_split(
    path: Path,
    records: list[RetrievalRecord],
    tok: SentencePieceTokenizer,
    image_size: int,
    max_tokens: int,
    advance: Callable[[int], None],
) -> None:
    """Decode, resize and tokenize ``records`` into one Arrow IPC file, chunk by chunk."""
    schema = pa.schema(
        [
            ("image_id", pa.string()),
            ("pixels", pa.binary()),
            ("captions", pa.list_(pa.string())),
            ("caption_ids", pa.list_(pa.list_(pa.int32()))),
            ("group", pa.int64()),
        ],
        metadata={"shape": f"{image_size},{image_size},3"},
    )
    with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink:
        with pa.ipc.new_file(sink, schema, options=_IPC) as writer:
            for start in range(0, len(records), _WRITE_CHUNK):
                chunk = records[start : start + _WRITE_CHUNK]
                columns = {
                    "image_id": [r.image_id for r in chunk],
                    "pixels": [image_array(r, image_size).tobytes() for r in chunk],
                    "captions": [list(r.captions) for r in chunk],
                    "caption_ids": [
                        [ids[:max_tokens] for ids in tok.encode_batch(list(r.captions))]
                        for r in chunk
                    ],
                    "group": [
                        start + i if r.group is None else r.group for i, r in enumerate(chunk)
                    ],
                }
                writer.write_table(pa.table(columns, schema=schema))
                advance(len(chunk))


def read_split(directory: Path, name: str) -> RetrievalSplit:
    """A prepared split in memory (the family memoises it per process)."""
    path = directory / f"{name}.arrow"
    table = read_table(path)
    shape = tuple(int(x) for x in table.schema.metadata[b"shape"].decode().split(","))
    # A bytearray keeps the array writable (torch warns about read-only numpy memory).
    pixels = bytearray(b"".join(table.column("pixels").to_pylist()))
    images = np.frombuffer(pixels, dtype=np.uint8).reshape(-1, *shape)
    return RetrievalSplit(
        image_ids=table.column("image_id").to_pylist(),
        images=images,
        captions=table.column("captions").to_pylist(),
        caption_ids=table.column("caption_ids").to_pylist(),
        groups=np.asarray(table.column("group").to_pylist(), dtype=np.int64),
    )
