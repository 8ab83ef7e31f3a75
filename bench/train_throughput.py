"""Training throughput (target tokens/s) of seqbench's translation models against plain PyTorch.

Both sides train on the same real SCAN batches (the translation family's own batching and
loss), through ``seqbench.train``'s own step: AdamW with the run's learning rate and weight
decay, its gradient clipping, the forward and loss inside ``seqbench.train.autocast``.
seqbench's side trains with its run's options (a fused AdamW and packed dropout masks where the
preset sets them: Multi30k; elsewhere ``seqbench.optim.FlatAdamW``, torch's AdamW arithmetic in
fewer kernels), the reference as plain PyTorch does (``torch.optim.AdamW`` as torch builds it,
torch's dropout masks). Each side gets ``warmup`` untimed steps, then ``rounds`` interleaved
timed passes over ``steps`` batches; the fastest pass counts. Rows run at fp32 and, where the
CPU has native bf16, at bf16 autocast; every precision of a model is timed in the same
interleaved rounds.

FLOPs are counted, not estimated: ``torch.utils.flop_counter.FlopCounterMode`` over one
forward + backward of every timed batch (matmuls, convolutions and attention products: the
work MFU conventionally counts; the optimizer's elementwise update is not).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench.common import Measurement, best_seconds, translation_data
from bench.peak_flops import peak_matmul_flops
from bench.reference_models import ReferenceAttentionGRU, ReferenceTransformer
from seqbench import train as seqbench_train
from seqbench.families.runspec import TrainOptions
from seqbench.families.translation.family import Seq2SeqBatch, TranslationFamily
from seqbench.models import build_model
from seqbench.models.rnn import AttentionGRUConfig
from seqbench.models.transformer import TransformerConfig


@dataclass(frozen=True)
class TrainSettings:
    """``preset``: the task's preset giving the data and model sizes; ``task``: ``scan``
    (embedded) or a translation task whose source the user bound (``multi30k``);
    ``batch_size``: None for the preset's own; the rest count batches."""

    preset: str = "full"
    batch_size: int | None = 64
    warmup: int = 5
    steps: int = 20
    rounds: int = 3
    peak_size: int = 2048  # the square matmul whose speed is the peak
    precisions: tuple[str, ...] = ("fp32", "bf16")  # bf16 only where the CPU has it natively
    task: str = "scan"
    models: tuple[str, ...] = ("transformer", "gru-attn")


FULL = TrainSettings()
QUICK = TrainSettings(
    preset="tiny", batch_size=32, warmup=1, steps=2, rounds=1, peak_size=256, precisions=("fp32",)
)
# the sizes the committed translation board trains at (d_model 256, batch 96 for the
# transformer): MFU where the matmuls are larger than SCAN's
MULTI30K = TrainSettings(task="multi30k", batch_size=None, warmup=3, steps=10)


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


def plain(opts: TrainOptions) -> TrainOptions:
    """``opts`` as plain PyTorch trains: torch's dropout masks (no fused optimizer, packed
    masks or compilation); the same learning rate, decay and clipping. Its optimizer is
    torch's own AdamW, which :func:`trainer` builds for the reference."""
    speed = {"fused_optimizer", "dropout_masks", "compile"}
    family = {k: v for k, v in opts.family.items() if k not in speed}
    return dataclasses.replace(opts, family=family)


def trainer(
    model: nn.Module,
    family: TranslationFamily,
    batches: list[Seq2SeqBatch],
    precision: str,
    opts: TrainOptions,
    reference: bool = False,
) -> Callable[[], None]:
    """A closure running ``seqbench.train``'s step on each batch, with ``opts``' dropout
    masks and clipping, and seqbench's optimizer for ``opts``; the ``reference`` (given
    :func:`plain` options) trains with ``torch.optim.AdamW`` as torch builds it."""
    if reference:
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=float(opts.lr), weight_decay=float(opts.weight_decay)
        )
    else:
        optimizer = seqbench_train.make_optimizer(model, opts)
    model.train()
    cpu = torch.device("cpu")

    def run() -> None:
        for batch in batches:
            seqbench_train.train_step(family, model, batch, optimizer, opts, precision, cpu)

    return run


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def training_flops(
    model: nn.Module, family: TranslationFamily, batches: list[Seq2SeqBatch], precision: str
) -> int:
    """FLOPs of one forward + backward over ``batches`` (counted; gradients discarded)."""
    model.train()
    counter = FlopCounterMode(display=False)
    with counter:
        for batch in batches:
            with seqbench_train.autocast(precision):
                loss = family.loss(model, batch)
            loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def measure(settings: TrainSettings = FULL) -> list[Measurement]:
    """Rows per model in :data:`REFERENCES` and precision: target tokens/s, seqbench vs the
    reference at the same precision, with FLOP/s, MFU and (bf16) the speed-up over fp32."""
    family, prepared = translation_data(settings.task, settings.preset)
    native_bf16 = seqbench_train.cpu_has_native_bf16()
    precisions = [p for p in settings.precisions if p != "bf16" or native_bf16]
    peaks = {p: peak_matmul_flops(p, settings.peak_size, settings.rounds) for p in precisions}
    threads = torch.get_num_threads()
    suffix = "" if settings.task == "scan" else f" ({settings.task})"
    rows = []
    for name in settings.models:
        ref_name, build_reference = REFERENCES[name]
        run = prepared.run.with_model(name)
        batch_size = settings.batch_size or int(run.train.batch_size)
        stream = family.batches(prepared, "train", batch_size, shuffle=True, seed=0, run=run)
        batches = [b for _, b in zip(range(settings.warmup + settings.steps), stream, strict=False)]
        warmup, timed = batches[: settings.warmup], batches[settings.warmup :]
        tokens = sum(int((b.tgt_out != 0).sum()) for b in timed)
        config = family.model_config(run, prepared)
        torch.manual_seed(0)
        ours = build_model(name, config, family="translation")
        torch.manual_seed(0)
        theirs = build_reference(config)
        candidates: dict[str, Callable[[], None]] = {}
        flops: dict[str, int] = {}
        for precision in precisions:
            # each precision trains its own copies, from the same initial weights
            pair = {"seqbench": copy.deepcopy(ours), "ref": copy.deepcopy(theirs)}
            for side, model in pair.items():
                flops[f"{side} {precision}"] = training_flops(model, family, timed, precision)
                ref = side == "ref"
                opts = plain(run.train) if ref else run.train
                trainer(model, family, warmup, precision, opts, ref)()
                candidates[f"{side} {precision}"] = trainer(
                    model, family, timed, precision, opts, ref
                )
        seconds = best_seconds(candidates, settings.rounds)
        for precision in precisions:
            ours_s, ref_s = seconds[f"seqbench {precision}"], seconds[f"ref {precision}"]
            achieved = flops[f"seqbench {precision}"] / ours_s
            speedup = None if precision == "fp32" else seconds["seqbench fp32"] / ours_s
            ref_speedup = (
                ""
                if precision == "fp32"
                else (f"; reference {precision} vs fp32: {seconds['ref fp32'] / ref_s:.2f}x")
            )
            rows.append(
                Measurement(
                    f"train {name} {precision}" + suffix,
                    tokens / ours_s,
                    tokens / ref_s,
                    "tgt tokens/s",
                    f"reference: {ref_name}; {parameters(ours):,} vs {parameters(theirs):,}"
                    f" parameters; {settings.task} {settings.preset}, batch {batch_size},"
                    f" {'fused AdamW' if run.train.fused_optimizer else 'FlatAdamW'} vs"
                    f" torch's default AdamW,"
                    f" dropout masks {run.train.dropout_masks} vs torch's,"
                    f" {len(timed)} steps after {len(warmup)} warm-up, best of {settings.rounds};"
                    f" {flops[f'seqbench {precision}'] / len(timed) / 1e9:.2f} vs"
                    f" {flops[f'ref {precision}'] / len(timed) / 1e9:.2f} GFLOP per step"
                    f" (forward + backward, counted)" + ref_speedup,
                    flops_per_s=achieved,
                    mfu=achieved / peaks[precision],
                    reference_mfu=flops[f"ref {precision}"] / ref_s / peaks[precision],
                    speedup=speedup,
                )
            )
    note = (
        f"MFU's denominator: the fastest of {settings.rounds} {settings.peak_size}^2 matmuls"
        f" (2n^3 FLOPs) at {threads} thread(s), the same dtype as the row"
    )
    rows += [
        Measurement(f"peak matmul {p}{suffix}", peak / 1e9, None, "GFLOP/s", note)
        for p, peak in peaks.items()
    ]
    return rows
