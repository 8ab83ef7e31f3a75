"""Preparing translation data: a source's sentence pairs -> capped, tokenized parquet splits.

:func:`build_cache` reads the opened source, makes train/dev/test
(:func:`~seqbench.families.translation.sources.assemble`), caps them, trains one
SentencePiece model per side on (a sample of) train, tokenizes every split and writes it
(:mod:`seqbench.families.translation.store`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from seqbench.data.tokenize import SentencePieceTokenizer, train_sentencepiece
from seqbench.errors import SeqbenchError
from seqbench.families.base import split_caps
from seqbench.families.translation.sources import OpenedSource, assemble, cap
from seqbench.families.translation.store import SplitData, length_stats, write_split
from seqbench.progress import make_progress

DATA_OPTIONS = ("max_train", "max_eval", "seed", "dev_fraction", "max_length")
TOKENIZE_CHUNK = 10_000
MAX_LEN_MARGIN = 0.1  # decoding room beyond the longest reference: 10% + 2 tokens


def tokenizer_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """Normalised ``tokenizer:`` spec: type, model_type, src/tgt vocab sizes, coverage."""
    kind = raw.get("type", "sentencepiece")
    if kind != "sentencepiece":
        raise SeqbenchError(f"unknown tokenizer type {kind!r}", "use `type: sentencepiece`")
    shared = raw.get("vocab_size", 8000)
    return {
        "type": kind,
        "model_type": raw.get("model_type", "unigram"),
        "src_vocab_size": int(raw.get("src_vocab_size", shared)),
        "tgt_vocab_size": int(raw.get("tgt_vocab_size", shared)),
        "character_coverage": float(raw.get("character_coverage", 1.0)),
        # SentencePiece on millions of lines is slow and memory-hungry: train on a sample.
        "max_sentences": int(raw.get("max_sentences", 1_000_000)),
    }


def _tokenize(
    progress: Any, tok: SentencePieceTokenizer, texts: list[str], label: str
) -> list[list[int]]:
    task = progress.add_task(f"tokenize {label}", total=len(texts), info="")
    ids: list[list[int]] = []
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        ids.extend(tok.encode_batch(texts[start : start + TOKENIZE_CHUNK]))
        progress.update(task, advance=len(texts[start : start + TOKENIZE_CHUNK]))
    return ids


def build_cache(
    tmp: Path, opened: OpenedSource, tokenizer: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """Read, split, cap, tokenize and write one prepared folder; returns its manifest."""
    seed = data["seed"]
    with make_progress() as progress:
        reading = progress.add_task(f"read {opened.description}", total=None, info="")
        raw = opened.read()
        progress.update(reading, total=1, completed=1)
        assembled, assembly = assemble(raw, seed, data["dev_fraction"] or 0.05)
        limits = split_caps(data)  # train and dev only: test sets are never capped
        pairs = {s: cap(v, limits.get(s), seed + i) for i, (s, v) in enumerate(assembled.items())}
        sample = cap(pairs["train"], tokenizer["max_sentences"], seed)
        for side in ("src", "tgt"):
            train_sentencepiece(
                (p[side == "tgt"] for p in sample),
                tmp / f"{side}.model",
                tokenizer[f"{side}_vocab_size"],
                tokenizer["model_type"],
                tokenizer["character_coverage"],
            )
        toks = {side: SentencePieceTokenizer(tmp / f"{side}.model") for side in ("src", "tgt")}
        splits: dict[str, SplitData] = {}
        for split in pairs:
            src, tgt = [p[0] for p in pairs[split]], [p[1] for p in pairs[split]]
            splits[split] = SplitData(
                src,
                tgt,
                _tokenize(progress, toks["src"], src, f"{split} source"),
                _tokenize(progress, toks["tgt"], tgt, f"{split} target"),
            )
    dropped = 0
    if data["max_length"]:
        splits["train"], dropped = _drop_long(splits["train"], int(data["max_length"]))
    for split, content in splits.items():
        write_split(tmp / f"{split}.parquet", content)
    longest = max(max((len(t) for t in s.tgt_ids), default=0) for s in splits.values())
    return {
        "family": "translation",
        "source": opened.description,
        "source_identity": opened.identity,
        "splits": {s: len(v) for s, v in splits.items()},
        "official_sizes": {s: len(v) for s, v in raw.items()},
        "assembly": assembly,
        "dropped_long_train_pairs": dropped,
        "data_options": data,
        "tokenizer": {
            **tokenizer,
            **{
                side: {
                    "file": f"{side}.model",
                    "vocab_size": toks[side].vocab_size,
                    "asked": tokenizer[f"{side}_vocab_size"],
                }
                for side in ("src", "tgt")
            },
        },
        "lengths": {
            s: {"src": length_stats(d.src_ids), "tgt": length_stats(d.tgt_ids)}
            for s, d in splits.items()
        },
        "max_len": longest + 2 + int(longest * MAX_LEN_MARGIN),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _drop_long(data: SplitData, limit: int) -> tuple[SplitData, int]:
    """Train pairs with both sides at most ``limit`` tokens, and how many were dropped."""
    keep = [i for i in range(len(data)) if max(len(data.src_ids[i]), len(data.tgt_ids[i])) <= limit]
    columns = (data.src, data.tgt, data.src_ids, data.tgt_ids)
    kept = SplitData(*([column[i] for i in keep] for column in columns))
    return kept, len(data) - len(keep)
