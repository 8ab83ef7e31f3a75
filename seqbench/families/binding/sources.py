"""Binding sources: (image, audio clip, captions) records, from a generator or a local folder.

- ``generator``: the shapes-captions scenes (:mod:`seqbench.data.generators.shapes_captions`),
  each with its sound (:mod:`seqbench.data.scene_sounds`: one note per object, seeded noise).
- ``local``: a folder holding ``train.jsonl``, ``dev.jsonl`` and ``test.jsonl``, one pair per
  line: ``{"image": "img/0.png", "audio": "wav/0.wav", "captions": ["...", ...]}`` (paths
  relative to the folder; ``caption`` may hold a single string). A missing image or audio
  file, or one that fails to decode, is a one-line error naming it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqbench.config import SourceSpec
from seqbench.data import scene_sounds
from seqbench.data.audio import load_clip
from seqbench.data.generators.shapes_captions import Scene, render
from seqbench.data.generators.shapes_captions import generate as generate_scenes
from seqbench.data.images import load_array
from seqbench.data.inside import inside
from seqbench.data.jsonl import json_lines, read_lines
from seqbench.data.splits import SPLITS
from seqbench.errors import SeqbenchError
from seqbench.registry import Registry

LOCAL_HINT = (
    "use --source local:FOLDER holding train.jsonl, dev.jsonl and test.jsonl, one "
    '{"image": PATH, "audio": PATH, "captions": [...]} per line'
)


@dataclass(frozen=True)
class BindingRecord:
    """One scene: its image (uint8 [S,S,3]) and clip (float32 samples) loaded on demand."""

    pair_id: str
    captions: tuple[str, ...]
    image: Callable[[int], np.ndarray]  # image_size -> pixels
    audio: Callable[[], np.ndarray]  # -> mono float32 at 16 kHz, CLIP_SECONDS long
    group: int | None = None  # foil group of generated scenes (batched together)
    scene: Scene | None = None  # generated scenes only: what the arithmetic set combines


Sizes = dict[str, int | None]
Loader = Callable[[SourceSpec, Sizes, int], dict[str, list[BindingRecord]]]
SOURCES: Registry[Loader] = Registry("binding source")


def load_records(source: SourceSpec, sizes: Sizes, seed: int) -> dict[str, list[BindingRecord]]:
    """``{split: records}`` for train/dev/test, each capped by ``sizes`` (None = all)."""
    out = SOURCES.get(source.kind)(source, sizes, seed)
    for split in SPLITS:
        if not out.get(split):
            raise SeqbenchError(
                f"{source.describe()} gave no {split} pairs", "check the source and the sizes"
            )
    return out


def audio_seed(seed: int, split: str, index: int) -> int:
    """The noise seed of one generated clip: distinct per split and scene, fixed by ``seed``."""
    return (seed * 1_000_003 + SPLITS.index(split) * 10_000_019 + index) % (2**32)


@SOURCES.register("generator")
def generated(source: SourceSpec, sizes: Sizes, seed: int) -> dict[str, list[BindingRecord]]:
    """The shapes-captions scenes with their sounds."""
    if source.generator != "shapes_captions":
        raise SeqbenchError(
            f"the binding family has no sounds for generator {source.generator!r}",
            "use `source: {generator: shapes_captions}` or a local folder",
        )
    options = {k: v for k, v in source.options.items() if k != "image_size"}
    wanted = {split: int(n) for split, n in sizes.items() if n}
    splits = generate_scenes(wanted, seed=seed, **options)
    return {
        split: [
            BindingRecord(
                f"{split}-{i:06d}",
                tuple(example.captions),
                lambda size, scene=example.scene: render(scene, size),
                functools.partial(scene_sounds.waveform, example.scene, audio_seed(seed, split, i)),
                example.group,
                example.scene,
            )
            for i, example in enumerate(examples)
        ]
        for split, examples in splits.items()
    }


def _captions(row: dict[str, Any]) -> tuple[str, ...]:
    value = row.get("captions", row.get("caption"))
    items = [value] if isinstance(value, str) else list(value or [])
    return tuple(str(c) for c in items if str(c).strip())


def _pair(row: Any, number: int, file: Path, seconds: float) -> BindingRecord:
    where = f"{file} line {number}"
    if not isinstance(row, dict):
        raise SeqbenchError(f"{where}: not a JSON object", LOCAL_HINT)
    missing = [k for k in ("image", "audio") if not isinstance(row.get(k), str) or not row[k]]
    captions = _captions(row)
    if missing or not captions:
        lacks = missing + ([] if captions else ["captions"])
        raise SeqbenchError(f"{where}: the pair lacks {', '.join(lacks)}", LOCAL_HINT)
    image, audio = (
        inside(file.parent, row["image"], where),
        inside(file.parent, row["audio"], where),
    )
    for kind, path in (("image", image), ("audio file", audio)):
        if not path.is_file():
            raise SeqbenchError(
                f"{kind} {path} of the pair on {where} not found",
                "restore the file or drop the pair from the JSONL",
            )
    return BindingRecord(
        str(row.get("id") or f"{file.stem}-{number:06d}"),
        captions,
        lambda size: load_array(image, size, where=str(image), used_by="its pair from the JSONL"),
        lambda: load_clip(audio, seconds),
    )


@SOURCES.register("local")
def from_local(source: SourceSpec, sizes: Sizes, seed: int) -> dict[str, list[BindingRecord]]:
    """``train/dev/test.jsonl`` in a folder, in file order, each cut to its size."""
    folder = Path(str(source.local)).expanduser()
    if not folder.is_dir():
        raise SeqbenchError(f"no such folder: {folder}", LOCAL_HINT)
    seconds = float(source.options.get("clip_seconds", scene_sounds.CLIP_SECONDS))
    out: dict[str, list[BindingRecord]] = {}
    for split in SPLITS:
        file = folder / f"{split}.jsonl"
        if not file.is_file():
            raise SeqbenchError(f"{folder} has no {split}.jsonl", LOCAL_HINT)
        rows = json_lines(read_lines(file, LOCAL_HINT), file, LOCAL_HINT)
        records = [_pair(row, n, file, seconds) for n, row in rows]
        cap = None if split == "test" else sizes.get(split)  # a test file is read whole
        out[split] = records[:cap] if cap else records
    return out
