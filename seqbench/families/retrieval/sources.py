"""Image-caption sources for retrieval: generated, Hugging Face hub, or local files.

Every source becomes ``{split: [RetrievalRecord]}``; a record's image is fetched only when
the prepare step writes it (:func:`image_array`), so a 30K-image source never sits in memory.

Kinds (a registry keyed by ``SourceSpec.kind``):

- ``generator``: an embedded generator (``shapes_captions``) that returns the splits itself;
- ``hub``: ``datasets.load_dataset`` of each source split named in ``splits`` (a value may
  name another data set as ``HUB_ID:SPLIT``, e.g. Flickr30k's Karpathy 1K test);
- ``local``: a JSONL of ``{image, captions[, id, split]}`` beside an image folder, a parquet
  file shaped like the hub data (image struct with bytes), or a folder of such split files
  (``train`` / ``dev|val|validation`` / ``test``).

Splits that share one source split are carved from it disjointly in the order test, dev,
train (seeded sample for all but the last); an image id never appears in two splits.
``fields`` map ``image`` (a column with bytes or a path), ``image_path`` (a template such as
``{filepath}/{filename}`` joined to ``options.image_root``), ``captions`` and ``id``.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from seqbench.config import SourceSpec
from seqbench.data import hub
from seqbench.data.generators import get_generator
from seqbench.data.images import open_image, to_array
from seqbench.data.inside import inside
from seqbench.data.jsonl import json_lines, read_lines
from seqbench.data.splits import split_of
from seqbench.errors import SeqbenchError
from seqbench.progress import console
from seqbench.registry import Registry

RawImage = np.ndarray | bytes | Path | Image.Image
SPLIT_ORDER = ("test", "dev", "train")
LOCAL_HINT = (
    "use --source local:PATH: a JSONL of {image, captions} beside the images, "
    "or parquet files shaped like the hub data"
)


@dataclass(frozen=True)
class RetrievalRecord:
    """One image and its captions; ``load()`` returns the undecoded image."""

    image_id: str
    captions: tuple[str, ...]
    load: Callable[[], RawImage]
    group: int | None = None  # foil group of generated scenes (batched together)


Sizes = dict[str, int | None]
Loader = Callable[[SourceSpec, Sizes, int], dict[str, list[RetrievalRecord]]]
SOURCES: Registry[Loader] = Registry("retrieval source")


def load_records(source: SourceSpec, sizes: Sizes, seed: int) -> dict[str, list[RetrievalRecord]]:
    """``{split: records}`` for train/dev/test, sizes capped by ``sizes`` (None = all)."""
    out = SOURCES.get(source.kind)(source, sizes, seed)
    for split, records in out.items():
        check_records(records, f"{source.describe()} {split}")
    return out


def check_records(records: list[RetrievalRecord], where: str) -> None:
    """Every image has at least one caption and a unique id; raises a one-line error."""
    if not records:
        raise SeqbenchError(f"{where} has no images", "check the source and the preset sizes")
    seen: set[str] = set()
    for record in records:
        if not record.captions:
            raise SeqbenchError(
                f"image {record.image_id!r} in {where} has an empty caption list",
                "give every image at least one caption, or drop it from the source",
            )
        if record.image_id in seen:
            raise SeqbenchError(
                f"image id {record.image_id!r} appears twice in {where}",
                "make image ids unique (merge the two rows' captions into one)",
            )
        seen.add(record.image_id)


# --- images --------------------------------------------------------------------------------


def center_crop(image: Image.Image) -> Image.Image:
    """The largest centred square: resizing it keeps the aspect ratio, as CLIP does."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side))


def image_array(record: RetrievalRecord, size: int) -> np.ndarray:
    """The record's image as uint8 ``[size, size, 3]``; a broken image is a one-line error."""
    raw = record.load()
    if isinstance(raw, np.ndarray):
        if raw.shape[:2] == (size, size):
            return raw
        raw = Image.fromarray(raw)
    image = open_image(raw, where=f"{record.image_id!r}", used_by="its row")
    return to_array(center_crop(image), size)


def _raw_image(value: Any, root: Path) -> RawImage:
    """A hub/parquet image cell (``{bytes, path}``, bytes or a path) as bytes or a Path."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"]
        value = value.get("path")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str) and value:
        return inside(root, value, f"image cell of {root}")
    raise SeqbenchError(f"image cell {value!r} holds neither bytes nor a path", "fix the source")


# --- rows -> records -----------------------------------------------------------------------


def _captions(value: Any, limit: int) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value or [])
    texts = [item.get("raw", "") if isinstance(item, dict) else str(item) for item in items]
    return tuple(t.strip() for t in texts if t and t.strip())[:limit]


@dataclass(frozen=True)
class Fields:
    """Which column holds what (the spec's ``fields``), with the standard names as fallback."""

    image: str = "image"
    image_path: str | None = None
    captions: str = "captions"
    id: str = "id"
    split: str = "split"

    @classmethod
    def of(cls, mapping: dict[str, str]) -> Fields:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise SeqbenchError(f"unknown retrieval field(s) {unknown}", f"known: {sorted(known)}")
        return cls(**mapping)

    def pick(self, columns: list[str], name: str) -> str | None:
        """The column for ``name``: the mapped one if present, else the standard name."""
        mapped = getattr(self, name)
        standard = Fields.__dataclass_fields__[name].default
        return next((c for c in (mapped, standard) if c and c in columns), None)


def table_records(
    table: pa.Table, fields: Fields, options: dict[str, Any], where: str, root: Path
) -> dict[str, list[RetrievalRecord]]:
    """Records of an Arrow table, grouped by its split column (``all`` when it has none).

    Image cells are read lazily from the (memory-mapped) table, one row at a time.
    """
    columns = table.column_names
    caption_col = fields.pick(columns, "captions")
    if caption_col is None:
        raise SeqbenchError(
            f"{where} has no captions column {fields.captions!r} (columns: {columns})",
            "map it in the task spec: `fields: {captions: COLUMN}`",
        )
    image_col = fields.pick(columns, "image")
    if image_col is None and fields.image_path is None:
        raise SeqbenchError(
            f"{where} has no image column {fields.image!r} (columns: {columns})",
            "map it: `fields: {image: COLUMN}` or `fields: {image_path: '{folder}/{file}'}`",
        )
    id_col, split_col = fields.pick(columns, "id"), fields.pick(columns, "split")
    image_root = Path(os.path.expandvars(str(options.get("image_root", root)))).expanduser()
    if "$" in str(image_root):
        raise SeqbenchError(
            f"{where}: image_root {options['image_root']!r} names an unset variable",
            f"set it to the folder holding the images ({options['image_root']})",
        )
    limit = int(options.get("captions_per_image", 5))
    # An image column of paths (JSONL) is cheap metadata; one of bytes stays in the table.
    image_type = table.schema.field(image_col).type if image_col else None
    paths = image_type is not None and (
        pa.types.is_string(image_type) or pa.types.is_large_string(image_type)
    )
    meta_cols = [c for c in columns if c != image_col or paths]
    rows = table.select(meta_cols).to_pylist()

    def loader(i: int, row: dict[str, Any]) -> Callable[[], RawImage]:
        if image_col is None:
            return lambda: inside(image_root, str(fields.image_path).format(**row), where)
        return lambda: _raw_image(table.column(image_col)[i].as_py(), image_root)

    def default_id(i: int, row: dict[str, Any]) -> str:
        # Without an id column, an image's path names it (JSONL sources), else its row.
        if image_col is None:
            return str(fields.image_path).format(**row)
        return str(row[image_col]) if isinstance(row.get(image_col), str) else f"{i:07d}"

    out: dict[str, list[RetrievalRecord]] = {}
    for i, row in enumerate(rows):
        image_id = str(row[id_col]) if id_col else default_id(i, row)
        record = RetrievalRecord(image_id, _captions(row[caption_col], limit), loader(i, row))
        out.setdefault(str(row[split_col]) if split_col else "all", []).append(record)
    for name, records in out.items():
        check_records(records, where if name == "all" else f"{where} [{name}]")
    return out


def read_jsonl(path: Path) -> pa.Table:
    """A JSONL file as an Arrow table (one row per line; blank lines skipped)."""
    fix = 'each line must be {"image": "file.jpg", "captions": ["...", ...]}'
    lines = read_lines(path, fix)
    rows = [row for _, row in json_lines(lines, path, fix)]
    if not rows:
        raise SeqbenchError(f"{path} is empty", "add one JSON line per image")
    return pa.Table.from_pylist(rows)


TABLE_READERS: dict[str, Callable[[Path], pa.Table]] = {
    ".jsonl": read_jsonl,
    ".parquet": lambda path: pq.read_table(path, memory_map=True),
}


# --- splitting -----------------------------------------------------------------------------


def carve(
    pools: dict[str, list[RetrievalRecord]], mapping: dict[str, str], sizes: Sizes, seed: int
) -> dict[str, list[RetrievalRecord]]:
    """Our splits from the source's pools, disjoint by image id.

    ``mapping``: our split -> pool name(s) joined by ``+``. A split whose pools a later split
    (in the order test, dev, train) also draws from takes a seeded sample of its size; the
    last one takes what is left, in source order, up to its size.
    """
    taken: set[str] = set()
    out: dict[str, list[RetrievalRecord]] = {}
    order = [s for s in SPLIT_ORDER if s in mapping]
    for n, split in enumerate(order):
        names = mapping[split].split("+")
        missing = [name for name in names if name not in pools]
        if missing:
            raise SeqbenchError(
                f"the source has no split {missing[0]!r} (it has {sorted(pools)})",
                f"map our {split} split to one of them in the spec's `splits:`",
            )
        candidates = [r for name in names for r in pools[name] if r.image_id not in taken]
        size = sizes.get(split)
        shared = any(set(names) & set(mapping[later].split("+")) for later in order[n + 1 :])
        if shared:
            if size is None:
                raise SeqbenchError(
                    f"the {split} split is carved from {mapping[split]!r} but has no size",
                    f"give the preset `images: {{{split}: N}}`",
                )
            candidates = random.Random(f"{seed}-{split}").sample(candidates, len(candidates))
        # a test split from its own pool is read whole; one carved from a shared pool is
        # defined by its size
        whole = size is None or (split == "test" and not shared)
        chosen = candidates if whole else candidates[:size]
        taken.update(r.image_id for r in chosen)
        out[split] = chosen
    return out


def default_mapping(pools: dict[str, list[RetrievalRecord]]) -> dict[str, str]:
    """Our splits from pool names (``validation`` -> dev); missing ones come from train."""
    named = {split_of(name): name for name in pools if split_of(name)}
    base = named.get("train") or ("all" if "all" in pools else None)
    if base is None:
        raise SeqbenchError(f"the source has no train split (it has {sorted(pools)})", LOCAL_HINT)
    return {split: named.get(split, base) for split in SPLIT_ORDER}


# --- the source kinds ----------------------------------------------------------------------


@SOURCES.register("generator")
def generated(source: SourceSpec, sizes: Sizes, seed: int) -> dict[str, list[RetrievalRecord]]:
    """An embedded generator's splits, its scenes rendered when written."""
    generate = get_generator(str(source.generator))
    module = sys.modules[generate.__module__]
    image_size = int(source.options.get("image_size", 64))
    wanted = {split: int(n) for split, n in sizes.items() if n}
    splits = generate(wanted, seed=seed, **source.options)
    return {
        split: [
            RetrievalRecord(
                f"{split}-{i:06d}",
                tuple(example.captions),
                lambda scene=example.scene: module.render(scene, image_size),
                example.group,
            )
            for i, example in enumerate(examples)
        ]
        for split, examples in splits.items()
    }


def _hub_table(hub_id: str, config: str | None, split: str) -> pa.Table:
    online = hub.hub_reachable()
    console.print(
        f"fetching {hub_id} [{config or 'default'}] {split} "
        f"({'Hugging Face hub' if online else 'HF cache, offline'})",
        markup=False,
        highlight=False,
    )
    import datasets

    try:
        if online:
            dataset = datasets.load_dataset(hub_id, config, split=split)
        else:
            with hub.offline_mode():
                dataset = datasets.load_dataset(hub_id, config, split=split)
    except ConnectionError as err:
        raise SeqbenchError(
            f"cannot fetch {hub_id} from the Hugging Face hub: offline and not in the HF cache",
            LOCAL_HINT,
        ) from err
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as err:
        raise SeqbenchError(
            f"cannot load {hub_id} split {split!r}: {str(err).splitlines()[0]}", LOCAL_HINT
        ) from err
    # Arrow cells keep images as {bytes, path}: decoded by us, one at a time, when written.
    return dataset.with_format("arrow")[:]


@SOURCES.register("hub")
def from_hub(source: SourceSpec, sizes: Sizes, seed: int) -> dict[str, list[RetrievalRecord]]:
    """The hub splits that ``source.splits`` names (``NAME`` or ``HUB_ID:NAME``), carved."""
    fields = Fields.of(source.fields)
    mapping = dict(source.splits) or {"train": "train", "dev": "validation", "test": "test"}
    pools: dict[str, list[RetrievalRecord]] = {}
    for ref in {name for value in mapping.values() for name in value.split("+")}:
        hub_id, _, split = ref.rpartition(":") if ":" in ref else (str(source.hub), "", ref)
        table = _hub_table(hub_id or str(source.hub), source.hub_config, split)
        grouped = table_records(table, fields, source.options, f"{hub_id} {split}", Path.cwd())
        pools[ref] = [r for records in grouped.values() for r in records]
    return carve(pools, mapping, sizes, seed)


@SOURCES.register("local")
def from_local(source: SourceSpec, sizes: Sizes, seed: int) -> dict[str, list[RetrievalRecord]]:
    """A JSONL/parquet file, or a folder of split files; images relative to the file."""
    pools = local_pools(source)
    mapping = dict(source.splits) or default_mapping(pools)
    return carve(pools, mapping, sizes, seed)


def local_pools(source: SourceSpec) -> dict[str, list[RetrievalRecord]]:
    """The local source's records by its own split names, in file order (nothing carved)."""
    path = Path(str(source.local)).expanduser()
    fields = Fields.of(source.fields)
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.suffix in TABLE_READERS and split_of(p.name)
        ) or sorted(p for p in path.iterdir() if p.suffix in TABLE_READERS)
    elif path.is_file():
        files = [path]
    else:
        raise SeqbenchError(f"no such file or folder: {path}", LOCAL_HINT)
    if not files or any(p.suffix not in TABLE_READERS for p in files):
        raise SeqbenchError(f"{path} holds no .jsonl or .parquet file", LOCAL_HINT)
    pools: dict[str, list[RetrievalRecord]] = {}
    for file in files:
        grouped = table_records(
            TABLE_READERS[file.suffix](file), fields, source.options, str(file), file.parent
        )
        for name, records in grouped.items():
            # A file named after a split is that split, whatever its rows say.
            key = file.stem if len(files) > 1 and split_of(file.name) else name
            pools.setdefault(key, []).extend(records)
    return pools
