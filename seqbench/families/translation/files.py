"""Parallel-text sources: local files in several formats, read into ``{split: [(src, tgt)]}``.

Local layouts (``--source local:PATH[::FORMAT]``):

- one file (``.tsv``, ``.jsonl``, ``.parquet``, SCAN ``.txt``): split seeded into
  train/dev/test later (:func:`seqbench.families.translation.sources.assemble`); the key is ``all``;
- two aligned Moses files ``corpus.de+corpus.en`` (source first), or a prefix ``corpus``
  with the languages from the spec's ``fields: {src: de, tgt: en}`` (reads corpus.de, corpus.en);
- a folder with split files named train / dev|valid|validation|val / test: ``train.tsv``,
  ``train-00000-of-00002.parquet``, ``valid.jsonl``, SCAN's ``tasks_train_length.txt``, or
  Moses ``train.de`` + ``train.en``. A folder without a dev split gets one carved from train.
  Moses folders may hold several test sets, as the published Multi30k does
  (``test_2016_flickr.de.gz``, ``test_2017_flickr.de.gz``): the first in name order is ``test``,
  every other one is kept whole as an extra split named after its files (``test_2017_flickr``).

Any file may be gzip-compressed (``.gz``, read transparently).

Formats are a registry (:data:`FORMATS`); ``fields`` map src/tgt to JSON/parquet field paths
(``en``, ``translation.de``), to Moses language suffixes, or to TSV column numbers (default
0 and 1; extra columns such as Tatoeba's attribution are ignored). Hub sources live in
:mod:`seqbench.families.translation.sources`.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from seqbench.data.generators.scan import parse_line as parse_scan_line
from seqbench.data.jsonl import json_lines, text_lines
from seqbench.data.splits import split_of
from seqbench.errors import SeqbenchError
from seqbench.registry import Registry

Pair = tuple[str, str]
Shard = tuple[Path, ...]  # one file, or (src, tgt) for Moses
FORMAT_HINT = "name the format: --source local:PATH::tsv|moses|jsonl|parquet|scan"


@dataclass(frozen=True)
class Fields:
    """Which field (path, column or language) holds the source and the target text."""

    src: str = "src"
    tgt: str = "tgt"

    @classmethod
    def of(cls, mapping: dict[str, Any] | None) -> Fields:
        mapping = mapping or {}
        return cls(str(mapping.get("src", "src")), str(mapping.get("tgt", "tgt")))


@dataclass(frozen=True)
class Format:
    """A file format: its reader, the suffixes that select it, and files per shard."""

    name: str
    read: Callable[[Shard, Fields], list[Pair]]
    suffixes: tuple[str, ...] = ()


FORMATS: Registry[Format] = Registry("format")


@dataclass(frozen=True)
class Located:
    """A local source resolved to its format and the shards of each split."""

    format: str
    splits: dict[str, list[Shard]]  # train/dev/test (+ extra test sets), or "all"
    names: dict[str, str] = field(default_factory=dict)  # our split -> the source's file stem

    def files(self) -> list[Path]:
        return sorted({p for shards in self.splits.values() for shard in shards for p in shard})

    def identity(self) -> list[dict[str, Any]]:
        """Path, size and mtime of every file: what the prepare fingerprint needs."""
        out = []
        for path in self.files():
            stat = path.stat()
            out.append(
                {"path": str(path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns}
            )
        return out


# --- readers ------------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    """The file's lines; a NUL byte (binary data, not text) is refused with the line."""
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            data = path.read_bytes()
    except FileNotFoundError as err:
        raise SeqbenchError(f"no such file: {path}", "check the --source path") from err
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise SeqbenchError(f"{path} is not a readable gzip file ({err})", FORMAT_HINT) from err
    if b"\x00" in data:
        number = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise SeqbenchError(
            f"{path} line {number}: a NUL byte (binary data, not text)",
            "fix or remove that line, or point --source at the text file",
        )
    return text_lines(data, path, FORMAT_HINT)


def _nonempty(pairs: list[Pair], path: Path) -> list[Pair]:
    if not pairs:
        raise SeqbenchError(f"{path} is empty (no sentence pairs)", "point --source at a data file")
    return pairs


def _column(name: str, default: int) -> int:
    return int(name) if name.isdigit() else default


def read_tsv(shard: Shard, fields: Fields) -> list[Pair]:
    """``src<TAB>tgt[<TAB>ignored...]`` lines; blank lines are skipped."""
    (path,) = shard
    src_col, tgt_col = _column(fields.src, 0), _column(fields.tgt, 1)
    pairs = []
    width = 0  # columns of the first line: a line with more or fewer is a broken row
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        cells = line.split("\t")
        width = width or len(cells)
        if len(cells) <= max(src_col, tgt_col) or len(cells) != width:
            raise SeqbenchError(
                f"{path} line {number}: found {len(cells)} tab-separated column(s), expected "
                f"{max(width, max(src_col, tgt_col) + 1)} (src<TAB>tgt)",
                "fix or remove that line (a tab inside a sentence splits it)",
            )
        pairs.append((cells[src_col].strip(), cells[tgt_col].strip()))
    return _nonempty(pairs, path)


def read_moses(shard: Shard, fields: Fields) -> list[Pair]:
    """Two line-aligned plain-text files, source first."""
    src_path, tgt_path = shard
    src, tgt = _lines(src_path), _lines(tgt_path)
    if len(src) != len(tgt):
        raise SeqbenchError(
            f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}",
            "Moses files must be line-aligned (one sentence per line in both)",
        )
    return _nonempty([(s.strip(), t.strip()) for s, t in zip(src, tgt, strict=True)], src_path)


def _text_pair(src: Any, tgt: Any, fields: Fields, where: str) -> Pair:
    """``(src, tgt)`` when both are text; a number, list, null or NUL byte is refused."""
    for name, value in ((fields.src, src), (fields.tgt, tgt)):
        if not isinstance(value, str):
            raise SeqbenchError(
                f"{where}: {name} is {type(value).__name__} {value!r:.40}, not a string",
                "fix or remove that row",
            )
        if "\x00" in value:
            raise SeqbenchError(f"{where}: {name} holds a NUL byte", "fix or remove that row")
    return src, tgt


def _lookup(record: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(record, dict) or key not in record:
            raise KeyError(dotted)
        record = record[key]
    return record


def read_jsonl(shard: Shard, fields: Fields) -> list[Pair]:
    """One JSON object a line; ``fields`` are dotted paths (``en``, ``translation.de``)."""
    (path,) = shard
    pairs = []
    for number, record in json_lines(_lines(path), path, FORMAT_HINT):
        try:
            src, tgt = _lookup(record, fields.src), _lookup(record, fields.tgt)
            pairs.append(_text_pair(src, tgt, fields, f"{path} line {number}"))
        except KeyError as err:
            keys = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise SeqbenchError(
                f"{path} line {number}: no field {err.args[0]!r} (has {keys})",
                "set `fields: {src: ..., tgt: ...}` in the task spec",
            ) from err
    return _nonempty(pairs, path)


def table_pairs(table: pa.Table, fields: Fields, where: str) -> list[Pair]:
    """The (src, tgt) columns of an Arrow table; nested structs are addressed as ``a.b``."""
    flat = table.flatten()
    for name in (fields.src, fields.tgt):
        if name not in flat.column_names:
            raise SeqbenchError(
                f"{where}: no field {name!r} (has {flat.column_names})",
                "set `fields: {src: ..., tgt: ...}` in the task spec",
            )
    src = flat.column(fields.src).to_pylist()
    tgt = flat.column(fields.tgt).to_pylist()
    return [
        _text_pair(s, t, fields, f"{where} row {row}")
        for row, (s, t) in enumerate(zip(src, tgt, strict=True))
    ]


def read_parquet(shard: Shard, fields: Fields) -> list[Pair]:
    """A parquet file with flat (``en``) or nested (``translation.de``) text fields."""
    (path,) = shard
    if not path.is_file():
        raise SeqbenchError(f"no such file: {path}", "check the --source path")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise SeqbenchError(f"{path} is not a readable parquet file: {err}", FORMAT_HINT) from err
    return _nonempty(table_pairs(table, fields, str(path)), path)


def read_scan(shard: Shard, fields: Fields) -> list[Pair]:
    """SCAN's ``IN: <command> OUT: <actions>`` lines."""
    (path,) = shard
    pairs = []
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        pair = parse_scan_line(line)
        if pair is None:
            raise SeqbenchError(
                f"{path} line {number}: expected 'IN: <command> OUT: <actions>'", FORMAT_HINT
            )
        pairs.append(pair)
    return _nonempty(pairs, path)


FORMATS.add("tsv", Format("tsv", read_tsv, (".tsv",)))
FORMATS.add("moses", Format("moses", read_moses))
FORMATS.add("jsonl", Format("jsonl", read_jsonl, (".jsonl", ".json")))
FORMATS.add("parquet", Format("parquet", read_parquet, (".parquet",)))
FORMATS.add("scan", Format("scan", read_scan))


# --- locating files -----------------------------------------------------------------------


def _plain_name(path: Path) -> str:
    """The file name without a trailing ``.gz`` (what says the format)."""
    return path.name[:-3] if path.name.lower().endswith(".gz") else path.name


def _sniff(path: Path) -> str | None:
    """The format of a ``.txt`` file from its first non-blank line."""
    opener: Any = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            first = next((line for line in handle if line.strip()), "")
    except (OSError, EOFError):
        return None
    if first.startswith("IN: ") and " OUT: " in first:
        return "scan"
    return "tsv" if "\t" in first else None


def _format_of(path: Path) -> str | None:
    suffix = Path(_plain_name(path)).suffix.lower()
    if suffix == ".txt":
        return _sniff(path)
    return next((f.name for f in map(FORMATS.get, FORMATS.names()) if suffix in f.suffixes), None)


LAYOUTS = (
    "Moses: train.SRC + train.TGT, val|valid|dev.*, test*.* (e.g. test_2016_flickr.de.gz); "
    "split files train/valid/test .tsv|.jsonl|.parquet; SCAN tasks_train_*.txt + "
    "tasks_test_*.txt; any of them .gz"
)


def _moses_stems(folder: Path, fields: Fields) -> list[str]:
    """Stems ``X`` with both ``X.SRC`` and ``X.TGT`` (each maybe ``.gz``) in ``folder``."""
    pattern = re.compile(rf"^(.+)\.({re.escape(fields.src)}|{re.escape(fields.tgt)})(\.gz)?$")
    langs: dict[str, set[str]] = {}
    for path in folder.iterdir():
        match = pattern.match(path.name)
        if match and path.is_file():
            langs.setdefault(match.group(1), set()).add(match.group(2))
    return sorted(stem for stem, found in langs.items() if len(found) == 2)


def _moses_file(folder: Path, stem: str, lang: str) -> Path:
    plain = folder / f"{stem}.{lang}"
    return plain if plain.is_file() else folder / f"{stem}.{lang}.gz"


def _locate_moses(folder: Path, fields: Fields) -> Located | None:
    """A Moses folder: our splits by stem name; extra test sets kept under their stem."""
    by_split: dict[str, list[str]] = {}
    for stem in _moses_stems(folder, fields):
        split = split_of(stem)
        if split:
            by_split.setdefault(split, []).append(stem)
    if "train" not in by_split:
        return None
    splits: dict[str, list[Shard]] = {}
    for split, stems in by_split.items():
        shard = lambda stem: (  # noqa: E731
            _moses_file(folder, stem, fields.src),
            _moses_file(folder, stem, fields.tgt),
        )
        splits[split] = [shard(stems[0])]
        if split == "test":  # later test sets (test_2017_flickr...) stay whole, own names
            splits.update({stem: [shard(stem)] for stem in stems[1:]})
    return Located("moses", splits, {s: v[0] for s, v in by_split.items()})


def _found_names(folder: Path, limit: int = 12) -> str:
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more if names else "nothing"


def _locate_folder(folder: Path, fmt: str | None, fields: Fields) -> Located:
    if fmt in ("moses", None):
        moses = _locate_moses(folder, fields)
        if moses is not None:
            return moses
        if fmt == "moses":
            raise SeqbenchError(
                f"{folder} has no Moses train.{fields.src} + train.{fields.tgt} "
                f"(found: {_found_names(folder)})",
                f"accepted layouts: {LAYOUTS}",
            )
    found: dict[str, dict[str, list[Shard]]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        split = split_of(path.name)
        detected = _format_of(path) if split else None
        kind = fmt or detected
        if split and kind and detected in (kind, None):
            found.setdefault(kind, {}).setdefault(split, []).append((path,))
    if not found:
        raise SeqbenchError(
            f"{folder} holds no train/valid/test files in a known format "
            f"(found: {_found_names(folder)}; languages {fields.src}->{fields.tgt})",
            f"accepted layouts: {LAYOUTS}; or point at one file",
        )
    if len(found) > 1:
        raise SeqbenchError(f"{folder} mixes formats {sorted(found)}", FORMAT_HINT)
    kind, splits = next(iter(found.items()))
    if "train" not in splits:
        raise SeqbenchError(
            f"{folder} has no train file (found: {_found_names(folder)})",
            f"add train.* or point at one file; accepted layouts: {LAYOUTS}",
        )
    if set(splits) == {"train"}:
        return Located(kind, {"all": splits["train"]})
    return Located(kind, splits)


def locate(location: str, fmt: str | None = None, fields: Fields | None = None) -> Located:
    """Resolve ``--source local:PATH`` to a format and its split files (nothing is read)."""
    fields = fields or Fields()
    if fmt is not None:
        FORMATS.canonical(fmt)  # unknown format -> error listing the known ones
    if "+" in location and not Path(location).exists():
        src, _, tgt = location.partition("+")
        shard = (Path(src).expanduser(), Path(tgt).expanduser())
        missing = [str(p) for p in shard if not p.is_file()]
        if missing:
            raise SeqbenchError(f"no such file: {missing[0]}", "check the --source path")
        return Located("moses", {"all": [shard]})
    path = Path(location).expanduser()
    if path.is_dir():
        return _locate_folder(path, fmt, fields)
    if path.is_file():
        kind = fmt or _format_of(path)
        if kind is None:
            raise SeqbenchError(f"cannot tell the format of {path}", FORMAT_HINT)
        return Located(kind, {"all": [(path,)]})
    for gz in ("", ".gz"):
        prefix = (Path(f"{path}.{fields.src}{gz}"), Path(f"{path}.{fields.tgt}{gz}"))
        if all(p.is_file() for p in prefix):
            return Located("moses", {"all": [prefix]})
    raise SeqbenchError(f"no such file or folder: {path}", "check the --source path")


def read_located(located: Located, fields: Fields | None = None) -> dict[str, list[Pair]]:
    """Read every split of a located source."""
    fields = fields or Fields()
    reader = FORMATS.get(located.format).read
    return {
        split: [pair for shard in shards for pair in reader(shard, fields)]
        for split, shards in located.splits.items()
    }


def read_local(
    location: str, fmt: str | None = None, fields: dict[str, Any] | None = None
) -> dict[str, list[Pair]]:
    """Locate and read a local source in one call."""
    parsed = Fields.of(fields)
    return read_located(locate(location, fmt, parsed), parsed)
