"""Preparing language-modelling data: documents per split -> one token stream per split.

SentencePiece is trained on the train documents only; every split is encoded with it. The
manifest records, per split, the documents (titles), tokens and characters, so bits per
character can be computed from the per-token loss.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from seqbench.data.splits import SPLITS
from seqbench.data.tokenize import (
    BOS_ID,
    EOS_ID,
    SentencePieceTokenizer,
    sentencepiece_settings,
    train_sentencepiece,
)
from seqbench.errors import SeqbenchError
from seqbench.families.base import split_caps
from seqbench.families.lm.sources import Document, OpenedSource
from seqbench.families.lm.store import write_split
from seqbench.progress import make_progress

DATA_OPTIONS = ("max_train", "max_eval", "seed")


def tokenizer_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """One SentencePiece model (default: unigram, 4000 pieces)."""
    return sentencepiece_settings({"model_type": "unigram", **raw}, 4000)


def lines(docs: list[Document]) -> list[str]:
    """The non-empty lines of ``docs`` (what SentencePiece trains on and encodes)."""
    return [line for _, text in docs for line in text.splitlines() if line.strip()]


def encode_documents(tok: SentencePieceTokenizer, docs: list[Document]) -> list[int]:
    """``bos``, then each document's lines' ids, ``eos`` after each document.

    Lines are encoded separately and joined with no separator token: SentencePiece's word
    boundary marker already starts each line, so a newline costs no token of its own.
    """
    stream = [BOS_ID]
    for _, text in docs:
        for ids in tok.encode_batch([t for t in text.splitlines() if t.strip()]):
            stream += ids
        stream.append(EOS_ID)
    return stream


def characters(docs: list[Document]) -> int:
    """Characters the stream encodes: the non-empty lines' characters plus one line break each
    (the unit bits per character divides by)."""
    return sum(len(line) + 1 for line in lines(docs))


def build_cache(
    tmp: Path, opened: OpenedSource, tokenizer: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """Read, cap (whole documents), tokenize and write one prepared folder; its manifest."""
    with make_progress() as progress:
        reading = progress.add_task(f"read {opened.description}", total=None, info="")
        raw = opened.read()
        progress.update(reading, total=1, completed=1)
        caps = split_caps(data)  # train and dev only: a test split is always kept whole
        docs = {s: raw.get(s, [])[: caps[s]] if caps[s] else raw.get(s, []) for s in SPLITS}
        for split in SPLITS:
            if not lines(docs[split]):
                raise SeqbenchError(
                    f"{opened.description}: the {split} split has no text",
                    "provide non-empty text (at least 3 paragraphs for a single file)",
                )
        training = progress.add_task("train tokenizer (train split only)", total=1, info="")
        train_sentencepiece(
            lines(docs["train"]),
            tmp / "spm.model",
            tokenizer["vocab_size"],
            tokenizer["model_type"],
        )
        progress.update(training, completed=1)
        tok = SentencePieceTokenizer(tmp / "spm.model")
        encoding = progress.add_task("tokenize", total=len(SPLITS), info="")
        tokens = {}
        for split in SPLITS:
            stream = encode_documents(tok, docs[split])
            write_split(tmp / f"{split}.npy", stream)
            tokens[split] = len(stream) - 1  # predicted tokens (bos is context only)
            progress.update(encoding, advance=1)
    return {
        "family": "lm",
        "source": opened.description,
        "source_identity": opened.identity,
        "splits": {s: len(docs[s]) for s in SPLITS},
        "documents": {s: [title for title, _ in docs[s]] for s in SPLITS},
        "tokens": tokens,
        "characters": {s: characters(docs[s]) for s in SPLITS},
        "data_options": data,
        "tokenizer": {**tokenizer, "file": "spm.model", "vocab_size": tok.vocab_size},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
