"""Preparing face data: a source's images -> ``.npz`` splits with verification pairs.

Data options: ``seed``, ``identities: {train, dev, test}`` (generated people per split),
``pairs: {dev, test}`` (verification pairs; LFW's protocol is 6,000 in 10 folds),
``folds`` (10), ``image_size`` (px), ``max_train`` (train images cap).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from seqbench.config import SourceSpec
from seqbench.families.faces.sources import load_splits
from seqbench.families.faces.store import FaceSplit, write_split
from seqbench.progress import make_progress

DATA_OPTIONS = ("seed", "identities", "pairs", "folds", "image_size", "max_train")
DEFAULT_IMAGE_SIZE = 48  # px


def normalise(data: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in, so equal settings fingerprint equally."""
    return {
        **data,
        "identities": dict(data.get("identities") or {}),
        "pairs": {"dev": 600, "test": 6000, **dict(data.get("pairs") or {})},
        "folds": int(data.get("folds") or 10),
        "image_size": int(data.get("image_size") or DEFAULT_IMAGE_SIZE),
    }


def relative_files(root: Path) -> list[tuple[str, int, int]]:
    """(path under ``root``, size, mtime ns) of every file in a local folder: what its
    fingerprint hashes (relative paths: the folder may move)."""
    root = root.expanduser()
    files = sorted(root.rglob("*")) if root.is_dir() else []
    return [
        (str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in files
        if p.is_file()
    ]


def cap(split: FaceSplit, limit: int | None) -> FaceSplit:
    """The first ``limit`` images of a train split (pairs are never capped: the protocol)."""
    if limit is None or limit >= len(split):
        return split
    return FaceSplit(split.image_ids[:limit], split.images[:limit], split.labels[:limit])


def build_cache(tmp: Path, source: SourceSpec, data: dict[str, Any]) -> dict[str, Any]:
    """Generate or read every split, then write it; returns the manifest."""
    with make_progress() as progress:
        bar = progress.add_task(f"prepare {source.describe()}", total=None, info="faces")
        splits = load_splits(source, data, lambda n: progress.update(bar, advance=n))
    splits["train"] = cap(splits["train"], data.get("max_train"))
    for name, split in splits.items():
        write_split(tmp, name, split)
    return {
        "family": "faces",
        "source": source.describe(),
        "splits": {
            name: {
                "size": len(s),
                "identities": int(len(set(s.labels.tolist()))),
                "pairs": len(s.pairs) if s.pairs is not None else 0,
            }
            for name, s in splits.items()
        },
        "num_classes": int(splits["train"].labels.max()) + 1,
        "image_size": data["image_size"],
        "data_options": data,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
