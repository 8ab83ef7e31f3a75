"""Training throughput (target tokens/s) of seqbench's translation models against plain PyTorch.

Both sides train on the same real SCAN batches (the translation family's own batching and
loss), with the same optimizer and step as ``seqbench.train``: AdamW, gradient clipping at
1.0. Each side gets ``warmup`` untimed steps, then ``rounds`` interleaved timed passes over
``steps`` batches; the fastest pass counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench.common import Measurement, best_seconds, scan
from bench.reference_models import ReferenceAttentionGRU, ReferenceTransformer
from seqbench.families.translation.family import Seq2SeqBatch, TranslationFamily
from seqbench.models import build_model
from seqbench.models.rnn import AttentionGRUConfig
from seqbench.models.transformer import TransformerConfig


@dataclass(frozen=True)
class TrainSettings:
    """``preset``: SCAN preset giving the data and model sizes; the rest count batches."""

    preset: str = "full"
    batch_size: int = 64
    warmup: int = 5
    steps: int = 20
    rounds: int = 3


FULL = TrainSettings()
QUICK = TrainSettings(preset="tiny", batch_size=32, warmup=1, steps=2, rounds=1)


def reference_transformer(config: dict[str, Any]) -> nn.Module:
    c = TransformerConfig.from_dict(config, "transformer")
    if not c.tie_output:
        raise ValueError("the reference Transformer ties its output projection")
    return ReferenceTransformer(
        c.src_vocab_size,
        c.tgt_vocab_size,
        d_model=c.d_model,
        num_heads=c.num_heads,
        num_encoder_layers=c.num_encoder_layers,
        num_decoder_layers=c.num_decoder_layers,
        d_ff=c.d_ff,
        dropout=c.dropout,
        max_len=c.max_len,
        pad_id=c.pad_id,
    )


def reference_gru_attention(config: dict[str, Any]) -> nn.Module:
    c = AttentionGRUConfig.from_dict(config, "gru-attn")
    if c.num_layers != 1 or not c.bidirectional:
        raise ValueError("the reference attention GRU is one bidirectional layer")
    return ReferenceAttentionGRU(
        c.src_vocab_size,
        c.tgt_vocab_size,
        emb_dim=c.emb_dim,
        hidden_dim=c.hidden_dim,
        dropout=c.dropout,
        pad_id=c.pad_id,
    )


REFERENCES: dict[str, tuple[str, Callable[[dict[str, Any]], nn.Module]]] = {
    "transformer": ("nn.Transformer", reference_transformer),
    "gru-attn": ("nn.GRU + GRUCell", reference_gru_attention),
}


def trainer(
    model: nn.Module, family: TranslationFamily, batches: list[Seq2SeqBatch]
) -> Callable[[], None]:
    """A closure running one training step per batch, exactly like ``seqbench.train``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def run() -> None:
        for batch in batches:
            loss = family.loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()

    return run


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def measure(settings: TrainSettings = FULL) -> list[Measurement]:
    """One row per model in :data:`REFERENCES`: target tokens/s, seqbench vs reference."""
    family, prepared = scan(settings.preset)
    stream = family.batches(prepared, "train", settings.batch_size, shuffle=True, seed=0)
    batches = [b for _, b in zip(range(settings.warmup + settings.steps), stream, strict=False)]
    warmup, timed = batches[: settings.warmup], batches[settings.warmup :]
    tokens = sum(int((b.tgt_out != 0).sum()) for b in timed)
    rows = []
    for name, (ref_name, build_reference) in REFERENCES.items():
        config = family.model_config(prepared, name, settings.preset)
        torch.manual_seed(0)
        ours = build_model(name, config, family="translation")
        torch.manual_seed(0)
        theirs = build_reference(config)
        for model in (ours, theirs):
            trainer(model, family, warmup)()
        seconds = best_seconds(
            {"seqbench": trainer(ours, family, timed), "ref": trainer(theirs, family, timed)},
            settings.rounds,
        )
        rows.append(
            Measurement(
                f"train {name}",
                tokens / seconds["seqbench"],
                tokens / seconds["ref"],
                "tgt tokens/s",
                f"reference: {ref_name}; {parameters(ours):,} vs {parameters(theirs):,} parameters;"
                f" SCAN {settings.preset}, batch {settings.batch_size}, AdamW, {len(timed)} steps"
                f" after {len(warmup)} warm-up, best of {settings.rounds}",
            )
        )
    return rows
