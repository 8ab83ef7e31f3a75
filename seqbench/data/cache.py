"""The prepare cache: ``cache/<task>/<fingerprint>/`` holding splits, tokenizers and a manifest.

A cache folder is written whole into a temp folder and renamed into place, and its manifest
lists every file with its size and SHA-256, so a half-written or tampered folder is never
used: :func:`lookup` verifies it and the caller rebuilds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqbench import __version__, atomic, locks, paths
from seqbench.atomic import atomic_dir, write_json

# Bump when the prepared layout or the way data is built changes: old caches then miss.
CACHE_FORMAT = 1


def fingerprint(parts: dict[str, Any]) -> str:
    """A short stable hash of everything that determines the prepared data."""
    blob = json.dumps(
        {"parts": parts, "format": CACHE_FORMAT, "version": __version__},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def task_cache_dir(task_key: str, fp: str) -> Path:
    return paths.cache_dir() / task_key.replace(":", "__") / fp


def verify(directory: Path) -> dict[str, Any] | None:
    """The manifest if the folder is complete and every file matches it, else None."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        files = manifest["files"]
        items = list(files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # ValueError: bad UTF-8
        return None
    for rel, info in items:
        path = directory / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            return None  # a manifest must not point outside its folder
        try:
            if path.stat().st_size != info["size"] or file_sha256(path) != info["sha256"]:
                return None
        except (OSError, KeyError, TypeError):
            return None
    return manifest


def build(directory: Path, writer: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """Run ``writer(tmp_dir) -> manifest`` and publish the folder atomically.

    The manifest gets a ``files`` table (size + SHA-256 of every file written).
    """
    with atomic_dir(directory) as tmp:
        manifest = writer(tmp)
        manifest["files"] = {
            str(p.relative_to(tmp)): {"size": p.stat().st_size, "sha256": file_sha256(p)}
            for p in sorted(tmp.rglob("*"))
            if p.is_file()
        }
        write_json(tmp / "manifest.json", manifest)
    return manifest


def reading(directory: Path) -> contextlib.AbstractContextManager[None]:
    """Hold a shared lock on a cache entry while using it: ``cache clean`` then leaves it."""
    return locks.hold(directory, f"cache entry {directory}", shared=True)


def building(directory: Path, say: object = None) -> contextlib.AbstractContextManager[None]:
    """Hold the exclusive lock on a cache entry while (re)building it."""
    return locks.hold(directory, f"cache entry {directory}", say=say)


def stale_temps() -> list[Path]:
    """Temp folders and files of dead processes under the cache."""
    return atomic.stale_temps(paths.cache_dir())


def entries() -> list[dict[str, Any]]:
    """Every cache folder with its task, fingerprint, size in bytes and validity."""
    out = []
    root = paths.cache_dir()
    if not root.is_dir():
        return out
    for task_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for fp_dir in sorted(
            p for p in task_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            size = sum(f.stat().st_size for f in fp_dir.rglob("*") if f.is_file())
            out.append(
                {
                    "task": task_dir.name.replace("__", ":"),
                    "fingerprint": fp_dir.name,
                    "bytes": size,
                    "valid": verify(fp_dir) is not None,
                    "path": str(fp_dir),
                }
            )
    return out
