"""An external retrieval test set read as the checkpoint sees data: test-only, never re-split.

Every image record of a local JSONL/parquet source (all its splits, in order) becomes the
``test`` gallery, resized to the checkpoint's image size, its captions encoded with the
checkpoint's own SentencePiece model and length cap. Caption pieces the tokenizer does not know
are counted (``manifest["external"]``), never remapped.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from seqbench.config import SourceSpec
from seqbench.data.tokenize import UNK_ID, SentencePieceTokenizer
from seqbench.errors import SeqbenchError
from seqbench.families.base import source_identity_of
from seqbench.families.retrieval.prepare import SOURCE_FIELDS, TOKENIZER_FILE
from seqbench.families.retrieval.sources import check_records, local_pools
from seqbench.families.retrieval.store import write_split
from seqbench.progress import make_progress


def identity(source: SourceSpec, model_manifest: dict[str, Any], tokenizer_sha: str) -> dict:
    """What the cache fingerprint of this (test set, checkpoint data) pair hashes."""
    return {
        "family": "retrieval",
        "external_test_set": source_identity_of(source, SOURCE_FIELDS),
        "tokenizer_sha256": tokenizer_sha,
        "image_size": model_manifest["image_size"],
        "max_tokens": model_manifest["tokenizer"]["max_tokens"],
    }


def build(
    tmp: Path, source: SourceSpec, model_data: Path, model_manifest: dict[str, Any]
) -> dict[str, Any]:
    """Read, encode and write ``test.arrow`` into ``tmp``; returns the manifest."""
    if source.kind != "local":
        raise SeqbenchError(
            f"{source.describe()}: a retrieval test set is read from local files",
            "pass --test-set local:FILE.jsonl (or .parquet, or a folder of them)",
        )
    where = source.describe()
    records = [r for pool in local_pools(source).values() for r in pool]
    check_records(records, where)
    shutil.copyfile(model_data / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
    tok = SentencePieceTokenizer(tmp / TOKENIZER_FILE)
    max_tokens = int(model_manifest["tokenizer"]["max_tokens"])
    with make_progress() as progress:
        bar = progress.add_task(f"read test set {where}", total=len(records), info="images")
        write_split(
            tmp / "test.arrow",
            records,
            tok,
            model_manifest["image_size"],
            max_tokens,
            lambda n: progress.update(bar, advance=n),
        )
    ids = [tok.encode_batch(list(r.captions)) for r in records]
    captions = sum(len(r.captions) for r in records)
    external = {
        "source": where,
        "images": len(records),
        "captions": captions,
        "captions_with_unknown_pieces": sum(UNK_ID in row for rows in ids for row in rows),
        "captions_cut_to_max_tokens": sum(len(row) > max_tokens for rows in ids for row in rows),
    }
    return {
        "family": "retrieval",
        "source": where,
        "splits": {"test": {"size": len(records), "captions": captions}},
        "image_size": model_manifest["image_size"],
        "captions_per_image": max(len(r.captions) for r in records),
        "tokenizer": dict(model_manifest["tokenizer"]),
        "external": external,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
