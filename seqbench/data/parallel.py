"""From a source spec to train/dev/test sentence pairs, and the tokenized split files.

Three source kinds (a registry, :data:`SOURCE_KINDS`): ``generator`` (embedded, e.g. SCAN),
``hub`` (``datasets.load_dataset``) and ``local`` (files, see :mod:`seqbench.data.sources`).
Each gives an identity (what the prepare fingerprint hashes) without reading the data, and
a reader. :func:`assemble` then makes the three splits: a single file is split 90/5/5, a
missing dev split is carved (seeded, 5%) out of train.
"""

from __future__ import annotations

import dataclasses
import importlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from seqbench.config import SourceSpec
from seqbench.data import sources
from seqbench.data.generators import get_generator
from seqbench.data.sources import Pair
from seqbench.errors import SeqbenchError

SPLITS = ("train", "dev", "test")
DEV_FRACTION = 0.05
HOLDOUT_FRACTION = 0.05  # dev and test shares when one file is split


@dataclass(frozen=True)
class OpenedSource:
    """A source ready to read: its fingerprint identity, a description and a reader."""

    identity: dict[str, Any]
    description: str
    read: Callable[[], dict[str, list[Pair]]]


def effective_source(spec_source: SourceSpec, override: str | None) -> SourceSpec:
    """The spec's source, or ``--source`` keeping the spec's field and split mapping."""
    if not override:
        return spec_source
    parsed = SourceSpec.from_cli(override)
    return dataclasses.replace(
        parsed, fields=dict(spec_source.fields), splits=dict(spec_source.splits)
    )


def _open_generator(
    source: SourceSpec, subset: str | None, limits: dict[str, int | None]
) -> OpenedSource:
    generate = get_generator(str(source.generator))
    version = getattr(importlib.import_module(generate.__module__), "VERSION", 0)
    identity = {
        "generator": source.generator,
        "subset": subset,
        "options": source.options,
        "version": version,
    }
    return OpenedSource(identity, source.describe(), lambda: generate(subset, **source.options))


def _open_hub(
    source: SourceSpec, subset: str | None, limits: dict[str, int | None]
) -> OpenedSource:
    from seqbench.data.hub import load_hub

    # Streaming the first rows only pays off for huge splits; the spec opts in.
    stream = dict(limits) if source.options.get("stream") else {}
    identity = {
        "hub": source.hub,
        "config": source.hub_config,
        "fields": source.fields,
        "splits": source.splits,
        "stream": stream,
    }
    folder = Path(str(source.hub)).expanduser()
    if folder.is_dir():  # a local folder shaped like the hub data: hash its files' stats
        identity["files"] = [
            {"path": str(p.resolve()), "size": p.stat().st_size, "mtime": p.stat().st_mtime_ns}
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        ]

    def read() -> dict[str, list[Pair]]:
        return load_hub(str(source.hub), source.hub_config, source.fields, source.splits, stream)

    return OpenedSource(identity, source.describe(), read)


def _open_local(
    source: SourceSpec, subset: str | None, limits: dict[str, int | None]
) -> OpenedSource:
    fields = sources.Fields.of(source.fields)
    located = sources.locate(str(source.local), source.format, fields)
    identity = {"format": located.format, "fields": source.fields, "files": located.identity()}
    description = f"local {source.local} ({located.format})"
    return OpenedSource(identity, description, lambda: sources.read_located(located, fields))


SOURCE_KINDS = {"generator": _open_generator, "hub": _open_hub, "local": _open_local}


def open_source(
    source: SourceSpec, subset: str | None, limits: dict[str, int | None] | None = None
) -> OpenedSource:
    """Resolve ``source`` (nothing is read or fetched yet)."""
    return SOURCE_KINDS[source.kind](source, subset, limits or {})


def _take(pairs: list[Pair], count: int, rng: random.Random) -> tuple[list[Pair], list[Pair]]:
    """A seeded random ``count`` of ``pairs`` and the rest, both in their original order."""
    chosen = set(rng.sample(range(len(pairs)), count))
    taken = [p for i, p in enumerate(pairs) if i in chosen]
    rest = [p for i, p in enumerate(pairs) if i not in chosen]
    return taken, rest


def assemble(
    raw: dict[str, list[Pair]], seed: int, dev_fraction: float = DEV_FRACTION
) -> tuple[dict[str, list[Pair]], dict[str, Any]]:
    """train/dev/test from a source's splits, and a note of how they were made."""
    rng = random.Random(seed)
    if "all" in raw:
        data = raw["all"]
        n_hold = max(1, round(len(data) * HOLDOUT_FRACTION))
        if len(data) < 3 * n_hold:
            raise SeqbenchError(f"only {len(data)} sentence pairs", "provide at least 3")
        test, rest = _take(data, n_hold, rng)
        dev, train = _take(rest, n_hold, rng)
        note = {"split_from_one_file": len(data), "fractions": [0.9, 0.05, 0.05]}
        return {"train": train, "dev": dev, "test": test}, note
    splits = {k: list(v) for k, v in raw.items() if k in SPLITS}
    note: dict[str, Any] = {}
    if "test" not in splits:
        raise SeqbenchError("the source has no test split", "add a test file or use one file")
    if "dev" not in splits:
        official = len(splits["train"])
        n_dev = max(1, round(official * dev_fraction))
        if official < 2:
            raise SeqbenchError("train split too small to carve a dev split", "add data")
        splits["dev"], splits["train"] = _take(splits["train"], n_dev, rng)
        note["carved_dev"] = {
            "official_train": official,
            "train": len(splits["train"]),
            "dev": n_dev,
        }
    return {s: splits[s] for s in SPLITS}, note


def cap(pairs: list[Pair], limit: int | None, seed: int) -> list[Pair]:
    """At most ``limit`` pairs, a seeded random subset in the original order."""
    if limit is None or len(pairs) <= limit:
        return pairs
    return _take(pairs, int(limit), random.Random(seed))[0]


# --- tokenized split files ----------------------------------------------------------------

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
