"""The split vocabulary every family shares: our three split names and file-name aliases."""

from __future__ import annotations

import re

SPLITS = ("train", "dev", "test")
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "dev": ("dev", "valid", "validation", "val"),
    "test": ("test",),
}


def split_of(name: str) -> str | None:
    """Our split name for a file name (``tasks_test_length.txt`` -> test), or None."""
    stem = name.lower().removeprefix("tasks_")
    token = re.split(r"[._\-]", stem, maxsplit=1)[0]
    return next((s for s, aliases in SPLIT_ALIASES.items() if token in aliases), None)
