"""The VQA source readers (registered in :data:`seqbench.families.vqa.sources.READERS`).

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
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seqbench.config import SourceSpec
from seqbench.data import hub
from seqbench.data.inside import inside
from seqbench.data.jsonl import json_lines, read_lines
from seqbench.errors import SeqbenchError
from seqbench.families.vqa.sources import (
    LOCAL_FIX,
    READERS,
    RawExample,
    Reader,
    answers_of,
    detect_format,
    row_example,
)
from seqbench.progress import console

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
        # No square brackets: the CLI prints messages as rich markup.
        config = f" (config {self.source.hub_config})" if self.source.hub_config else ""
        name = f"{self.source.hub}{config} split {split}"
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
        if not self.root.is_dir():
            raise SeqbenchError(
                f"no such CLEVR folder: {self.root}",
                "download CLEVR v1.0 and pass --source local:/path/to/CLEVR_v1.0",
            )
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
                image=inside(self.root / "images" / split, filename, f"{path} question {i}"),
                image_id=f"{split}/{filename}",
                question=str(q.get("question", "")),
                answers=answers_of(q.get("answer")),
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
        lines = read_lines(self.path, LOCAL_FIX)
        for number, row in json_lines(lines, self.path, "fix or remove that line"):
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
            image = inside(self.path.parent, row["image"], f"{self.path} line {number}")
            yield RawExample(
                image=image,
                image_id=str(row["image"]),
                question=str(row["question"]),
                answers=answers_of(row.get("answers")) or answers_of(row.get("answer")),
                qtype=str(row.get("type", "all")),
                subtype=str(row.get("subtype", "all")),
                question_id=str(row.get("question_id", number)),
                vector=row.get("vector"),
            )


def open_reader(source: SourceSpec) -> Reader:
    """The reader for ``source`` (nothing is fetched yet)."""
    if source.kind == "hub":
        return READERS.get("hub")(source)
    if source.kind != "local":
        raise SeqbenchError(f"{source.describe()} is not a VQA hub or local source", LOCAL_FIX)
    fmt = source.format or detect_format(Path(str(source.local)).expanduser())
    return READERS.get(fmt)(source)
