"""Incremental Transformer decoding: the K/V cache against recomputing the whole prefix.

``Seq2SeqTransformer.start(src, use_cache=...)`` picks the path; greedy (beam 1) and beam
search (beam 4) from :mod:`seqbench.decode` run on the first SCAN test sentences. The model
is untrained, so nearly every row runs to ``max_len``: the longest, worst-case decode,
where the cache matters most (recomputing costs O(t) per step, caching O(1)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from bench.common import Measurement, best_seconds, scan
from seqbench import decode
from seqbench.families.base import pad_ids
from seqbench.models import build_model
from seqbench.models.transformer import Seq2SeqTransformer


@dataclass(frozen=True)
class DecodeSettings:
    """``sentences`` decoded per call, ``max_len`` None = the prepared task's own."""

    preset: str = "full"
    sentences: int = 64
    beams: tuple[int, ...] = (1, 4)
    max_len: int | None = None
    rounds: int = 2


FULL = DecodeSettings()
QUICK = DecodeSettings(preset="tiny", sentences=4, max_len=6, rounds=1)


def decoder(
    model: Seq2SeqTransformer, src: torch.Tensor, beam: int, max_len: int, use_cache: bool
) -> Callable[[], list[list[int]]]:
    """A closure decoding ``src`` once, with or without the K/V cache."""

    def run() -> list[list[int]]:
        model.use_cache = use_cache  # read by start() when no flag is passed
        if beam == 1:
            return decode.greedy(model, src, max_len)
        return decode.beam_search(model, src, beam, max_len)

    return run


def measure(settings: DecodeSettings = FULL) -> list[Measurement]:
    """One row per beam size: sentences/s cached (seqbench) vs recomputed prefix (reference)."""
    family, prepared = scan(settings.preset)
    config = family.model_config(prepared.run.with_model("transformer"), prepared)
    torch.manual_seed(0)
    model = build_model("transformer", config, family="translation")
    assert isinstance(model, Seq2SeqTransformer)
    src = pad_ids(family.split_data(prepared, "test").src_ids[: settings.sentences])
    n = src.shape[0]
    max_len = settings.max_len or int(prepared.manifest["max_len"])
    rows = []
    for beam in settings.beams:
        cached = decoder(model, src, beam, max_len, use_cache=True)
        recomputed = decoder(model, src, beam, max_len, use_cache=False)
        same = cached() == recomputed()  # also the warm-up
        mean_len = sum(map(len, cached())) / n
        seconds = best_seconds({"cached": cached, "recomputed": recomputed}, settings.rounds)
        rows.append(
            Measurement(
                f"decode beam {beam}",
                n / seconds["cached"],
                n / seconds["recomputed"],
                "sentences/s",
                "seqbench: K/V cache; reference: the same model recomputing the prefix each step"
                f" (use_cache=False); {n} SCAN test sentences, batch {n}, max_len {max_len},"
                f" mean output {mean_len:.1f} tokens (untrained weights); outputs identical:"
                f" {'yes' if same else 'NO'}",
            )
        )
    model.use_cache = True
    return rows
