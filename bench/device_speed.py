"""Training on the CPU against an accelerator (CUDA, MPS), side by side in one run.

Both sides run ``seqbench.train``'s own step (``train_step``: the forward and loss under the
precision's autocast, backward, clipping, AdamW as ``make_optimizer`` builds it) on the same
real SCAN batches, from copies of the same initial weights, at the same precision and batch
size. As in ``seqbench train``, each batch is moved to the side's device inside the step, so
an accelerator pays its host-to-device copies. Each side gets ``warmup`` untimed steps (an
accelerator's first steps pay kernel selection and its allocator's growth), then ``rounds``
interleaved timed passes over ``steps`` batches; a pass ends when the device has finished
its queued work (``synchronize``), and the fastest pass counts. bf16 rows run only where
both sides compute bf16 natively (``seqbench.train.device_has_native_bf16``).

On a machine with no accelerator the rows are skipped with a line that says so; ``devices``
names the compared device explicitly (the smoke test compares the CPU with itself).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch

from bench.common import Measurement, Skipped, best_seconds, translation_data
from seqbench import train as seqbench_train
from seqbench.device import AVAILABLE, device_name, to_device
from seqbench.families.runspec import TrainOptions
from seqbench.families.translation.family import Seq2SeqBatch, TranslationFamily
from seqbench.models import build_model


@dataclass(frozen=True)
class DeviceSettings:
    """``devices``: the devices compared with the CPU (None: every accelerator this machine
    has); ``task``: ``scan`` (embedded) or a translation task whose source the user bound."""

    preset: str = "full"
    batch_size: int | None = 64
    warmup: int = 5
    steps: int = 20
    rounds: int = 3
    precisions: tuple[str, ...] = ("fp32", "bf16")
    models: tuple[str, ...] = ("transformer", "gru-attn")
    task: str = "scan"
    devices: tuple[str, ...] | None = None


FULL = DeviceSettings()
QUICK = DeviceSettings(preset="tiny", batch_size=32, warmup=1, steps=2, rounds=1)


def accelerators() -> list[str]:
    """The non-CPU devices this machine's torch can use."""
    return [name for name, present in AVAILABLE.items() if name != "cpu" and present()]


def synchronize(device: torch.device) -> None:
    """Wait until ``device`` has run everything queued on it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def trainer(
    model: torch.nn.Module,
    family: TranslationFamily,
    opts: TrainOptions,
    precision: str,
    device: torch.device,
) -> Callable[[list[Seq2SeqBatch]], None]:
    """A closure running ``seqbench.train``'s step on each batch it is given, on ``device``
    (``model`` moved there first, one optimizer throughout); it returns once the device has
    finished."""
    model.to(device).train()
    optimizer = seqbench_train.make_optimizer(model, opts)

    def run(batches: list[Seq2SeqBatch]) -> None:
        for batch in batches:
            on_device = to_device(batch, device)
            seqbench_train.train_step(family, model, on_device, optimizer, opts, precision, device)
        synchronize(device)

    return run


def measure(settings: DeviceSettings = FULL) -> list[Measurement]:
    """One row per compared device, model and precision: its target tokens/s against the
    CPU's on the same batches, weights and precision (ratio = device / CPU)."""
    names = list(settings.devices) if settings.devices is not None else accelerators()
    if not names:
        raise Skipped(
            f"no CUDA or MPS device here (torch {torch.__version__} sees none): these rows run"
            " where one is, the same command"
        )
    family, prepared = translation_data(settings.task, settings.preset)
    cpu = torch.device("cpu")
    rows = []
    for name in names:
        device = torch.device(name)
        precisions = [
            p
            for p in settings.precisions
            if p != "bf16"
            or (
                seqbench_train.device_has_native_bf16(cpu)
                and seqbench_train.device_has_native_bf16(device)
            )
        ]
        for model_name in settings.models:
            run = prepared.run.with_model(model_name)
            batch_size = settings.batch_size or int(run.train.batch_size)
            stream = family.batches(prepared, "train", batch_size, shuffle=True, seed=0, run=run)
            batches = [
                b for _, b in zip(range(settings.warmup + settings.steps), stream, strict=False)
            ]
            warmup, timed = batches[: settings.warmup], batches[settings.warmup :]
            tokens = sum(int((b.tgt_out != 0).sum()) for b in timed)
            torch.manual_seed(0)
            config = family.model_config(run, prepared)
            initial = build_model(model_name, config, family="translation")
            candidates: dict[str, Callable[[], None]] = {}
            for precision in precisions:
                for side, where in (("cpu", cpu), ("device", device)):
                    step = trainer(copy.deepcopy(initial), family, run.train, precision, where)
                    step(warmup)
                    candidates[f"{side} {precision}"] = lambda step=step, timed=timed: step(timed)
            seconds = best_seconds(candidates, settings.rounds)
            for precision in precisions:
                rows.append(
                    Measurement(
                        f"train {model_name} {precision} on {name}",
                        tokens / seconds[f"device {precision}"],
                        tokens / seconds[f"cpu {precision}"],
                        "tgt tokens/s",
                        f"reference: the same step on the CPU ({torch.get_num_threads()}"
                        f" thread(s)); {device_name(device)}; {settings.task}"
                        f" {settings.preset}, batch {batch_size}, the same batches and initial"
                        f" weights, {len(timed)} steps after {len(warmup)} warm-up, best of"
                        f" {settings.rounds}",
                    )
                )
    return rows
