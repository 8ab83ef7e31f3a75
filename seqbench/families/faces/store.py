"""Prepared face splits on disk: one ``.npz`` per split, plus the verification pairs.

A split holds ``image_ids`` (str), ``images`` (uint8 [N,S,S,3]) and ``labels`` (int64 identity
per image, numbered within the split). ``pairs-<split>.npz`` holds the protocol's pairs as
row indices into that split: ``a``, ``b``, ``same`` (bool) and ``fold`` (0..9).
Files are written atomically (temp + rename).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqbench.atomic import atomic_path
from seqbench.errors import SeqbenchError


@dataclass
class Pairs:
    """Verification pairs of one split."""

    a: np.ndarray
    b: np.ndarray
    same: np.ndarray
    fold: np.ndarray

    def __len__(self) -> int:
        return len(self.a)


@dataclass
class FaceSplit:
    """One prepared split in memory, with its pairs when it is an evaluation split."""

    image_ids: list[str]
    images: np.ndarray
    labels: np.ndarray
    pairs: Pairs | None = None

    def __len__(self) -> int:
        return len(self.image_ids)


def _save(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def write_split(directory: Path, name: str, split: FaceSplit) -> None:
    """``<name>.npz`` (and ``pairs-<name>.npz`` when the split has pairs)."""
    _save(
        directory / f"{name}.npz",
        image_ids=np.asarray(split.image_ids, dtype=str),
        images=split.images,
        labels=split.labels.astype(np.int64),
    )
    if split.pairs is not None:
        p = split.pairs
        _save(directory / f"pairs-{name}.npz", a=p.a, b=p.b, same=p.same, fold=p.fold)


def read_split(directory: Path, name: str) -> FaceSplit:
    """A prepared split in memory (the family memoises it per process)."""
    path = directory / f"{name}.npz"
    try:
        with np.load(path) as z:
            split = FaceSplit([str(x) for x in z["image_ids"]], z["images"], z["labels"])
        pairs_path = directory / f"pairs-{name}.npz"
        if pairs_path.exists():
            with np.load(pairs_path) as z:
                split.pairs = Pairs(z["a"], z["b"], z["same"], z["fold"])
    except (OSError, ValueError, KeyError) as err:
        raise SeqbenchError(
            f"prepared split {path} is unreadable ({err})", "run `seqbench prepare --force TASK`"
        ) from err
    return split
