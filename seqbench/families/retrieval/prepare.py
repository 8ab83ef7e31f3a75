"""Preparing retrieval data: a source's image records -> tokenized Arrow splits.

:func:`build_cache` loads the records (:mod:`seqbench.families.retrieval.sources`), trains
a SentencePiece model on the train captions and writes every split
(:mod:`seqbench.families.retrieval.store`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from seqbench.config import SourceSpec
from seqbench.data.splits import SPLITS
from seqbench.data.tokenize import (
    SentencePieceTokenizer,
    sentencepiece_settings,
    train_sentencepiece,
)
from seqbench.errors import SeqbenchError
from seqbench.families.base import capped_split_sizes
from seqbench.families.retrieval.sources import load_records
from seqbench.families.retrieval.store import write_split
from seqbench.progress import make_progress

DATA_OPTIONS = ("seed", "images", "max_train", "max_eval", "image_size")
DEFAULT_IMAGE_SIZE = 64  # px
TOKENIZER_FILE = "caption.model"


def tokenizer_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """The caption tokenizer: one SentencePiece model and a caption length cap."""
    return {
        **sentencepiece_settings(raw, default_vocab_size=8000),
        "max_tokens": int(raw.get("max_tokens", 64)),
    }


# What a source's fingerprint hashes beyond its kind and description.
SOURCE_FIELDS = ("fields", "splits", "options")


def build_cache(
    tmp: Path, source: SourceSpec, data: dict[str, Any], tokenizer: dict[str, Any]
) -> dict[str, Any]:
    """Load, tokenize and write every split; returns the manifest."""
    splits = load_records(source, capped_split_sizes(data), data["seed"])
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        raise SeqbenchError(f"{source.describe()} gave no {missing} split", "check the spec")
    model_path = tmp / TOKENIZER_FILE
    train_captions = [c for r in splits["train"] for c in r.captions]
    train_sentencepiece(
        train_captions, model_path, tokenizer["vocab_size"], tokenizer["model_type"]
    )
    tok = SentencePieceTokenizer(model_path)
    total = sum(len(records) for records in splits.values())
    with make_progress() as progress:
        bar = progress.add_task(f"prepare {source.describe()}", total=total, info="images")
        for name, records in splits.items():
            write_split(
                tmp / f"{name}.arrow",
                records,
                tok,
                data["image_size"],
                tokenizer["max_tokens"],
                lambda n: progress.update(bar, advance=n),
            )
    return {
        "family": "retrieval",
        "source": source.describe(),
        "splits": {
            s: {"size": len(r), "captions": sum(len(x.captions) for x in r)}
            for s, r in splits.items()
        },
        "image_size": data["image_size"],
        "captions_per_image": max(len(r.captions) for rs in splits.values() for r in rs),
        "tokenizer": {**tokenizer, "file": TOKENIZER_FILE, "actual_vocab_size": tok.vocab_size},
        "data_options": data,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
