"""Real VQA sources: question/answers/image examples from the hub or from local files.

Readers (a registry, :data:`READERS`), each listing its splits and yielding
:class:`RawExample` rows without decoding images:

- ``hub``: a hub data set shaped like ``lmms-lab/VQAv2`` (``question``, ``answers`` as
  ``[{answer, ...}]``, ``image``, ``question_id``, ``answer_type``, ``question_type``),
  streamed with ``datasets.load_dataset`` so only the rows used are fetched; announced on
  stderr, and failing within seconds when offline with the fix ``--source local:PATH``;
- ``parquet``: local parquet files shaped like the hub data (one file, or a folder of
  ``<split>-*.parquet``);
- ``clevr``: the original CLEVR v1.0 folder (``questions/CLEVR_<split>_questions.json`` +
  ``images/<split>/``);
- ``jsonl``: a JSONL file of ``{image, question, answers}`` (``answer`` for one answer;
  optional ``split``, ``type``, ``subtype``, ``question_id``), image paths relative to it.

:func:`collect` maps our train/dev/test to source splits; our splits that share a source
split are carved from it by a seeded hash of the image id (no image in two splits).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqbench.config import SourceSpec
from seqbench.data.images import ImageInput
from seqbench.errors import SeqbenchError
from seqbench.progress import console
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


def _answers(value: Any) -> list[str]:
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
    answers = _answers(row.get(fields["answers"])) or _answers(row.get(fields["answer"]))
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


# --- hub --------------------------------------------------------------------------------


@READERS.register("hub")
class HubReader(Reader):
    """A hub data set, streamed: only the rows :func:`collect` consumes are fetched."""

    def splits(self) -> list[str]:
        # The hub cannot be listed offline; trust the spec's mapping (validated on fetch).
        return sorted(set(self.source.splits.values()) or {"train"})

    def identity(self) -> dict[str, Any]:
        return {"hub": self.source.hub, "config": self.source.hub_config, "fields": self.fields}

    def examples(self, split: str) -> Iterator[RawExample]:
        from seqbench.data import hub

        name = f"{self.source.hub} [{self.source.hub_config or 'default'}] {split}"
        if not hub.hub_reachable():
            raise SeqbenchError(
                f"cannot fetch {name} from the Hugging Face hub: the hub is unreachable (offline?)",
                LOCAL_FIX,
            )
        console.print(f"fetching {name} from the Hugging Face hub (streaming)", markup=False)
        import datasets

        try:
            stream = datasets.load_dataset(
                str(self.source.hub), self.source.hub_config, split=split, streaming=True
            )
            for row in stream:
                yield row_example(row, self.fields, name)
        except (ConnectionError, OSError) as err:
            raise SeqbenchError(
                f"cannot fetch {name}: {str(err).splitlines()[0]}", LOCAL_FIX
            ) from err
        except (ValueError, KeyError) as err:
            raise SeqbenchError(
                f"{name}: {str(err).splitlines()[0] if str(err) else type(err).__name__}",
                "check the hub id and map our splits in the spec: `splits: {train: NAME}`",
            ) from err


# --- local files ------------------------------------------------------------------------


def _file_identity(paths: list[Path]) -> list[dict[str, Any]]:
    return [
        {"path": str(p.resolve()), "size": p.stat().st_size, "mtime": p.stat().st_mtime_ns}
        for p in paths
    ]


@READERS.register("parquet")
class ParquetReader(Reader):
    """Hub-shaped parquet: one file (a single split) or ``<split>-*.parquet`` in a folder."""

    def __init__(self, source: SourceSpec) -> None:
        super().__init__(source)
        root = Path(str(source.local)).expanduser()
        files = sorted(root.rglob("*.parquet")) if root.is_dir() else [root]
        if not files:
            raise SeqbenchError(f"{root} holds no .parquet files", LOCAL_FIX)
        self.files: dict[str, list[Path]] = {}
        for path in files:
            split = path.stem.split("-")[0] if root.is_dir() else path.stem
            self.files.setdefault(split, []).append(path)

    def splits(self) -> list[str]:
        return sorted(self.files)

    def identity(self) -> dict[str, Any]:
        paths = [p for group in self.files.values() for p in group]
        return {"parquet": _file_identity(paths), "fields": self.fields}

    def examples(self, split: str) -> Iterator[RawExample]:
        import pyarrow.parquet as pq

        for path in self.files[split]:
            try:
                batches = pq.ParquetFile(path).iter_batches(batch_size=256)
                for batch in batches:
                    for row in batch.to_pylist():
                        yield row_example(row, self.fields, str(path))
            except (OSError, ValueError) as err:
                raise SeqbenchError(f"cannot read parquet {path}: {err}", LOCAL_FIX) from err


@READERS.register("clevr")
class ClevrReader(Reader):
    """CLEVR v1.0: ``questions/CLEVR_<split>_questions.json`` and ``images/<split>/*.png``.

    Type: the answer family of the program's last function (exist, count, compare_integer,
    query_attribute, compare_attribute); sub-type: that function (``query_color``...).
    """

    FAMILIES = {
        "exist": "exist",
        "count": "count",
        "equal_integer": "compare_integer",
        "less_than": "compare_integer",
        "greater_than": "compare_integer",
    }

    def __init__(self, source: SourceSpec) -> None:
        super().__init__(source)
        self.root = Path(str(source.local)).expanduser()
        self.question_files = {
            p.name.removeprefix("CLEVR_").removesuffix("_questions.json"): p
            for p in sorted((self.root / "questions").glob("CLEVR_*_questions.json"))
        }
        if not self.question_files:
            raise SeqbenchError(
                f"{self.root} is not a CLEVR folder (no questions/CLEVR_<split>_questions.json)",
                "point --source local: at the CLEVR_v1.0 folder",
            )

    def splits(self) -> list[str]:
        return sorted(self.question_files)

    def identity(self) -> dict[str, Any]:
        return {"clevr": _file_identity(list(self.question_files.values()))}

    @classmethod
    def question_type(cls, program: list[dict[str, Any]] | None) -> tuple[str, str]:
        if not program:
            return "all", "all"
        last = program[-1]
        function = str(last.get("function") or last.get("type") or "all")
        if function in cls.FAMILIES:
            return cls.FAMILIES[function], function
        if function.startswith("query_"):
            return "query_attribute", function
        if function.startswith("equal_"):
            return "compare_attribute", function
        return function, function

    def examples(self, split: str) -> Iterator[RawExample]:
        path = self.question_files[split]
        try:
            questions = json.loads(path.read_text(encoding="utf-8"))["questions"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise SeqbenchError(f"cannot read CLEVR questions {path}: {err}", LOCAL_FIX) from err
        for i, q in enumerate(questions):
            qtype, subtype = self.question_type(q.get("program"))
            filename = q.get("image_filename") or f"CLEVR_{split}_{q['image_index']:06d}.png"
            yield RawExample(
                image=self.root / "images" / split / filename,
                image_id=f"{split}/{filename}",
                question=str(q.get("question", "")),
                answers=_answers(q.get("answer")),
                qtype=qtype,
                subtype=subtype,
                question_id=str(q.get("question_index", i)),
            )


@READERS.register("jsonl")
class JsonlReader(Reader):
    """``{image, question, answers}`` per line; ``split`` (default train) picks the split."""

    def __init__(self, source: SourceSpec) -> None:
        super().__init__(source)
        self.path = Path(str(source.local)).expanduser()
        if self.path.is_dir():
            found = sorted(self.path.glob("*.jsonl"))
            if len(found) != 1:
                raise SeqbenchError(
                    f"{self.path} holds {len(found)} .jsonl files, expected one",
                    "point --source local: at the JSONL file itself",
                )
            self.path = found[0]
        self.rows = self._read()

    def _read(self) -> list[dict[str, Any]]:
        rows = []
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise SeqbenchError(f"cannot read {self.path}: {err}", LOCAL_FIX) from err
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise SeqbenchError(
                    f"{self.path}:{number}: not valid JSON ({err.msg})", "fix or remove that line"
                ) from err
            if not isinstance(row, dict) or "image" not in row or "question" not in row:
                raise SeqbenchError(
                    f"{self.path}:{number}: a line needs at least 'image' and 'question'",
                    'write lines like {"image": "a.png", "question": "...", "answers": ["..."]}',
                )
            rows.append(row)
        return rows

    def splits(self) -> list[str]:
        return sorted({str(r.get("split", "train")) for r in self.rows})

    def identity(self) -> dict[str, Any]:
        return {"jsonl": _file_identity([self.path])}

    def examples(self, split: str) -> Iterator[RawExample]:
        for number, row in enumerate(self.rows, 1):
            if str(row.get("split", "train")) != split:
                continue
            image = self.path.parent / str(row["image"])
            yield RawExample(
                image=image,
                image_id=str(row["image"]),
                question=str(row["question"]),
                answers=_answers(row.get("answers")) or _answers(row.get("answer")),
                qtype=str(row.get("type", "all")),
                subtype=str(row.get("subtype", "all")),
                question_id=str(row.get("question_id", number)),
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


def open_reader(source: SourceSpec) -> Reader:
    """The reader for ``source`` (nothing is fetched yet)."""
    if source.kind == "hub":
        return READERS.get("hub")(source)
    if source.kind != "local":
        raise SeqbenchError(f"{source.describe()} is not a VQA hub or local source", LOCAL_FIX)
    fmt = source.format or detect_format(Path(str(source.local)).expanduser())
    return READERS.get(fmt)(source)


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


def first(examples: Iterator[RawExample], n: int) -> list[RawExample]:
    """The first ``n`` examples (tests and previews)."""
    return list(itertools.islice(examples, n))
