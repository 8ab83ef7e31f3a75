"""The ``translation`` family: parallel text in, a sequence-to-sequence model, BLEU/chrF/EM out.

``prepare`` reads a source (SCAN generator, hub, local files), makes train/dev/test, trains
one SentencePiece model per side on train only, and writes a cache folder::

    train.parquet dev.parquet test.parquet   columns src, tgt, src_ids, tgt_ids
    src.model tgt.model                      SentencePiece (pad=0 unk=1 bos=2 eos=3)
    manifest.json                            sizes, vocab sizes, length stats, max_len, hashes

Preset data options: ``max_train``, ``max_eval`` (dev and test), ``seed``, ``dev_fraction``,
``max_length`` (drop longer train pairs, in tokens), ``tokenizer`` (overrides the spec's);
``train.label_smoothing`` for the loss.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbench.config import TaskSpec
from seqbench.data.parallel import (
    SPLITS,
    OpenedSource,
    SplitData,
    assemble,
    cap,
    effective_source,
    length_stats,
    open_source,
    read_split,
    write_split,
)
from seqbench.data.tokenize import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SentencePieceTokenizer,
    train_sentencepiece,
)
from seqbench.errors import SeqbenchError
from seqbench.families.base import (
    FAMILY_REGISTRY,
    EvalOutcome,
    Prepared,
    TaskFamily,
    cached_prepare,
)
from seqbench.metrics.text import corpus_bleu, corpus_chrf, exact_match
from seqbench.progress import make_progress

DATA_OPTIONS = ("max_train", "max_eval", "seed", "dev_fraction", "max_length")
METRICS = ("bleu", "chrf", "exact_match")
TOKENIZE_CHUNK = 10_000
MAX_LEN_MARGIN = 0.1  # decoding room beyond the longest reference: 10% + 2 tokens


@dataclass
class Seq2SeqBatch:
    """Padded (pad=0) LongTensors: ``src`` [B,S], ``tgt_in`` = bos+ids, ``tgt_out`` = ids+eos."""

    src: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    label_smoothing: float = 0.0

    def to(self, device: torch.device | str) -> Seq2SeqBatch:
        return Seq2SeqBatch(
            self.src.to(device),
            self.tgt_in.to(device),
            self.tgt_out.to(device),
            self.label_smoothing,
        )


def pad(rows: list[list[int]]) -> Tensor:
    """Right-pad id lists with pad=0 into a LongTensor [B, max(len, 1)]."""
    out = torch.full((len(rows), max([1, *map(len, rows)])), PAD_ID, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def make_batch(src: list[list[int]], tgt: list[list[int]], smoothing: float = 0.0) -> Seq2SeqBatch:
    return Seq2SeqBatch(
        pad(src), pad([[BOS_ID, *t] for t in tgt]), pad([[*t, EOS_ID] for t in tgt]), smoothing
    )


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


def data_options(spec: TaskSpec, preset: str) -> dict[str, Any]:
    """The preset options that change the prepared data (part of the fingerprint)."""
    opts = spec.preset(preset)
    out = {k: opts.get(k) for k in DATA_OPTIONS}
    out["seed"] = int(out["seed"] or 0)
    return out


@functools.lru_cache(maxsize=16)
def _read_split_cached(path: str, sha256: str) -> SplitData:
    return read_split(Path(path))


def split_data(prepared: Prepared, split: str) -> SplitData:
    """One prepared split (memoised by file hash: cache folders are immutable)."""
    prepared.require_split(split)
    name = f"{split}.parquet"
    return _read_split_cached(
        str(prepared.directory / name), prepared.manifest["files"][name]["sha256"]
    )


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
        limits = {"train": data["max_train"], "dev": data["max_eval"], "test": data["max_eval"]}
        pairs = {s: cap(assembled[s], limits[s], seed + i) for i, s in enumerate(SPLITS)}
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
        for split in SPLITS:
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
        "splits": {s: len(splits[s]) for s in SPLITS},
        "official_sizes": {s: len(v) for s, v in raw.items()},
        "assembly": assembly,
        "dropped_long_train_pairs": dropped,
        "data_options": data,
        "tokenizer": {
            **tokenizer,
            "src": {"file": "src.model", "vocab_size": toks["src"].vocab_size},
            "tgt": {"file": "tgt.model", "vocab_size": toks["tgt"].vocab_size},
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


def batch_order(lengths: list[int], batch_size: int, shuffle: bool, seed: int) -> list[list[int]]:
    """Index batches; shuffled ones are bucketed by length inside pools of 50 batches."""
    indices = list(range(len(lengths)))
    if not shuffle:
        return [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randperm(len(indices), generator=generator).tolist()
    pool = batch_size * 50
    batches = []
    for start in range(0, len(indices), pool):
        chunk = sorted(indices[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in order]


class TranslationFamily(TaskFamily):
    """Sequence-to-sequence translation (SCAN, Multi30k, WMT14...)."""

    name = "translation"

    def prepare(
        self,
        spec: TaskSpec,
        subset: str | None,
        preset: str,
        *,
        source_override: str | None = None,
        force: bool = False,
    ) -> tuple[Prepared, bool]:
        data = data_options(spec, preset)
        tokenizer = tokenizer_settings(
            {**spec.tokenizer, **spec.preset(preset).get("tokenizer", {})}
        )
        source = effective_source(spec.source, source_override)
        limits = {"train": data["max_train"], "dev": data["max_eval"], "test": data["max_eval"]}
        opened = open_source(source, subset, limits)
        parts = {
            "family": self.name,
            "subset": subset,
            "source": opened.identity,
            "tokenizer": tokenizer,
            "data": data,
        }
        return cached_prepare(
            spec,
            subset,
            preset,
            parts,
            lambda tmp: build_cache(tmp, opened, tokenizer, data),
            force=force,
        )

    def model_config(self, prepared: Prepared, model: str, preset: str) -> dict[str, Any]:
        opts = prepared.spec.preset(preset)
        config = {**opts.get("model", {}), **opts.get("model_overrides", {}).get(model, {})}
        tok = prepared.manifest["tokenizer"]
        config.update(
            src_vocab_size=int(tok["src"]["vocab_size"]),
            tgt_vocab_size=int(tok["tgt"]["vocab_size"]),
            pad_id=PAD_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
        )
        return config

    def batches(
        self,
        prepared: Prepared,
        split: str,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        epoch: int = 0,
        options: dict[str, Any] | None = None,
    ) -> Iterator[Seq2SeqBatch]:
        data = split_data(prepared, split)
        smoothing = float(
            prepared.spec.preset(prepared.preset).get("train", {}).get("label_smoothing", 0.0)
        )
        lengths = [len(t) for t in data.tgt_ids]
        for idx in batch_order(lengths, batch_size, shuffle, seed):
            yield make_batch(
                [data.src_ids[i] for i in idx], [data.tgt_ids[i] for i in idx], smoothing
            )

    def loss(self, model: nn.Module, batch: Seq2SeqBatch) -> Tensor:
        logits = model(batch.src, batch.tgt_in)
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            batch.tgt_out.reshape(-1),
            ignore_index=PAD_ID,
            label_smoothing=batch.label_smoothing,
        )

    def evaluate(
        self,
        model: nn.Module,
        prepared: Prepared,
        split: str,
        *,
        limit: int | None = None,
        beam: int = 1,
        batch_size: int = 64,
        progress: bool = True,
    ) -> EvalOutcome:
        from seqbench import decode

        data = split_data(prepared, split)
        n = len(data) if limit is None else min(int(limit), len(data))
        if n == 0:
            raise SeqbenchError(f"nothing to evaluate in {prepared.key} {split}", "raise --limit")
        primary = prepared.spec.metrics[0] if prepared.spec.metrics else "bleu"
        if primary not in METRICS:
            raise SeqbenchError(
                f"task {prepared.key!r}: unknown translation metric {primary!r}",
                f"metrics: {', '.join(METRICS)}",
            )
        max_len = int(prepared.manifest["max_len"])
        device = next(model.parameters()).device
        # Decode in length order (less padding), then restore the data order.
        order = sorted(range(n), key=lambda i: len(data.src_ids[i]))
        hyp_ids: list[list[int]] = [[] for _ in range(n)]
        wall_s = 0.0
        bar = make_progress()
        bar.disable = bar.disable or not progress  # before entering: start() reads it
        with bar:
            task = bar.add_task(f"decode {prepared.key} {split}", total=n, info="")
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                src = pad([data.src_ids[i] for i in idx]).to(device)
                began = time.perf_counter()
                if beam > 1:
                    out = decode.beam_search(model, src, beam, max_len)
                else:
                    out = decode.greedy(model, src, max_len)
                wall_s += time.perf_counter() - began
                for i, ids in zip(idx, out, strict=True):
                    hyp_ids[i] = list(ids)
                bar.update(task, advance=len(idx))
        return self._score(prepared, data, hyp_ids, primary, wall_s, beam, max_len)

    def _score(
        self,
        prepared: Prepared,
        data: SplitData,
        hyp_ids: list[list[int]],
        primary: str,
        wall_s: float,
        beam: int,
        max_len: int,
    ) -> EvalOutcome:
        tok = SentencePieceTokenizer(prepared.directory / "tgt.model")
        hyps = [tok.decode(ids) for ids in hyp_ids]
        refs = data.tgt[: len(hyps)]
        bleu, bleu_sig = corpus_bleu(hyps, refs)
        chrf, chrf_sig = corpus_chrf(hyps, refs)
        settings = prepared.manifest["tokenizer"]
        spm = f"spm:{settings['model_type']}-{settings['src']['vocab_size']}/{tok.vocab_size}"
        return EvalOutcome(
            metrics={"bleu": bleu, "chrf": chrf, "exact_match": exact_match(hyps, refs)},
            primary=primary,
            signature=f"bleu:{bleu_sig} chrf:{chrf_sig} data:{prepared.fingerprint}|{spm}",
            samples=len(hyps),
            units=sum(len(ids) for ids in hyp_ids),
            unit="token",
            wall_s=wall_s,
            breakdown={
                "decoder": "beam" if beam > 1 else "greedy",
                "beam": beam,
                "max_len": max_len,
            },
            examples=[
                {"src": data.src[i], "hyp": hyps[i], "ref": refs[i]}
                for i in range(min(3, len(hyps)))
            ],
        )


# The registry holds family *instances* (``family_for`` returns it and calls its methods).
FAMILY_REGISTRY.add("translation", TranslationFamily())
