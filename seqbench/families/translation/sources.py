"""From a source spec to train/dev/test sentence pairs.

Three source kinds (a registry, :data:`SOURCE_KINDS`): ``generator`` (embedded, e.g. SCAN),
``hub`` (``datasets.load_dataset``, :func:`load_hub`) and ``local`` (files, see
:mod:`seqbench.families.translation.files`).
Each gives an identity (what the prepare fingerprint hashes) without reading the data, and
a reader. :func:`assemble` then makes the three splits: a single file is split 90/5/5, a
missing dev split is carved (seeded, 5%) out of train.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqbench.config import SourceSpec
from seqbench.data import hub
from seqbench.data.generators import generator_version, get_generator
from seqbench.data.splits import SPLITS
from seqbench.errors import SeqbenchError
from seqbench.families.translation import files
from seqbench.families.translation.files import Fields, Pair, table_pairs
from seqbench.progress import console

DEV_FRACTION = 0.05
HOLDOUT_FRACTION = 0.05  # dev and test shares when one file is split
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}  # our split -> hub's


@dataclass(frozen=True)
class OpenedSource:
    """A source ready to read: its fingerprint identity, a description and a reader."""

    identity: dict[str, Any]
    description: str
    read: Callable[[], dict[str, list[Pair]]]


def _open_generator(
    source: SourceSpec, subset: str | None, limits: dict[str, int | None]
) -> OpenedSource:
    generate = get_generator(str(source.generator))
    identity = {
        "generator": source.generator,
        "subset": subset,
        "options": source.options,
        "version": generator_version(str(source.generator)),
    }
    return OpenedSource(identity, source.describe(), lambda: generate(subset, **source.options))


def _open_hub(
    source: SourceSpec, subset: str | None, limits: dict[str, int | None]
) -> OpenedSource:
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
    fields = Fields.of(source.fields)
    located = files.locate(str(source.local), source.format, fields)
    identity = {
        "format": located.format,
        "fields": source.fields,
        "files": located.identity(),
        "split_files": located.names,
    }
    description = f"local {source.local} ({located.format})"
    return OpenedSource(identity, description, lambda: files.read_located(located, fields))


# --- hub sources -------------------------------------------------------------------------


def _offline_error(hub_id: str, config: str | None, fields: Fields) -> SeqbenchError:
    name = hub_id + (f" [{config}]" if config else "")
    return SeqbenchError(
        f"cannot fetch {name} from the Hugging Face hub: offline and not in the local HF cache",
        f"download it where there is network, then once `seqbench prepare TASK --source "
        f"local:PATH` (Moses train/val/test*.{fields.src}|.{fields.tgt}[.gz] files, or "
        f"train/validation/test .jsonl or .parquet with fields {fields.src!r}, {fields.tgt!r}); "
        "train, eval and run then read it too",
    )


def _is_missing_split(err: Exception) -> bool:
    return isinstance(err, ValueError | KeyError) and "split" in str(err).lower()


def load_hub(
    hub_id: str,
    config: str | None = None,
    fields: dict[str, Any] | None = None,
    splits: dict[str, str] | None = None,
    limits: dict[str, int | None] | None = None,
) -> dict[str, list[Pair]]:
    """``{split: [(src, tgt)]}`` of a hub data set (or a local folder shaped like one).

    ``splits`` maps our split names (train/dev/test) to the data set's (default train,
    validation, test); a missing dev split is left out (the caller carves one from train).
    ``limits`` caps rows per split by streaming only the first rows (nothing else fetched).
    """
    parsed = Fields.of(fields)
    names = {**HUB_SPLITS, **(splits or {})}
    limits = limits or {}
    local = Path(hub_id).expanduser().is_dir()
    online = local or hub.hub_reachable()
    out: dict[str, list[Pair]] = {}
    with contextlib.ExitStack() as stack:
        cache_dir = None
        if local:  # a local folder: keep datasets' Arrow copies out of the shared HF cache
            cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="seqbench-hf-"))
        if not online:
            stack.enter_context(hub.offline_mode())
        for split, name in names.items():
            limit = limits.get(split)
            what = f"the first {limit:,} rows of " if limit else ""
            origin = "local folder" if local else "Hugging Face hub" if online else "HF cache"
            console.print(
                f"fetching {what}{hub_id} [{config or 'default'}] {name} ({origin})",
                markup=False,
                highlight=False,
            )
            try:
                table = hub.load_split(hub_id, config, name, limit, cache_dir)
            except ConnectionError as err:
                raise _offline_error(hub_id, config, parsed) from err
            except (ValueError, KeyError) as err:
                if split == "dev" and _is_missing_split(err):
                    continue
                raise SeqbenchError(
                    f"{hub_id}: cannot load split {name!r}: {str(err).splitlines()[0]}",
                    f"map our splits in the spec: `splits: {{{split}: <name>}}`",
                ) from err
            except FileNotFoundError as err:
                raise SeqbenchError(
                    f"{hub_id}: not a hub data set or data folder ({str(err).splitlines()[0]})",
                    "check the hub id, or use --source local:PATH",
                ) from err
            out[split] = table_pairs(table, parsed, f"{hub_id} {name}")
    if "train" not in out:
        raise SeqbenchError(f"{hub_id} has no train split", "map it with `splits: {train: NAME}`")
    return out


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
    splits = {k: list(v) for k, v in raw.items()}
    note: dict[str, Any] = {}
    if "test" not in splits:
        raise SeqbenchError(
            f"the source has no test split (found splits: {', '.join(sorted(splits))})",
            "add a test file (test.*, test_2016_flickr.de.gz...) or point at one file",
        )
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
    extra = sorted(s for s in splits if s not in SPLITS)  # further test sets, kept whole
    return {s: splits[s] for s in (*SPLITS, *extra)}, note


def cap(pairs: list[Pair], limit: int | None, seed: int) -> list[Pair]:
    """At most ``limit`` pairs, a seeded random subset in the original order."""
    if limit is None or len(pairs) <= limit:
        return pairs
    return _take(pairs, int(limit), random.Random(seed))[0]
