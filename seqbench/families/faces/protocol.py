"""The LFW verification protocol: pairs in folds, half of them of the same identity.

:func:`make_pairs` draws them for a generated split (``pairs`` in ``folds``, each fold half
matched, half mismatched, as LFW's View 2: 10 folds x 300 + 300). :func:`read_pairs_file`
reads LFW's official ``pairs.txt`` (first line ``FOLDS N``, then per fold N matched lines
``name i j`` and N mismatched lines ``name1 i name2 j``); a malformed line fails naming the
file and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqbench.errors import SeqbenchError
from seqbench.families.faces.store import Pairs


def make_pairs(labels: np.ndarray, pairs: int, folds: int, seed: int) -> Pairs:
    """``pairs`` pairs of rows (half same identity) in ``folds`` equal folds.

    Pairs are distinct (no pair drawn twice, no image paired with itself)."""
    labels = np.asarray(labels)
    if pairs % (2 * folds):
        raise SeqbenchError(
            f"{pairs} pairs do not split into {folds} folds of equal matched/mismatched halves",
            f"choose a multiple of {2 * folds} (LFW: 6000 in 10 folds)",
        )
    rng = np.random.default_rng([seed, 15])
    by_id = {int(k): np.flatnonzero(labels == k) for k in np.unique(labels)}
    multi = [k for k, rows in by_id.items() if len(rows) >= 2]
    ids = list(by_id)
    if not multi or len(ids) < 2:
        raise SeqbenchError(
            "too few identities or images per identity to draw verification pairs",
            "give the split at least 2 identities with 2+ images each",
        )
    half = pairs // 2
    seen: set[tuple[int, int]] = set()
    a, b, same = [], [], []
    for want_same in (True, False):
        made, tries = 0, 0
        while made < half:
            tries += 1
            if tries > 50 * half:
                raise SeqbenchError(
                    f"cannot draw {half} distinct {'matched' if want_same else 'mismatched'} "
                    "pairs from this split",
                    "lower `pairs` or add identities/images",
                )
            if want_same:
                x, y = rng.choice(by_id[multi[rng.integers(len(multi))]], 2, replace=False)
            else:
                p, q = rng.choice(len(ids), 2, replace=False)
                x = rng.choice(by_id[ids[p]])
                y = rng.choice(by_id[ids[q]])
            key = (int(min(x, y)), int(max(x, y)))
            if key in seen:
                continue
            seen.add(key)
            a.append(key[0])
            b.append(key[1])
            same.append(want_same)
            made += 1
    same_arr = np.asarray(same)
    # Fold f holds the f-th slice of the matched and of the mismatched pairs.
    per_fold = half // folds
    fold = np.concatenate([np.arange(half) // per_fold, np.arange(half) // per_fold])
    return Pairs(np.asarray(a), np.asarray(b), same_arr, fold.astype(np.int64))


@dataclass(frozen=True)
class NamedPair:
    """One line of ``pairs.txt``: two (person, image number) references."""

    first: tuple[str, int]
    second: tuple[str, int]
    same: bool
    fold: int


_PERSON = re.compile(r"^[^/\\\x00-\x1f]+$")


def read_pairs_file(path: Path) -> list[NamedPair]:
    """LFW's ``pairs.txt``; a malformed line raises naming ``path`` and the line number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise SeqbenchError(f"cannot read {path}: {err}", "restore LFW's pairs.txt") from err

    def bad(number: int, why: str) -> SeqbenchError:
        return SeqbenchError(
            f"{path}:{number}: {why}",
            "pairs.txt lines are `name i j` (matched) or `name1 i name2 j` (mismatched), "
            "after a first line `FOLDS PAIRS_PER_HALF`",
        )

    if not lines:
        raise bad(1, "empty file")
    head = lines[0].split()
    if len(head) != 2 or not all(x.isdigit() for x in head):
        raise bad(1, f"expected `FOLDS PAIRS_PER_HALF`, got {lines[0]!r}")
    folds, per_half = int(head[0]), int(head[1])
    body = [(n, line) for n, line in enumerate(lines[1:], start=2) if line.strip()]
    if len(body) != folds * 2 * per_half:
        raise bad(len(lines), f"expected {folds * 2 * per_half} pair lines, found {len(body)}")
    out = []
    for index, (number, line) in enumerate(body):
        parts = line.split()
        fold, within = divmod(index, 2 * per_half)
        matched = within < per_half
        try:
            if matched and len(parts) == 3:
                out.append(
                    NamedPair((parts[0], int(parts[1])), (parts[0], int(parts[2])), True, fold)
                )
            elif not matched and len(parts) == 4:
                out.append(
                    NamedPair((parts[0], int(parts[1])), (parts[2], int(parts[3])), False, fold)
                )
            else:
                want = "`name i j`" if matched else "`name1 i name2 j`"
                raise bad(number, f"expected {want}, got {line!r}")
        except ValueError as err:
            raise bad(number, f"image numbers must be integers, got {line!r}") from err
        for name, _ in (out[-1].first, out[-1].second):
            # A person is one folder of the LFW folder: never a path out of it.
            if not _PERSON.match(name) or name in (".", ".."):
                raise bad(number, f"{name!r} is not a person's folder name")
    return out


def gallery_and_probes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows enrolled (the first image of each identity) and rows probing (the others)."""
    labels = np.asarray(labels)
    first = np.zeros(len(labels), dtype=bool)
    _, index = np.unique(labels, return_index=True)
    first[index] = True
    return np.flatnonzero(first), np.flatnonzero(~first)
