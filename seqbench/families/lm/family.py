"""The ``lm`` family: running text in, a language model, perplexity and bits per character out.

``prepare`` reads a source (pydoc topics embedded, WikiText from the hub, local ``.txt``),
keeps whole documents per split, trains SentencePiece on train only and writes one token
stream per split (see :mod:`seqbench.families.lm.prepare`).

Training windows are ``context + 1`` tokens cut from the train stream at a seeded offset per
epoch. Evaluation scores the whole split stream with sliding windows of ``context`` tokens
moved by ``stride`` (preset option ``stride``, default ``context // 2``): each token is
predicted once, with at least ``context - stride`` tokens of history except in the first
window; both numbers are in the record. An interpolated Kneser-Ney trigram fitted on the same
train stream scores the same tokens (``kn3_*`` metrics).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbench.config import SourceSpec, TaskSpec
from seqbench.data.tokenize import BOS_ID, EOS_ID, PAD_ID
from seqbench.device import model_device
from seqbench.errors import SeqbenchError
from seqbench.families.base import (
    FAMILY_REGISTRY,
    EvalOutcome,
    Prepared,
    TaskFamily,
    mark_whole_test,
)
from seqbench.families.lm import prepare
from seqbench.families.lm.generate import Sampling, generate
from seqbench.families.lm.kneser_ney import KneserNeyTrigram
from seqbench.families.lm.sources import open_source
from seqbench.families.lm.store import read_split
from seqbench.families.runspec import RunSpec
from seqbench.families.scoring import Stopwatch, eval_bar
from seqbench.metrics.signature import Signature

TRACE_PROMPTS = 2  # generations traced per checkpoint (prefill + decode phases)
METRICS = ("perplexity", "bpc", "kn3_perplexity", "kn3_bpc")
LOG2 = math.log(2.0)


@dataclass
class LMBatch:
    """``ids`` Long[B, T+1]: the model reads ``ids[:, :-1]`` and predicts ``ids[:, 1:]``."""

    ids: Tensor

    def to(self, device: torch.device | str) -> LMBatch:
        return LMBatch(self.ids.to(device))


@dataclass(frozen=True)
class Window:
    """One scoring window: ``stream[begin:end]`` in, the last ``scored`` targets counted."""

    begin: int
    end: int
    scored: int


def windows(length: int, context: int, stride: int) -> list[Window]:
    """Sliding windows over a stream of ``length`` ids (``length - 1`` targets) so that every
    target is scored exactly once (the Hugging Face perplexity recipe)."""
    if context < 1 or not 1 <= stride <= context:
        raise SeqbenchError(
            f"bad scoring window: context {context}, stride {stride}",
            "use 1 <= stride <= context",
        )
    out, scored_until = [], 0  # targets 0..scored_until-1 (ids 1..scored_until) done
    for begin in range(0, max(length - 1, 0), stride):
        end = min(begin + context, length - 1)
        out.append(Window(begin, end, end - max(begin, scored_until)))
        scored_until = end
        if end == length - 1:
            break
    return out


@functools.lru_cache(maxsize=2)
def _trigram(directory: str, fingerprint: str, vocab_size: int) -> KneserNeyTrigram:
    """The KN trigram of a prepared task's train stream (fitted once per process)."""
    return KneserNeyTrigram(read_split(Path(directory) / "train.npy").tolist(), vocab_size)


class LMFamily(TaskFamily):
    """Language modelling (pydoc-lm, WikiText-2/103, local text)."""

    name = "lm"
    evaluates_on_device = True
    data_option_keys = prepare.DATA_OPTIONS
    steps = prepare
    preset_option_keys = ("stride",)  # the evaluation window's stride
    trace_limit = 4  # scoring windows traced per checkpoint (each `context` tokens)

    def data_options(self, spec: TaskSpec, preset: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        return mark_whole_test(super().data_options(spec, preset, raw))

    def source_identity(
        self, source: SourceSpec, subset: str | None, data: dict[str, Any]
    ) -> dict[str, Any]:
        return open_source(source, data["seed"]).identity

    def build_cache(
        self,
        tmp: Path,
        source: SourceSpec,
        subset: str | None,
        data: dict[str, Any],
        tokenizer: dict[str, Any],
    ) -> dict[str, Any]:
        return prepare.build_cache(tmp, open_source(source, data["seed"]), tokenizer, data)

    def read_split(self, directory: Path, split: str) -> Tensor:
        return read_split(directory / f"{split}.npy")

    def model_inputs(self, prepared: Prepared) -> dict[str, Any]:
        return {
            "vocab_size": int(prepared.manifest["tokenizer"]["vocab_size"]),
            "pad_id": PAD_ID,
            "bos_id": BOS_ID,
            "eos_id": EOS_ID,
        }

    def context(self, run: RunSpec, model: nn.Module | None = None) -> int:
        """Tokens per window: the model's own, else the run's ``model.context``."""
        if model is not None and hasattr(model, "context"):
            return int(model.context)
        return int(run.model_options.get("context", 128))

    def stride(self, run: RunSpec, context: int) -> int:
        """Scoring stride: the preset's ``stride``, else half the context."""
        return int(run.eval_options.get("stride") or max(1, context // 2))

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
    ) -> Iterator[LMBatch]:
        stream = self.split_data(prepared, split)
        context = self.context(run or prepared.run)
        generator = torch.Generator().manual_seed(seed * 1000 + epoch)
        offset = int(torch.randint(context, (1,), generator=generator)) if shuffle else 0
        starts = torch.arange(offset, len(stream) - context - 1, context)
        if len(starts) == 0:
            raise SeqbenchError(
                f"{prepared.key} {split}: {len(stream)} tokens, fewer than one window of "
                f"{context + 1}",
                "lower the preset's model.context or provide more text",
            )
        if shuffle:
            starts = starts[torch.randperm(len(starts), generator=generator)]
        span = torch.arange(context + 1)
        for i in range(0, len(starts), batch_size):
            yield LMBatch(stream[starts[i : i + batch_size, None] + span])

    def steps_per_epoch(self, run: RunSpec, prepared: Prepared, batch_size: int) -> int:
        """Windows of ``context + 1`` tokens in the train stream, ``batch_size`` per step."""
        windows_ = max(1, (prepared.manifest["tokens"]["train"] - 1) // self.context(run))
        return max(1, -(-windows_ // batch_size))

    def loss(self, model: nn.Module, batch: LMBatch) -> Tensor:
        logits = model(batch.ids[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.ids[:, 1:].reshape(-1))

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
        """Perplexity and bits per character of ``split`` (the first ``limit`` windows)."""
        stream = self.split_data(prepared, split)
        context = self.context(prepared.run, model)
        stride = self.stride(prepared.run, context)
        todo = windows(len(stream), context, stride)[: limit or None]
        if not todo:
            raise SeqbenchError(f"nothing to score in {prepared.key} {split}", "provide more text")
        nll, positions, watch = 0.0, [], Stopwatch()
        device = model_device(model)
        with eval_bar(progress) as bar, torch.no_grad():
            task = bar.add_task(f"score {prepared.key} {split}", total=len(todo), info="")
            # Windows of one length batch together (all but possibly the last).
            groups: dict[int, list[Window]] = {}
            for w in todo:
                groups.setdefault(w.end - w.begin, []).append(w)
            for length, group in groups.items():
                for i in range(0, len(group), batch_size):
                    chunk = group[i : i + batch_size]
                    ids = torch.stack([stream[w.begin : w.end + 1] for w in chunk]).to(device)
                    with watch:
                        logits = model(ids[:, :-1]).float()
                    losses = F.cross_entropy(
                        logits.reshape(-1, logits.shape[-1]),
                        ids[:, 1:].reshape(-1),
                        reduction="none",
                    ).view(len(chunk), length)
                    for row, w in enumerate(chunk):
                        nll += float(losses[row, length - w.scored :].sum())
                        positions += range(w.end - w.scored + 1, w.end + 1)
                    bar.update(task, advance=len(chunk))
        return self._score(prepared, split, stream, nll, positions, watch.seconds, context, stride)

    def trace_phases(self, model: nn.Module, prepared: Prepared, split: str) -> dict[str, int]:
        """Greedy generation from ``TRACE_PROMPTS`` prompts of ``split`` (half a context each,
        then tokens up to the context): the ``prefill`` and ``decode`` phases of the trace."""
        stream = self.split_data(prepared, split)
        context = self.context(prepared.run, model)
        prompt = max(1, context // 2 - 1)
        new = context - prompt - 1
        if new < 1:
            return {}
        sampling = Sampling(max_tokens=new, temperature=0.0, top_k=0, stop_at_eos=False)
        starts = range(1, len(stream) - prompt, context)[:TRACE_PROMPTS]
        for start in starts:
            generate(model, stream[start : start + prompt].tolist(), sampling)
        n = len(starts)
        return {"prefill": n * (prompt + 1), "decode": n * new, "sequences": n}

    def _score(
        self,
        prepared: Prepared,
        split: str,
        stream: Tensor,
        nll: float,
        positions: list[int],
        wall_s: float,
        context: int,
        stride: int,
    ) -> EvalOutcome:
        tokens = len(positions)
        total_targets = len(stream) - 1
        # Characters the scored tokens cover: the split's, pro rata when only part is scored.
        chars = prepared.manifest["characters"][split] * tokens / total_targets
        vocab = int(prepared.manifest["tokenizer"]["vocab_size"])
        kn = _trigram(str(prepared.directory), prepared.fingerprint, vocab)
        ids = stream.tolist()
        kn_nll = -sum(
            math.log(kn.prob(ids[i - 2] if i >= 2 else -1, ids[i - 1], ids[i])) for i in positions
        )
        metrics = {
            "perplexity": math.exp(nll / tokens),
            "bpc": nll / LOG2 / chars,
            "kn3_perplexity": math.exp(kn_nll / tokens),
            "kn3_bpc": kn_nll / LOG2 / chars,
        }
        settings = prepared.manifest["tokenizer"]
        spm = f"{settings['model_type']}-{settings['vocab_size']}"
        return EvalOutcome(
            metrics=metrics,
            primary="perplexity",
            signature=Signature.of(
                {"ppl": f"ctx{context}-stride{stride}"},
                {"data": prepared.fingerprint, "spm": spm},
            ),
            samples=tokens,
            units=tokens,
            unit="token",
            wall_s=wall_s,
            breakdown={
                "context": context,
                "stride": stride,
                "tokens_scored": tokens,
                "tokens_in_split": total_targets,
                "characters": round(chars),
                "whole_stream": tokens == total_targets,
                "baseline": "interpolated Kneser-Ney trigram (seqbench.families.lm.kneser_ney)",
                "nll_nats": nll,
            },
            lower_is_better=True,
        )


# The registry holds family *instances* (``family_for`` returns it and calls its methods).
FAMILY_REGISTRY.add("lm", LMFamily())
