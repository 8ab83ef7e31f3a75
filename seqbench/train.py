"""One training loop for every family: the family supplies batches, loss and the dev score."""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqbench import checkpoints, locks
from seqbench.config import TaskSpec, check_teacher, load_task
from seqbench.data import cache as data_cache
from seqbench.errors import SeqbenchError
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


# Allowed training options: (type, lowest, highest, what the range means). Families read
# label_smoothing (translation) and curriculum (vqa, checked there) beyond the loop's own.
OPTION_RANGES: dict[str, tuple[type, float | None, float | None]] = {
    "epochs": (int, 1, None),
    "batch_size": (int, 1, None),
    "lr": (float, 0.0, None),
    "weight_decay": (float, 0.0, None),
    "warmup_steps": (int, 0, None),
    "clip_norm": (float, 0.0, None),
    "patience": (int, 1, None),
    "eval_limit": (int, 1, None),
    "min_lr_ratio": (float, 0.0, 1.0),
    "label_smoothing": (float, 0.0, 1.0),
}
FREE_FORM_OPTIONS = {"curriculum"}
# Training options that take one of a few words: the words allowed, the first being what an
# unset option means. Not in DEFAULTS: a run's identity (its checkpoint folder) holds the
# options it was given, so a spec that sets ``precision`` opts in and older runs keep theirs.
CHOICE_OPTIONS: dict[str, tuple[str, ...]] = {"precision": ("fp32", "bf16", "auto")}
# /proc/cpuinfo flags of a CPU with native bf16 arithmetic (AVX512-BF16 dot products, AMX).
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def check_options(opts: dict[str, Any], where: str) -> dict[str, Any]:
    """Type- and range-check training options; one-line error naming file, key and range."""
    for key, value in opts.items():
        if key in FREE_FORM_OPTIONS:
            continue
        if key in CHOICE_OPTIONS:
            allowed = ", ".join(CHOICE_OPTIONS[key])
            if value not in CHOICE_OPTIONS[key]:
                raise SeqbenchError(
                    f"{where}: training option {key} = {value!r} is not one of {allowed}",
                    f"set {key} to one of: {allowed}",
                )
            continue
        if key not in OPTION_RANGES:
            known = sorted([*OPTION_RANGES, *FREE_FORM_OPTIONS, *CHOICE_OPTIONS])
            raise SeqbenchError(
                f"{where}: unknown training option {key!r}", f"known options: {', '.join(known)}"
            )
        kind, low, high = OPTION_RANGES[key]
        wrong_type = isinstance(value, bool) or not isinstance(value, (int, float))
        if kind is int and not wrong_type and not float(value).is_integer():
            wrong_type = True
        span = f">= {low}" if high is None else f"in [{low}, {high}]"
        if wrong_type or not math.isfinite(value):
            raise SeqbenchError(
                f"{where}: training option {key} = {value!r} is not a finite "
                f"{'whole number' if kind is int else 'number'}",
                f"set {key} to a {kind.__name__} {span}",
            )
        if (low is not None and value < low) or (high is not None and value > high):
            raise SeqbenchError(
                f"{where}: training option {key} = {value!r} is out of range",
                f"set {key} to a value {span}",
            )
    return opts


def cpu_flags() -> set[str] | None:
    """The CPU feature flags from /proc/cpuinfo, or None where there is no such file."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX): then bf16 autocast is
    the fast path; elsewhere it is emulated and slower than fp32, so ``auto`` keeps fp32."""
    flags = cpu_flags()
    if flags is not None:
        return bool(flags & BF16_CPU_FLAGS)
    # No /proc/cpuinfo (macOS, Windows): ask torch's own CPU probe where it has one.
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(probe()) if probe is not None else False


def resolve_precision(requested: str) -> str:
    """The precision a run actually uses: ``auto`` is bf16 where the CPU has it natively."""
    if requested == "auto":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if requested not in CHOICE_OPTIONS["precision"]:
        raise SeqbenchError(
            f"unknown precision {requested!r}",
            f"use one of: {', '.join(CHOICE_OPTIONS['precision'])}",
        )
    return requested


def autocast(precision: str) -> contextlib.AbstractContextManager[Any]:
    """The context a training forward and loss run in: bf16 autocast, or nothing for fp32.

    Weights, gradients and the optimizer stay fp32. Autocast runs the products (linear,
    matmul, convolutions) in bf16 and the losses in fp32; other ops follow their inputs, and
    ``nn.GRU``/``nn.LSTM`` stay fp32 (not on CPU autocast's bf16 list).
    """
    if resolve_precision(precision) == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


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


@dataclass(frozen=True)
class RunPlan:
    """Where a run's checkpoint lives and what shapes it."""

    directory: Path
    model_config: dict[str, Any]
    options: dict[str, Any]
    identity: dict[str, Any]
    teacher: checkpoints.Checkpoint | None = None  # whose weights the model starts from


def teacher_of(spec: TaskSpec, config: dict[str, Any], where: str) -> dict[str, str]:
    """The run's teacher ``{task, model}``: the spec's ``teacher:`` (every model of the task)
    or the model's own ``teacher`` option (a pretrained part one model starts from, such as
    vl-dual's region CNN); {} when there is none."""
    if spec.teacher:
        return spec.teacher
    return check_teacher(config.get("teacher"), where)


def teacher_checkpoint(
    teacher: dict[str, str], preset: str, seed: int, *, train_missing: bool
) -> checkpoints.Checkpoint | None:
    """The finished checkpoint of ``teacher`` (same preset and seed), trained through the
    normal path when missing and ``train_missing``; None when there is none."""
    if not teacher:
        return None
    teacher_spec, subset = load_task(teacher["task"])
    if teacher_spec.teacher:
        raise SeqbenchError(
            f"teacher task {teacher_spec.name!r} has a teacher itself",
            "name a teacher task that trains on its own (e.g. shapes-captions)",
        )
    model = teacher["model"]
    if train_missing:
        return train(teacher_spec, subset, preset, model, seed=seed).checkpoint
    teacher_family = family_for(teacher_spec)
    prepared, _ = teacher_family.prepare(teacher_spec, subset, preset)
    plan = plan_run(teacher_spec, prepared, teacher_family, model, preset, seed)
    return checkpoints.find(plan.directory)


def teacher_entry(teacher: dict[str, str], ckpt: checkpoints.Checkpoint | None) -> dict[str, Any]:
    """What the student's model config records of its teacher: the architecture to rebuild
    and the checkpoint's identity and weights hash, so a new teacher means a new student."""
    entry: dict[str, Any] = {"task": teacher["task"], "model": teacher["model"]}
    if ckpt is None:  # not trained yet: no student of it can exist either
        return {**entry, "weights_sha256": None}
    return {
        **entry,
        "config": ckpt.config,
        "identity": checkpoints.identity_hash(ckpt.info.get("identity", {})),
        "weights_sha256": ckpt.sha256,
    }


def load_teacher(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """The teacher checkpoint's weights into ``model.teacher``: all of them, or the part the
    model keeps (vl-dual keeps only its teacher's CNN), by the teacher's own keys."""
    wanted = model.teacher.state_dict().keys()
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise SeqbenchError(
            f"the teacher checkpoint lacks {missing[0]!r} ({len(missing)} weight(s) missing)",
            "train the teacher again with this seqbench version",
        )
    model.teacher.load_state_dict({key: state[key] for key in wanted})


def plan_run(
    spec: TaskSpec,
    prepared: Prepared,
    family: TaskFamily,
    model_name: str,
    preset: str,
    seed: int,
    *,
    train_teacher: bool = False,
) -> RunPlan:
    """The model config, checked training options and checkpoint folder of one run.

    A spec with a ``teacher:`` resolves it first (trains it when ``train_teacher``); the
    teacher's identity and weights hash join the model config, hence the run's identity.
    """
    config = family.model_config(prepared, model_name, preset)
    where = f"task spec {spec.path.name if spec.path else spec.name} (preset {preset})"
    named = teacher_of(spec, config, f"{where}: model {model_name}")
    teacher = teacher_checkpoint(named, preset, seed, train_missing=train_teacher)
    if named:
        config["teacher"] = teacher_entry(named, teacher)
    opts = check_options({**DEFAULTS, **family.train_options(spec, preset, model_name)}, where)
    ident = checkpoints.identity(
        model=model_name,
        family=spec.family,
        model_config=config,
        train_options=opts,
        data_fingerprint=prepared.fingerprint,
        seed=seed,
    )
    rid = checkpoints.run_id(preset, seed, prepared.fingerprint, checkpoints.identity_hash(ident))
    directory = checkpoints.run_dir(prepared.key, model_name, rid)
    return RunPlan(directory, config, opts, ident, teacher)


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
    """Train ``model_name`` on the task (or reuse the finished run) and return its checkpoint.

    One process trains a given run at a time (a second one waits for it, then reuses its
    result); a killed run resumes from its last finished epoch.
    """
    family = family or family_for(spec)
    if prepared is None:
        prepared, _ = family.prepare(spec, subset, preset)
    plan = plan_run(spec, prepared, family, model_name, preset, seed, train_teacher=True)
    directory = plan.directory
    with (
        data_cache.reading(prepared.directory),
        locks.hold(directory, f"checkpoint {directory}", say=console),
    ):
        existing = checkpoints.find(directory)
        if existing is not None and not force:
            try:
                checkpoints.verify(existing)
                checkpoints.check_loadable(existing)  # a broken import is never "finished"
                return TrainResult(existing, reused=True)
            except SeqbenchError as err:
                console.print(f"[yellow]warning:[/] {err.message}; training it again")
        return _train_locked(spec, preset, model_name, seed, prepared, family, plan, force)


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy": [np_state[0], np_state[1].tolist(), *[float(x) for x in np_state[2:]]],
    }


def _set_rng_state(state: dict[str, Any], torch_state: torch.Tensor) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), int(pos), int(has_gauss), cached))
    torch.set_rng_state(torch_state)


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], dict]:
    """The optimiser state split into tensors (safetensors) and the rest (JSON)."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, slots in sd["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"opt.{index}.{name}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _load_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, Any], meta: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _train_locked(
    spec: TaskSpec,
    preset: str,
    model_name: str,
    seed: int,
    prepared: Prepared,
    family: TaskFamily,
    plan: RunPlan,
    force: bool,
) -> TrainResult:
    directory, config, opts = plan.directory, plan.model_config, plan.options

    def fresh() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        seed_everything(seed)
        model = build_model(model_name, config, family=spec.family)
        if plan.teacher is not None:  # a distilled model holds its teacher (kept frozen)
            load_teacher(model, checkpoints.load_model(plan.teacher).state_dict())
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=float(opts["lr"]), weight_decay=float(opts["weight_decay"])
        )
        return model, optimizer

    model, optimizer = fresh()
    precision = resolve_precision(str(opts.get("precision", "fp32")))
    steps_per_epoch = family.steps_per_epoch(prepared, int(opts["batch_size"]))
    total_steps = steps_per_epoch * int(opts["epochs"])
    params = sum(p.numel() for p in model.parameters())

    log: list[dict[str, Any]] = []
    best_score, best_state, stale, step, dev_metric = -math.inf, None, 0, 0, ""
    best_value: float | None = None  # the best dev score as reported (best_score: its gain)
    start_epoch, stopped, spent = 0, False, 0.0
    resumed = None if force else checkpoints.load_resume(directory)
    if resumed is not None:
        tensors, state = resumed
        try:
            if checkpoints.identity_hash(state["identity"]) != checkpoints.identity_hash(
                plan.identity
            ):
                raise ValueError("it belongs to another configuration")
            model.load_state_dict(
                {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
            )
            best = {k[len("best.") :]: v for k, v in tensors.items() if k.startswith("best.")}
            _load_optimizer(optimizer, tensors, state["optimizer"])
            _set_rng_state(state["rng"], tensors["rng.torch"])
            best_state = best or None
            log, step, stale = list(state["log"]), int(state["step"]), int(state["stale"])
            best_score = -math.inf if state["best_score"] is None else float(state["best_score"])
            best_value = state.get("best_value", state["best_score"])
            dev_metric, start_epoch = str(state["dev_metric"]), int(state["epoch"])
            stopped, spent = bool(state["stopped"]), float(state["elapsed_s"])
            console.print(f"resuming {model_name} from epoch {start_epoch} ({directory})")
        except (KeyError, ValueError, TypeError, RuntimeError) as err:
            console.print(
                f"[yellow]warning:[/] resume state in {directory} unusable ({err}); "
                "training from the start"
            )
            model, optimizer = fresh()
            log, best_score, best_state, stale, step = [], -math.inf, None, 0, 0
            start_epoch, stopped, spent, dev_metric = 0, False, 0.0, ""

    console.print(
        f"training [bold]{model_name}[/] on {prepared.key} ({preset}, seed {seed}): "
        f"{params:,} parameters, {opts['epochs']} epochs x {steps_per_epoch} steps"
        + ("" if precision == "fp32" else f", {precision} autocast")
    )
    started = time.perf_counter() - spent
    with make_progress() as progress:
        bar = progress.add_task(f"train {model_name}", total=total_steps, completed=step, info="")
        for epoch in range(start_epoch, int(opts["epochs"])):
            if stopped:
                break
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
                with autocast(precision):
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
            if dev.gain > best_score:
                best_score, stale = dev.gain, 0
                best_value = dev.score
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
                if stale >= int(opts["patience"]):
                    progress.console.print(f"  early stop: no dev gain for {stale} epochs")
                    stopped = True
            _save_epoch(
                directory,
                model,
                optimizer,
                best_state,
                plan,
                {
                    "epoch": epoch + 1,
                    "step": step,
                    "stale": stale,
                    "stopped": stopped,
                    "best_score": best_score if math.isfinite(best_score) else None,
                    "best_value": best_value,
                    "dev_metric": dev_metric,
                    "log": log,
                    "elapsed_s": round(time.perf_counter() - started, 3),
                },
            )
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
        "identity": plan.identity,
        "parameters": params,
        "best_dev": {"metric": dev_metric, "value": best_value},
        "epochs_run": len(log),
        "train_seconds": round(time.perf_counter() - started, 2),
        "threads": torch.get_num_threads(),
        "precision": precision,  # what ran (``auto`` resolved on this CPU)
    }
    checkpoint = checkpoints.save(directory, model, info, log)
    best = f"{best_value:.2f}" if best_value is not None else "none"
    console.print(f"saved {directory} (best dev {best}, {info['train_seconds']:.0f} s)")
    return TrainResult(checkpoint, reused=False)


def _save_epoch(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    best_state: dict[str, torch.Tensor] | None,
    plan: RunPlan,
    progress_state: dict[str, Any],
) -> None:
    """Everything needed to carry on after this epoch as if never stopped."""
    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    tensors = {f"model.{k}": v for k, v in checkpoints.state_tensors(model).items()}
    if best_state is not None:
        tensors.update({f"best.{k}": v.contiguous().cpu() for k, v in best_state.items()})
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    state = {
        **progress_state,
        "identity": plan.identity,
        "optimizer": opt_meta,
        "rng": _rng_state(),
    }
    checkpoints.save_resume(directory, tensors, state)
