"""Prepared binding splits on disk: one zstd-compressed Arrow IPC file per split.

Columns: ``pair_id``, ``pixels`` (H*W*3 uint8 bytes), ``mel`` (the clip's log-mel,
``N_MELS`` x frames uint8 bytes: dB quantised in :data:`DB_STEP` steps from :data:`DB_LOW`,
a quarter of float32's size with a step far below what the notes' loudness differs by),
``captions``, ``caption_ids`` (the teacher's SentencePiece ids) and ``group`` (a generated
scene's foil group, else the pair's own row). Shapes are in the schema metadata. Files are
written chunk by chunk, so a large source never sits in memory whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from seqbench.atomic import atomic_path
from seqbench.data.arrow import read_table
from seqbench.data.audio import log_mel
from seqbench.data.tokenize import SentencePieceTokenizer
from seqbench.errors import SeqbenchError
from seqbench.families.binding.sources import BindingRecord

_IPC = pa.ipc.IpcWriteOptions(compression="zstd")
_WRITE_CHUNK = 512  # pairs per Arrow record batch while writing
DB_LOW, DB_STEP = -90.0, 0.5  # uint8 code q stands for DB_LOW + q * DB_STEP dB


def quantise_db(db: np.ndarray) -> np.ndarray:
    """dB values -> uint8 codes (clipped to [DB_LOW, DB_LOW + 255 * DB_STEP])."""
    return np.clip(np.rint((db - DB_LOW) / DB_STEP), 0, 255).astype(np.uint8)


def codes_to_db(codes: np.ndarray) -> np.ndarray:
    """uint8 codes -> float32 dB."""
    return (DB_LOW + codes.astype(np.float32) * DB_STEP).astype(np.float32)


@dataclass
class BindingSplit:
    """One prepared split in memory."""

    pair_ids: list[str]
    images: np.ndarray  # uint8 [N, H, W, 3]
    mels: np.ndarray  # uint8 [N, n_mels, frames] (codes_to_db gives dB)
    captions: list[list[str]]
    caption_ids: list[list[list[int]]]
    groups: np.ndarray  # int64 [N]

    def __len__(self) -> int:
        return len(self.pair_ids)


def write_split(
    path: Path,
    records: list[BindingRecord],
    tok: SentencePieceTokenizer,
    image_size: int,
    max_tokens: int,
    advance: Callable[[int], None],
) -> tuple[int, int]:
    """Render/decode, featurise and tokenize ``records`` into one Arrow file; returns the
    spectrogram shape (n_mels, frames)."""
    shape: tuple[int, int] | None = None
    writer, schema = None, None
    with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink:
        for start in range(0, len(records), _WRITE_CHUNK):
            chunk = records[start : start + _WRITE_CHUNK]
            mels = [quantise_db(log_mel(r.audio())) for r in chunk]
            shape = shape or (int(mels[0].shape[0]), int(mels[0].shape[1]))
            columns = {
                "pair_id": [r.pair_id for r in chunk],
                "pixels": [r.image(image_size).tobytes() for r in chunk],
                "mel": [m.tobytes() for m in mels],
                "captions": [list(r.captions) for r in chunk],
                "caption_ids": [
                    [ids[:max_tokens] for ids in tok.encode_batch(list(r.captions))] for r in chunk
                ],
                "group": [start + i if r.group is None else r.group for i, r in enumerate(chunk)],
            }
            if writer is None:  # the schema names the spectrogram shape: known after one clip
                schema = _schema(image_size, shape)
                writer = pa.ipc.new_file(sink, schema, options=_IPC)
            writer.write_table(pa.table(columns, schema=schema))
            advance(len(chunk))
        if writer is not None:
            writer.close()
    if shape is None:  # load_records refuses an empty split; a direct caller may not
        raise SeqbenchError(f"no pairs to write to {path}", "check the source")
    return shape


def _schema(image_size: int, mel_shape: tuple[int, int]) -> pa.Schema:
    return pa.schema(
        [
            ("pair_id", pa.string()),
            ("pixels", pa.binary()),
            ("mel", pa.binary()),
            ("captions", pa.list_(pa.string())),
            ("caption_ids", pa.list_(pa.list_(pa.int32()))),
            ("group", pa.int64()),
        ],
        metadata={
            "shape": f"{image_size},{image_size},3",
            "mel_shape": f"{mel_shape[0]},{mel_shape[1]}",
        },
    )


def read_split(directory: Path, name: str) -> BindingSplit:
    """A prepared split in memory (the family memoises it per process)."""
    path = directory / f"{name}.arrow"
    table = read_table(path)
    meta = table.schema.metadata
    shape = tuple(int(x) for x in meta[b"shape"].decode().split(","))
    mel_shape = tuple(int(x) for x in meta[b"mel_shape"].decode().split(","))
    # bytearrays keep the arrays writable (torch warns about read-only numpy memory)
    pixels = bytearray(b"".join(table.column("pixels").to_pylist()))
    mels = bytearray(b"".join(table.column("mel").to_pylist()))
    return BindingSplit(
        pair_ids=table.column("pair_id").to_pylist(),
        images=np.frombuffer(pixels, dtype=np.uint8).reshape(-1, *shape),
        mels=np.frombuffer(mels, dtype=np.uint8).reshape(-1, *mel_shape),
        captions=table.column("captions").to_pylist(),
        caption_ids=table.column("caption_ids").to_pylist(),
        groups=np.asarray(table.column("group").to_pylist(), dtype=np.int64),
    )
