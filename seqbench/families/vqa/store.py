"""Prepared VQA splits on disk: images as uint8 arrays and questions as columns, in Arrow.

Per split, two Arrow IPC files (zstd-compressed, so mostly-white generated images cost
~1 KB each): ``<split>.images.arrow`` (``image_id``, ``pixels`` = H*W*3 bytes) and
``<split>.questions.arrow`` (``image`` row, ``question``, ``question_ids`` tokens,
``vector``, ``answers``, ``answer`` index or -1, ``type``, ``subtype``, ``question_id``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from seqbench.data.arrow import read_table
from seqbench.data.images import load_array
from seqbench.errors import SeqbenchError
from seqbench.families.vqa.sources import RawExample
from seqbench.metrics.vqa import normalize_answer

OUT_OF_VOCABULARY = -1  # answer index of a question whose answer the vocabulary lacks


@dataclass
class VQASplit:
    """One split in memory: ``N`` images and ``Q`` questions over them."""

    images: np.ndarray  # uint8 [N, H, W, 3]
    image_ids: list[str]
    image: np.ndarray  # int64 [Q]: row in ``images``
    question: list[str]
    answers: list[list[str]]  # normalised human answers (1 for generated data, 10 for VQAv2)
    qtype: list[str]
    subtype: list[str]
    question_id: list[str]
    vector: np.ndarray  # float32 [Q, V]; V = 0 when the source has no compact encoding
    question_ids: list[list[int]] | None = None  # SentencePiece ids, set once tokenized
    answer: np.ndarray | None = None  # int64 [Q]: answer-vocabulary index or -1

    def __len__(self) -> int:
        return len(self.question)


def target_answer(answers: Sequence[str]) -> str:
    """The training target: the most frequent human answer (first seen on ties)."""
    return Counter(answers).most_common(1)[0][0]


def assemble(
    examples: Sequence[RawExample], image_size: int, where: str
) -> tuple[VQASplit, dict[str, int]]:
    """Decode each distinct image once and normalise answers; returns the split and skips.

    Questions without any answer cannot be trained or scored: they are skipped and counted.
    """
    rows: dict[str, int] = {}
    pixels: list[np.ndarray] = []
    keep: list[tuple[RawExample, list[str]]] = []
    skipped = {"no_answers": 0}
    for ex in examples:
        answers = [normalize_answer(a) for a in ex.answers]
        answers = [a for a in answers if a]
        if not answers:
            skipped["no_answers"] += 1
            continue
        if ex.image_id not in rows:
            rows[ex.image_id] = len(pixels)
            pixels.append(load_array(ex.image, image_size, where=f"{where} image {ex.image_id}"))
        keep.append((ex, answers))
    if not keep:
        raise SeqbenchError(
            f"{where}: no question with an answer ({skipped['no_answers']} without)",
            "check the answers field mapping (`fields: {answers: NAME}`) or the split mapping",
        )
    images = np.stack(pixels) if pixels else np.zeros((0, image_size, image_size, 3), np.uint8)
    split = VQASplit(
        images=images,
        image_ids=list(rows),
        image=np.array([rows[ex.image_id] for ex, _ in keep], dtype=np.int64),
        question=[ex.question for ex, _ in keep],
        answers=[a for _, a in keep],
        qtype=[ex.qtype for ex, _ in keep],
        subtype=[ex.subtype for ex, _ in keep],
        question_id=[ex.question_id for ex, _ in keep],
        vector=_vectors([ex for ex, _ in keep], where),
    )
    return split, skipped


def _vectors(examples: Sequence[RawExample], where: str) -> np.ndarray:
    """The examples' ``vector`` fields as ``[Q, V]``; ``V = 0`` when any example lacks one."""
    if not examples or any(ex.vector is None for ex in examples):
        return np.zeros((len(examples), 0), dtype=np.float32)
    try:
        return np.asarray([ex.vector for ex in examples], dtype=np.float32).reshape(
            len(examples), -1
        )
    except ValueError as err:
        raise SeqbenchError(
            f"{where}: the `vector` fields are not numbers of one length ({err})",
            "give every question a vector of the same length, or none",
        ) from err


def select(split: VQASplit, rows: np.ndarray) -> VQASplit:
    """The questions ``rows`` (in that order) and just the images they use."""
    rows = np.asarray(rows, dtype=np.int64)
    used, image = np.unique(split.image[rows], return_inverse=True)

    def pick(column: list) -> list:
        return [column[r] for r in rows]

    return VQASplit(
        images=split.images[used],
        image_ids=[split.image_ids[i] for i in used],
        image=image.reshape(-1).astype(np.int64),
        question=pick(split.question),
        answers=pick(split.answers),
        qtype=pick(split.qtype),
        subtype=pick(split.subtype),
        question_id=pick(split.question_id),
        vector=split.vector[rows],
        question_ids=pick(split.question_ids) if split.question_ids is not None else None,
        answer=split.answer[rows] if split.answer is not None else None,
    )


def take_images(split: VQASplit, image_rows: np.ndarray) -> VQASplit:
    """Every question about the images ``image_rows``."""
    wanted = np.zeros(len(split.images), dtype=bool)
    wanted[image_rows] = True
    return select(split, np.flatnonzero(wanted[split.image]))


def cap_questions(split: VQASplit, limit: int | None) -> VQASplit:
    """The first ``limit`` questions (all when None); images are stored image-major, so a
    cap keeps whole images' question sets but the last."""
    if limit is None or len(split) <= limit:
        return split
    return select(split, np.arange(int(limit)))


def answer_vocabulary(splits: Sequence[VQASplit], size: int | None) -> list[str]:
    """The ``size`` most frequent target answers of ``splits`` (all when None), by count."""
    counts = Counter(target_answer(a) for s in splits for a in s.answers)
    ranked = sorted(counts, key=lambda a: (-counts[a], a))
    return ranked[:size] if size else ranked


def answer_indices(split: VQASplit, vocabulary: Sequence[str]) -> np.ndarray:
    """Each question's target index in ``vocabulary``, -1 when it is not there."""
    index = {a: i for i, a in enumerate(vocabulary)}
    return np.array(
        [index.get(target_answer(a), OUT_OF_VOCABULARY) for a in split.answers], dtype=np.int64
    )


# --- Arrow files --------------------------------------------------------------------------

_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


def _write(path: Path, table: pa.Table) -> None:
    with pa.OSFile(str(path), "wb") as sink:
        with pa.ipc.new_file(sink, table.schema, options=_OPTIONS) as writer:
            writer.write_table(table, max_chunksize=4096)


def write_split(directory: Path, name: str, split: VQASplit) -> None:
    """Write ``split`` (tokenized, with answer indices) as ``<name>.*.arrow`` in ``directory``."""
    if split.question_ids is None or split.answer is None:
        raise ValueError("tokenize the questions and index the answers before writing")
    n, h, w, c = split.images.shape
    flat = pa.py_buffer(np.ascontiguousarray(split.images).tobytes())
    pixels = pa.FixedSizeBinaryArray.from_buffers(pa.binary(h * w * c), n, [None, flat])
    images = pa.table({"image_id": pa.array(split.image_ids, pa.string()), "pixels": pixels})
    images = images.replace_schema_metadata({"shape": f"{h},{w},{c}"})
    vector_size = split.vector.shape[1]
    vectors = (
        pa.FixedSizeListArray.from_arrays(
            pa.array(split.vector.reshape(-1), pa.float32()), vector_size
        )
        if vector_size
        else pa.array([[]] * len(split), pa.list_(pa.float32()))
    )
    questions = pa.table(
        {
            "image": pa.array(split.image, pa.int32()),
            "question": pa.array(split.question, pa.string()),
            "question_ids": pa.array(split.question_ids, pa.list_(pa.int32())),
            "vector": vectors,
            "answers": pa.array(split.answers, pa.list_(pa.string())),
            "answer": pa.array(split.answer, pa.int32()),
            "type": pa.array(split.qtype, pa.string()),
            "subtype": pa.array(split.subtype, pa.string()),
            "question_id": pa.array(split.question_id, pa.string()),
        }
    )
    _write(directory / f"{name}.images.arrow", images)
    _write(directory / f"{name}.questions.arrow", questions)


def read_split(directory: Path, name: str) -> VQASplit:
    """Load a prepared split into memory (the family memoises it per process)."""
    images = read_table(directory / f"{name}.images.arrow")
    h, w, c = (int(x) for x in images.schema.metadata[b"shape"].decode().split(","))
    column = images.column("pixels").combine_chunks()
    flat = np.frombuffer(column.buffers()[1], dtype=np.uint8, count=len(column) * h * w * c)
    q = read_table(directory / f"{name}.questions.arrow")
    vector = q.column("vector").combine_chunks()
    size = len(vector[0]) if len(vector) else 0
    values = vector.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return VQASplit(
        images=flat.reshape(len(column), h, w, c),
        image_ids=images.column("image_id").to_pylist(),
        image=q.column("image").to_numpy().astype(np.int64),
        question=q.column("question").to_pylist(),
        answers=q.column("answers").to_pylist(),
        qtype=q.column("type").to_pylist(),
        subtype=q.column("subtype").to_pylist(),
        question_id=q.column("question_id").to_pylist(),
        vector=values.reshape(len(q), size),
        question_ids=q.column("question_ids").to_pylist(),
        answer=q.column("answer").to_numpy().astype(np.int64),
    )
