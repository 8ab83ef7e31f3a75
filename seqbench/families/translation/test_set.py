"""An external translation test set read as the checkpoint sees data: test-only, never re-split.

Every pair the source holds (all its splits, in order: point it at the test files, e.g.
``local:test_2017_flickr.de+test_2017_flickr.en``) becomes the ``test`` split, encoded with the
checkpoint's own SentencePiece models and decoded up to its own length limit. Pieces the
tokenizers do not know are counted (``manifest["external"]``), never remapped.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from seqbench.config import SourceSpec
from seqbench.data.tokenize import UNK_ID, SentencePieceTokenizer
from seqbench.families.translation.sources import open_source
from seqbench.families.translation.store import SplitData, write_split
from seqbench.progress import make_progress

SIDES = ("src", "tgt")


def identity(source: SourceSpec, model_manifest: dict[str, Any], tokenizers: dict) -> dict:
    """What the cache fingerprint of this (test set, checkpoint data) pair hashes."""
    return {
        "family": "translation",
        "external_test_set": open_source(source, None).identity,
        "tokenizers_sha256": tokenizers,
        "max_len": model_manifest["max_len"],
    }


def build(
    tmp: Path, source: SourceSpec, model_data: Path, model_manifest: dict[str, Any]
) -> dict[str, Any]:
    """Read, encode and write ``test.parquet`` into ``tmp``; returns the manifest."""
    opened = open_source(source, None)
    settings = model_manifest["tokenizer"]
    with make_progress() as progress:
        task = progress.add_task(f"read test set {opened.description}", total=None, info="")
        pairs = [pair for split in opened.read().values() for pair in split]
        toks = {}
        for side in SIDES:
            name = str(settings[side]["file"])
            shutil.copyfile(model_data / name, tmp / name)
            toks[side] = SentencePieceTokenizer(tmp / name)
        texts = {side: [p[i] for p in pairs] for i, side in enumerate(SIDES)}
        ids = {side: toks[side].encode_batch(texts[side]) for side in SIDES}
        write_split(
            tmp / "test.parquet", SplitData(texts["src"], texts["tgt"], ids["src"], ids["tgt"])
        )
        progress.update(task, total=1, completed=1)
    unknown = {
        side: {
            "sentences": sum(UNK_ID in row for row in ids[side]),
            "pieces": sum(row.count(UNK_ID) for row in ids[side]),
        }
        for side in SIDES
    }
    return {
        "family": "translation",
        "source": opened.description,
        "source_identity": opened.identity,
        "splits": {"test": len(pairs)},
        "tokenizer": dict(settings),
        "max_len": int(model_manifest["max_len"]),
        "external": {"source": opened.description, "pairs": len(pairs), "unknown": unknown},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
