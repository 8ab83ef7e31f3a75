"""Real VQA sources: question/answers/image examples from the hub or from local files.

A source is read by a :class:`Reader` (registry :data:`READERS`; the readers themselves
live in :mod:`seqbench.families.vqa.readers`: ``hub``, ``parquet``, ``clevr``, ``jsonl``,
with :func:`~seqbench.families.vqa.readers.open_reader`), which
lists its splits and yields :class:`RawExample` rows without decoding images.

:func:`collect` maps our train/dev/test to source splits; our splits that share a source
split are carved from it by a seeded hash of the image id (no image in two splits), and a
source split stops being read once the splits it feeds are full.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqbench.config import SourceSpec
from seqbench.data.images import ImageInput
from seqbench.errors import SeqbenchError
from seqbench.registry import Registry

SPLITS = ("train", "dev", "test")
DEFAULT_CARVE = {"dev": 0.05, "test": 0.1}  # shares of a source split carved off for dev/test
LOCAL_FIX = "use --source local:PATH (a hub-shaped parquet, a CLEVR folder, or JSONL + images)"


@dataclass
class RawExample:
    """One question as a source gives it (image not decoded yet)."""

    image: ImageInput
    image_id: str
    question: str
    answers: list[str]
    qtype: str = "all"
    subtype: str = "all"
    question_id: str = ""
    vector: list[float] | None = None  # a compact question encoding (Sort-of-CLEVR's 11)


class Reader:
    """A source's splits and their examples; subclasses register in :data:`READERS`."""

    def __init__(self, source: SourceSpec) -> None:
        self.source = source
        self.fields = {**DEFAULT_FIELDS, **source.fields}

    def splits(self) -> list[str]:
        raise NotImplementedError

    def examples(self, split: str) -> Iterator[RawExample]:
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """What the prepare fingerprint hashes for this source (cheap: no data read)."""
        return {"kind": self.source.kind, "where": self.source.hub or self.source.local}


READERS: Registry[Callable[[SourceSpec], Reader]] = Registry("VQA source format")

# Field names of the hub layout (lmms-lab/VQAv2); the spec's `fields:` may rename them.
DEFAULT_FIELDS = {
    "image": "image",
    "image_id": "image_id",
    "question": "question",
    "answers": "answers",
    "answer": "multiple_choice_answer",
    "question_id": "question_id",
    "type": "answer_type",
    "subtype": "question_type",
}


def answers_of(value: Any) -> list[str]:
    """Human answers from ``["a", ...]``, ``[{"answer": "a"}, ...]`` or ``"a"``."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    out = []
    for item in value:
        text = item.get("answer") if isinstance(item, dict) else item
        if isinstance(text, str) and text.strip():
            out.append(text)
    return out


def _image_of(value: Any) -> ImageInput | None:
    """Bytes, a path or a PIL image from a hub image cell (``{bytes, path}`` or decoded)."""
    if isinstance(value, dict):
        return value.get("bytes") or value.get("path")
    return value


def row_example(row: dict[str, Any], fields: dict[str, str], where: str) -> RawExample:
    """A hub-shaped row (dict) as a :class:`RawExample`."""
    image = _image_of(row.get(fields["image"]))
    question_id = str(row.get(fields["question_id"], ""))
    if image is None:
        raise SeqbenchError(
            f"{where}: question {question_id or '?'} has no image in field {fields['image']!r}",
            "map the image field in the spec: `fields: {image: NAME}`",
        )
    answers = answers_of(row.get(fields["answers"])) or answers_of(row.get(fields["answer"]))
    image_id = row.get(fields["image_id"])
    if image_id is None:  # no id column: identical bytes are the same image
        blob = image if isinstance(image, bytes) else str(image).encode()
        image_id = hashlib.sha1(blob).hexdigest()[:16]
    return RawExample(
        image=image,
        image_id=str(image_id),
        question=str(row.get(fields["question"], "")),
        answers=answers,
        qtype=str(row.get(fields["type"]) or "all"),
        subtype=str(row.get(fields["subtype"]) or "all"),
        question_id=question_id,
    )


def detect_format(path: Path) -> str:
    """The local format of ``path`` from its layout."""
    if path.is_dir():
        if (path / "questions").is_dir():
            return "clevr"
        if any(path.rglob("*.parquet")):
            return "parquet"
        if any(path.glob("*.jsonl")):
            return "jsonl"
    elif path.suffix == ".parquet":
        return "parquet"
    elif path.suffix in (".jsonl", ".json"):
        return "jsonl"
    if not path.exists():
        raise SeqbenchError(f"no such file or folder: {path}", "check the --source path")
    raise SeqbenchError(
        f"cannot tell the VQA source format of {path}",
        "name it: --source local:PATH::parquet|clevr|jsonl",
    )


# --- from source splits to ours ----------------------------------------------------------


@dataclass
class SplitPlan:
    """Which source split feeds which of ours, and the carve shares of shared ones."""

    source_of: dict[str, str]
    shares: dict[str, float] = field(default_factory=dict)


def plan_splits(reader: Reader, carve: dict[str, float] | None = None) -> SplitPlan:
    """Map train/dev/test to source splits.

    The spec's ``splits:`` mapping is used where the source has that split; otherwise a
    source split named like ours is; otherwise dev/test are carved from train's source split
    (a one-split source is carved into all three).
    """
    available = reader.splits()
    mapping = reader.source.splits
    shares = {**DEFAULT_CARVE, **(carve or {})}

    def pick(split: str) -> str | None:
        wanted = mapping.get(split)
        if wanted in available:
            return wanted
        return split if split in available else None

    train = pick("train") or (available[0] if len(available) == 1 else None)
    if train is None:
        raise SeqbenchError(
            f"{reader.source.describe()} has no train split (it has {available})",
            "map one in the spec: `splits: {train: NAME}`",
        )
    source_of = {"train": train}
    for split in ("dev", "test"):
        source_of[split] = pick(split) or train
    shared = [s for s in ("dev", "test") if source_of[s] == source_of["train"]]
    return SplitPlan(source_of, {s: float(shares[s]) for s in shared})


def _bucket(image_id: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) per image."""
    digest = hashlib.sha1(f"{seed}:{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _route(plan: SplitPlan, ours: list[str], image_id: str, seed: int) -> str:
    """Which of ``ours`` (sharing one source split) an image belongs to."""
    if len(ours) == 1:
        return ours[0]
    u, edge = _bucket(image_id, seed), 0.0
    for split in ours:
        if split != "train" and split in plan.shares:
            edge += plan.shares[split]
            if u < edge:
                return split
    return "train" if "train" in ours else ours[-1]


def collect(
    reader: Reader,
    limits: dict[str, int | None],
    seed: int,
    carve: dict[str, float] | None = None,
) -> tuple[dict[str, list[RawExample]], SplitPlan]:
    """Examples of train/dev/test, at most ``limits[split]`` questions each.

    A source split stops being read once every split it feeds is full, so a capped preset
    streams only a prefix of a large hub split.
    """
    plan = plan_splits(reader, carve)
    out: dict[str, list[RawExample]] = {s: [] for s in SPLITS}
    by_source: dict[str, list[str]] = {}
    for split in SPLITS:
        by_source.setdefault(plan.source_of[split], []).append(split)

    def full(split: str) -> bool:
        limit = limits.get(split)
        return limit is not None and len(out[split]) >= limit

    for source_split, ours in by_source.items():
        for example in reader.examples(source_split):
            target = _route(plan, ours, example.image_id, seed)
            if not full(target):
                out[target].append(example)
            if all(full(s) for s in ours):
                break
    return out, plan
