"""The ``translation`` family: parallel text in, a sequence-to-sequence model, BLEU/chrF/EM out.

``prepare`` reads a source (SCAN generator, hub, local files), makes train/dev/test, trains
one SentencePiece model per side on train only, and writes a cache folder::

    train.parquet dev.parquet test.parquet   columns src, tgt, src_ids, tgt_ids
    src.model tgt.model                      SentencePiece (pad=0 unk=1 bos=2 eos=3)
    manifest.json                            sizes, vocab sizes, length stats, max_len, hashes

Preset data options: ``max_train``, ``max_eval`` (dev; a test split is never capped),
``seed``, ``dev_fraction``, ``max_length`` (drop longer train pairs, in tokens), ``tokenizer``
(overrides the spec's); ``train.label_smoothing`` for the loss.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbench import decode
from seqbench.config import SourceSpec
from seqbench.data.cache import file_sha256
from seqbench.data.tokenize import BOS_ID, EOS_ID, PAD_ID, SentencePieceTokenizer
from seqbench.errors import SeqbenchError
from seqbench.families.base import (
    FAMILY_REGISTRY,
    EvalOutcome,
    Prepared,
    TaskFamily,
    pad_ids,
    split_caps,
)
from seqbench.families.runspec import RunSpec
from seqbench.families.scoring import Stopwatch, eval_bar, scored_count
from seqbench.families.translation import prepare, test_set
from seqbench.families.translation.sources import open_source
from seqbench.families.translation.store import SplitData, read_split
from seqbench.metrics.signature import Signature
from seqbench.metrics.text import corpus_bleu, corpus_chrf, exact_match

METRICS = ("bleu", "chrf", "exact_match")


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


def make_batch(src: list[list[int]], tgt: list[list[int]], smoothing: float = 0.0) -> Seq2SeqBatch:
    """Collate token id lists: ``tgt_in`` gets bos prepended, ``tgt_out`` eos appended."""
    return Seq2SeqBatch(
        pad_ids(src),
        pad_ids([[BOS_ID, *t] for t in tgt]),
        pad_ids([[*t, EOS_ID] for t in tgt]),
        smoothing,
    )


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
    evaluates_on_device = True

    data_option_keys = prepare.DATA_OPTIONS
    steps, test_sets = prepare, test_set
    train_option_rules = {"label_smoothing": (float, 0.0, 1.0)}  # of the loss's targets
    # Subsets (SCAN's split schemes) are different data: each gets its own cache folder.
    subset_in_fingerprint = True

    def source_identity(
        self, source: SourceSpec, subset: str | None, data: dict[str, Any]
    ) -> dict[str, Any]:
        return open_source(source, subset, split_caps(data)).identity

    def build_cache(
        self,
        tmp: Path,
        source: SourceSpec,
        subset: str | None,
        data: dict[str, Any],
        tokenizer: dict[str, Any],
    ) -> dict[str, Any]:
        opened = open_source(source, subset, split_caps(data))
        return prepare.build_cache(tmp, opened, tokenizer, data)

    def test_set_identity(
        self, source: SourceSpec, model_data: Path, model_manifest: dict[str, Any]
    ) -> dict[str, Any]:
        files = {s: str(model_manifest["tokenizer"][s]["file"]) for s in test_set.SIDES}
        hashes = {s: file_sha256(model_data / name) for s, name in files.items()}
        return test_set.identity(source, model_manifest, hashes)

    def read_split(self, directory: Path, split: str) -> SplitData:
        return read_split(directory / f"{split}.parquet")

    def model_inputs(self, prepared: Prepared) -> dict[str, Any]:
        tok = prepared.manifest["tokenizer"]
        return {
            "src_vocab_size": int(tok["src"]["vocab_size"]),
            "tgt_vocab_size": int(tok["tgt"]["vocab_size"]),
            "pad_id": PAD_ID,
            "bos_id": BOS_ID,
            "eos_id": EOS_ID,
        }

    def batches(
        self,
        prepared: Prepared,
        split: str,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        epoch: int = 0,
        run: RunSpec | None = None,
    ) -> Iterator[Seq2SeqBatch]:
        data = self.split_data(prepared, split)
        smoothing = float((run or prepared.run).train.get("label_smoothing", 0.0))
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
        data = self.split_data(prepared, split)
        n = scored_count(prepared.key, split, len(data), limit)
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
        watch = Stopwatch()
        with eval_bar(progress) as bar:
            task = bar.add_task(f"decode {prepared.key} {split}", total=n, info="")
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                src = pad_ids([data.src_ids[i] for i in idx]).to(device)
                with watch:
                    if beam > 1:
                        out = decode.beam_search(model, src, beam, max_len)
                    else:
                        out = decode.greedy(model, src, max_len)
                for i, ids in zip(idx, out, strict=True):
                    hyp_ids[i] = list(ids)
                bar.update(task, advance=len(idx))
        return self._score(prepared, data, hyp_ids, primary, watch.seconds, beam, max_len)

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
        spm = f"{settings['model_type']}-{settings['src']['vocab_size']}/{tok.vocab_size}"
        return EvalOutcome(
            metrics={"bleu": bleu, "chrf": chrf, "exact_match": exact_match(hyps, refs)},
            primary=primary,
            signature=Signature.of(
                {"bleu": bleu_sig}, {"chrf": chrf_sig}, {"data": prepared.fingerprint, "spm": spm}
            ),
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
