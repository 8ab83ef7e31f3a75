"""One training loop for every family: the family supplies batches, loss and the dev score."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from seqbench import checkpoints
from seqbench.config import TaskSpec
from seqbench.families.base import Prepared, TaskFamily, family_for
from seqbench.models import build_model
from seqbench.progress import console, make_progress

DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 64,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "warmup_steps": 100,
    "clip_norm": 1.0,
    "patience": 3,
    "eval_limit": 500,
    "min_lr_ratio": 0.1,
}


@dataclass
class TrainResult:
    checkpoint: checkpoints.Checkpoint
    reused: bool


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch so a run is repeatable."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def split_size(prepared: Prepared, split: str) -> int:
    """Number of examples in ``split`` as the manifest records it."""
    entry = prepared.manifest.get("splits", {}).get(split, 0)
    if isinstance(entry, dict):
        entry = entry.get("size", entry.get("examples", 0))
    return int(entry)


def learning_rate(step: int, total: int, opts: dict[str, Any]) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` of the peak."""
    peak, warmup = float(opts["lr"]), int(opts["warmup_steps"])
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    floor = float(opts["min_lr_ratio"])
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(
    spec: TaskSpec,
    subset: str | None,
    preset: str,
    model_name: str,
    *,
    seed: int = 0,
    force: bool = False,
    prepared: Prepared | None = None,
    family: TaskFamily | None = None,
) -> TrainResult:
    """Train ``model_name`` on the task (or reuse the finished run) and return its checkpoint."""
    family = family or family_for(spec)
    if prepared is None:
        prepared, _ = family.prepare(spec, subset, preset)
    rid = checkpoints.run_id(preset, seed, prepared.fingerprint)
    directory = checkpoints.run_dir(prepared.key, model_name, rid)
    existing = checkpoints.find(directory)
    if existing is not None and not force:
        return TrainResult(existing, reused=True)

    seed_everything(seed)
    config = family.model_config(prepared, model_name, preset)
    model = build_model(model_name, config, family=spec.family)
    opts = {**DEFAULTS, **family.train_options(spec, preset, model_name)}
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(opts["lr"]), weight_decay=float(opts["weight_decay"])
    )
    steps_per_epoch = max(1, math.ceil(split_size(prepared, "train") / int(opts["batch_size"])))
    total_steps = steps_per_epoch * int(opts["epochs"])
    params = sum(p.numel() for p in model.parameters())
    console.print(
        f"training [bold]{model_name}[/] on {prepared.key} ({preset}, seed {seed}): "
        f"{params:,} parameters, {opts['epochs']} epochs x {steps_per_epoch} steps"
    )

    log: list[dict[str, Any]] = []
    best_score, best_state, stale, step, dev_metric = -math.inf, None, 0, 0, ""
    started = time.perf_counter()
    with make_progress() as progress:
        bar = progress.add_task(f"train {model_name}", total=total_steps, info="")
        for epoch in range(int(opts["epochs"])):
            model.train()
            epoch_loss, batches = 0.0, 0
            for batch in family.batches(
                prepared,
                "train",
                int(opts["batch_size"]),
                shuffle=True,
                seed=seed * 1000 + epoch,
                epoch=epoch,
                options=opts,
            ):
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(step, total_steps, opts)
                loss = family.loss(model, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if opts["clip_norm"]:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), float(opts["clip_norm"]))
                optimizer.step()
                epoch_loss += loss.item()
                batches += 1
                step += 1
                progress.update(bar, advance=1, info=f"epoch {epoch + 1} loss {loss.item():.3f}")
            dev = family.evaluate(
                model, prepared, "dev", limit=int(opts["eval_limit"]), progress=False
            )
            row = {
                "epoch": epoch + 1,
                "step": step,
                "train_loss": epoch_loss / max(1, batches),
                f"dev_{dev.primary}": dev.score,
                "elapsed_s": round(time.perf_counter() - started, 2),
            }
            log.append(row)
            dev_metric = dev.primary
            progress.console.print(
                f"  epoch {epoch + 1}: loss {row['train_loss']:.4f}, "
                f"dev {dev.primary} {dev.score:.2f}"
            )
            if dev.score > best_score:
                best_score, stale = dev.score, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
                if stale >= int(opts["patience"]):
                    progress.console.print(f"  early stop: no dev gain for {stale} epochs")
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    info = {
        "complete": True,
        "task": prepared.key,
        "model": model_name,
        "preset": preset,
        "seed": seed,
        "data_fingerprint": prepared.fingerprint,
        "model_config": config,
        "train_options": opts,
        "parameters": params,
        "best_dev": {"metric": dev_metric, "value": best_score},
        "epochs_run": len(log),
        "train_seconds": round(time.perf_counter() - started, 2),
        "threads": torch.get_num_threads(),
    }
    checkpoint = checkpoints.save(directory, model, info, log)
    console.print(f"saved {directory} (best dev {best_score:.2f}, {info['train_seconds']:.0f} s)")
    return TrainResult(checkpoint, reused=False)
