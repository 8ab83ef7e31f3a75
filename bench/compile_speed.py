"""Compiled vs eager training of seqbench's own SCAN models, side by side in one run.

Both sides are ``seqbench.train``'s own step on the same real SCAN batches at the preset's
batch size and fp32: the eager side is the default (the model as built, seqbench's default
AdamW: ``seqbench.optim.FlatAdamW``, torch's arithmetic), the compiled side what the ``compile:
true`` training option runs (``seqbench.train.training_step_model``: torch.compile with
inductor, and a fused AdamW). Both start from the same weights. The compiled side's warm-up
(``warmup`` batches, untimed) pays the compilation, including the recompile that marks varying
sequence lengths dynamic; its seconds and the graphs compiled are in the row's note. Then
``rounds`` interleaved timed passes over ``steps`` batches; the fastest pass counts.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch._dynamo

from bench.common import Measurement, best_seconds, translation_data
from seqbench import train as seqbench_train
from seqbench.families.runspec import TrainOptions
from seqbench.families.translation.family import Seq2SeqBatch, TranslationFamily
from seqbench.models import build_model


@dataclass(frozen=True)
class CompileSettings:
    """``preset``: the task's preset giving data, model sizes and batch size; ``task``:
    ``scan`` (embedded) or a translation task whose source the user bound."""

    preset: str = "quick"
    models: tuple[str, ...] = ("transformer", "gru-attn")
    warmup: int = 10
    steps: int = 20
    rounds: int = 3
    task: str = "scan"


FULL = CompileSettings()
QUICK = CompileSettings(preset="tiny", models=("transformer",), warmup=2, steps=2, rounds=1)
# the committed Multi30k board's transformer (d_model 256, batch 96)
MULTI30K = CompileSettings(task="multi30k", preset="full", models=("transformer",), steps=10)


def stepper(
    model: torch.nn.Module,
    opts: TrainOptions,
    family: TranslationFamily,
) -> Callable[[list[Seq2SeqBatch]], None]:
    """A closure running ``seqbench.train``'s step (compiled when ``opts.compile``; dropout
    masks and optimizer as ``opts`` says) on each batch it is given."""
    optimizer = seqbench_train.make_optimizer(model, opts)
    step_model = seqbench_train.training_step_model(model, opts)
    model.train()
    cpu = torch.device("cpu")

    def run(batches: list[Seq2SeqBatch]) -> None:
        for batch in batches:
            seqbench_train.train_step(
                family, model, batch, optimizer, opts, "fp32", cpu, step_model
            )

    return run


def measure(settings: CompileSettings = FULL) -> list[Measurement]:
    """One row per model: compiled target tokens/s against the same model eager."""
    family, prepared = translation_data(settings.task, settings.preset)
    suffix = "" if settings.task == "scan" else f" ({settings.task})"
    rows = []
    for name in settings.models:
        run = prepared.run.with_model(name)
        batch_size = int(run.train.batch_size)
        stream = family.batches(prepared, "train", batch_size, shuffle=True, seed=0, run=run)
        batches = [b for _, b in zip(range(settings.warmup + settings.steps), stream, strict=False)]
        warmup, timed = batches[: settings.warmup], batches[settings.warmup :]
        tokens = sum(int((b.tgt_out != 0).sum()) for b in timed)
        config = family.model_config(run, prepared)
        torch.manual_seed(0)
        model = build_model(name, config, family="translation")
        eager_opts = dataclasses.replace(run.train, family={**run.train.family, "compile": False})
        compiled_opts = dataclasses.replace(
            eager_opts, family={**eager_opts.family, "compile": True}
        )
        eager_adamw = "fused" if eager_opts.fused_optimizer else "seqbench's flat"
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        sides = {"eager": eager_opts, "compiled": compiled_opts}
        candidates, warm_s = {}, {}
        for side, opts in sides.items():
            step = stepper(copy.deepcopy(model), opts, family)
            started = time.perf_counter()
            step(warmup)
            warm_s[side] = time.perf_counter() - started
            candidates[side] = lambda step=step, timed=timed: step(timed)
        graphs = int(torch._dynamo.utils.counters["stats"]["unique_graphs"])
        seconds = best_seconds(candidates, settings.rounds)
        rows.append(
            Measurement(
                f"train {name} compiled fp32{suffix}",
                tokens / seconds["compiled"],
                tokens / seconds["eager"],
                "tgt tokens/s",
                f"reference: the same model eager ({eager_adamw} AdamW, dropout masks"
                f" {eager_opts.dropout_masks}); compiled: torch.compile (inductor) + fused"
                f" AdamW, the `compile: true` option;"
                f" {settings.task} {settings.preset}, batch {batch_size}, fp32,"
                f" {len(timed)} steps after {len(warmup)} warm-up, best of {settings.rounds};"
                f" warm-up {warm_s['compiled']:.0f} s compiled (compiling {graphs} graph(s))"
                f" vs {warm_s['eager']:.1f} s eager",
            )
        )
    return rows
