"""One training loop for every family: the family supplies batches, loss and the dev score."""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqbench import checkpoints, dropout, locks
from seqbench.config import TaskSpec, check_teacher, load_task
from seqbench.data import cache as data_cache
from seqbench.device import device_name, resolve_device, to_device
from seqbench.errors import SeqbenchError
from seqbench.families.base import EvalOutcome, Prepared, TaskFamily, family_for, run_spec
from seqbench.families.runspec import CHOICE_OPTIONS, RunSpec, TrainOptions
from seqbench.models import build_model
from seqbench.optim import FlatAdamW
from seqbench.progress import console, make_progress

# /proc/cpuinfo flags of a CPU with native bf16 arithmetic (AVX512-BF16 dot products, AMX).
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


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


def device_has_native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively: the CPU with AVX512-BF16 or AMX, a CUDA GPU
    of compute capability 8.0 or later (older ones only emulate it, slower than fp32). MPS
    counts as not: ``auto`` keeps fp32 there."""
    if device.type == "cpu":
        return cpu_has_native_bf16()
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    return False


def resolve_precision(requested: str, device: torch.device | None = None) -> str:
    """The precision a run actually uses: ``auto`` is bf16 where ``device`` (the CPU when
    None) computes it natively, else fp32."""
    if requested == "auto":
        native = device_has_native_bf16(device or torch.device("cpu"))
        return "bf16" if native else "fp32"
    if requested not in CHOICE_OPTIONS["precision"]:
        raise SeqbenchError(
            f"unknown precision {requested!r}",
            f"use one of: {', '.join(CHOICE_OPTIONS['precision'])}",
        )
    return requested


def autocast(precision: str, device: str = "cpu") -> contextlib.AbstractContextManager[Any]:
    """The context a training forward and loss run in: bf16 autocast, or nothing for fp32.

    Weights, gradients and the optimizer stay fp32. Autocast runs the products (linear,
    matmul, convolutions) in bf16 and the losses in fp32; other ops follow their inputs, and
    ``nn.GRU``/``nn.LSTM`` stay fp32 (not on CPU autocast's bf16 list). ``device``: the
    device type the products run on (``cpu``, ``cuda``).
    """
    if resolve_precision(precision, torch.device(device)) == "bf16":
        return torch.autocast(device, dtype=torch.bfloat16)
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


@dataclass(frozen=True)
class RunPlan:
    """Where a run's checkpoint lives and what shapes it."""

    run: RunSpec
    directory: Path
    model_config: dict[str, Any]
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
    teacher: dict[str, str], preset: str, seed: int, *, train_missing: bool, device: str = "auto"
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
    run = run_spec(teacher_spec, subset, preset, teacher["model"], seed).on(device)
    if train_missing:
        return train(run).checkpoint
    prepared, _ = family_for(teacher_spec).prepare_run(run)
    return checkpoints.find(plan_run(run, prepared).directory)


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


def plan_run(run: RunSpec, prepared: Prepared, *, train_teacher: bool = False) -> RunPlan:
    """The model config and checkpoint folder of ``run`` (a run spec with a model).

    A spec with a ``teacher:`` resolves it first (trains it when ``train_teacher``); the
    teacher's identity and weights hash join the model config, hence the run's identity.
    """
    assert run.model is not None, "plan a run spec resolved for a model"
    family = family_for(run.spec)
    config = family.model_config(run, prepared)
    named = teacher_of(run.spec, config, f"{run.where}: model {run.model}")
    teacher = teacher_checkpoint(
        named, run.preset, run.seed, train_missing=train_teacher, device=run.device
    )
    if named:
        config["teacher"] = teacher_entry(named, teacher)
    ident = checkpoints.identity(
        model=run.model,
        family=run.spec.family,
        model_config=config,
        train_options=run.train.to_dict(),
        data_fingerprint=prepared.fingerprint,
        seed=run.seed,
    )
    rid = checkpoints.run_id(
        run.preset, run.seed, prepared.fingerprint, checkpoints.identity_hash(ident)
    )
    directory = checkpoints.run_dir(prepared.key, run.model, rid)
    return RunPlan(run, directory, config, ident, teacher)


def learning_rate(step: int, total: int, opts: TrainOptions) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` of the peak."""
    peak, warmup = float(opts.lr), int(opts.warmup_steps)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    floor = float(opts.min_lr_ratio)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(run: RunSpec, *, force: bool = False, prepared: Prepared | None = None) -> TrainResult:
    """Train ``run``'s model on its task (or reuse the finished run) and return its checkpoint.

    One process trains a given run at a time (a second one waits for it, then reuses its
    result); a killed run resumes from its last finished epoch.
    """
    family = family_for(run.spec)
    if prepared is None:
        prepared, _ = family.prepare_run(run)
    plan = plan_run(run, prepared, train_teacher=True)
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
        return _train_locked(prepared, family, plan, force)


def evaluate_on(
    family: TaskFamily, model: torch.nn.Module, device: torch.device, *args: Any, **kwargs: Any
) -> EvalOutcome:
    """``family.evaluate(model, *args, **kwargs)`` on ``device`` where the family places its
    inputs on the model's device, else on the CPU (the model moved there and back)."""
    if device.type == "cpu" or family.evaluates_on_device:
        return family.evaluate(model, *args, **kwargs)
    model.cpu()
    try:
        return family.evaluate(model, *args, **kwargs)
    finally:
        model.to(device)


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
                tensors[f"opt.{index}.{name}"] = checkpoints.own_copy(value)
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


@dataclass
class TrainState:
    """Where a run stands after its last finished epoch: what a resume restores."""

    epoch: int = 0  # epochs finished
    step: int = 0
    stale: int = 0  # epochs since the best dev score
    stopped: bool = False  # early-stopped
    best_score: float = -math.inf  # the best dev score's gain (higher is better)
    best_value: float | None = None  # the best dev score as reported
    best_state: dict[str, torch.Tensor] | None = None  # the weights that scored it
    dev_metric: str = ""
    elapsed_s: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)

    def end_epoch(
        self, row: dict[str, Any], dev: EvalOutcome, model: torch.nn.Module, patience: int
    ) -> str | None:
        """Record a finished epoch's log row and dev score; keeps the best weights. Returns
        the early-stop note when the run stops here."""
        self.epoch = int(row["epoch"])
        self.log.append(row)
        self.dev_metric = dev.primary
        if dev.gain > self.best_score:
            self.best_score, self.stale = dev.gain, 0
            self.best_value = dev.score
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return None
        self.stale += 1
        if self.stale >= patience:
            self.stopped = True
            return f"  early stop: no dev gain for {self.stale} epochs"
        return None

    def progress(self) -> dict[str, Any]:
        """The JSON half of the resume state (the weights are saved beside it)."""
        state = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "best_state"}
        return {**state, "best_score": self.best_score if math.isfinite(self.best_score) else None}

    @classmethod
    def restore(cls, state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> TrainState:
        best = {k[len("best.") :]: v for k, v in tensors.items() if k.startswith("best.")}
        return cls(
            epoch=int(state["epoch"]),
            step=int(state["step"]),
            stale=int(state["stale"]),
            stopped=bool(state["stopped"]),
            best_score=-math.inf if state["best_score"] is None else float(state["best_score"]),
            best_value=state.get("best_value", state["best_score"]),
            best_state=best or None,
            dev_metric=str(state["dev_metric"]),
            elapsed_s=float(state["elapsed_s"]),
            log=list(state["log"]),
        )


def make_optimizer(model: torch.nn.Module, opts: TrainOptions) -> torch.optim.Optimizer:
    """AdamW over ``model``'s parameters: torch's fused kernel when ``opts.compile`` or
    ``opts.fused_optimizer``; otherwise torch's own arithmetic, on the CPU as
    :class:`~seqbench.optim.FlatAdamW` (the same bits in fewer kernels), elsewhere as torch
    chooses."""
    lr, decay = float(opts.lr), float(opts.weight_decay)
    if opts.fused_optimizer:
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=decay, fused=True)
    if all(p.device.type == "cpu" for p in model.parameters()):
        return FlatAdamW(model.parameters(), lr=lr, weight_decay=decay)
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=decay)


def _fresh(plan: RunPlan, device: torch.device) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The seeded untrained model (holding its frozen teacher, if any) on ``device``, and
    its optimiser. The weights are drawn on the CPU, so every device starts from the same."""
    run = plan.run
    seed_everything(run.seed)
    model = build_model(str(run.model), plan.model_config, family=run.spec.family)
    if plan.teacher is not None:  # a distilled model holds its teacher (kept frozen)
        load_teacher(model, checkpoints.load_model(plan.teacher).state_dict())
    model.to(device)
    return model, make_optimizer(model, run.train)


def training_step_model(model: torch.nn.Module, opts: TrainOptions) -> torch.nn.Module:
    """What the training loss calls: ``model`` itself, or compiled by torch.compile
    (inductor; shapes that vary between batches are traced dynamically after the first
    recompile) when ``opts.compile``. It shares ``model``'s parameters."""
    if not opts.compile:
        return model
    return torch.compile(model)  # type: ignore[return-value]


def _resume(
    plan: RunPlan, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device
) -> tuple[torch.nn.Module, torch.optim.Optimizer, TrainState]:
    """The model, optimiser and state after the run's last finished epoch, restored from its
    resume files; a fresh start when there are none or they are unusable."""
    resumed = checkpoints.load_resume(plan.directory)
    if resumed is None:
        return model, optimizer, TrainState()
    tensors, saved = resumed
    try:
        if checkpoints.identity_hash(saved["identity"]) != checkpoints.identity_hash(plan.identity):
            raise ValueError("it belongs to another configuration")
        model.load_state_dict(
            {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        )
        _load_optimizer(optimizer, tensors, saved["optimizer"])
        _set_rng_state(saved["rng"], tensors["rng.torch"])
        state = TrainState.restore(saved, tensors)
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        console.print(
            f"[yellow]warning:[/] resume state in {plan.directory} unusable ({err}); "
            "training from the start"
        )
        return (*_fresh(plan, device), TrainState())
    console.print(f"resuming {plan.run.model} from epoch {state.epoch} ({plan.directory})")
    return model, optimizer, state


def train_step(
    family: TaskFamily,
    model: torch.nn.Module,
    batch: Any,
    optimizer: torch.optim.Optimizer,
    opts: TrainOptions,
    precision: str,
    device: torch.device,
    step_model: torch.nn.Module | None = None,
) -> torch.Tensor:
    """One optimisation step: the loss under ``precision``'s autocast (dropout masks drawn
    as ``opts.dropout_masks`` says), backward, clipping at
    ``opts.clip_norm``, the optimizer's step; returns the loss. ``step_model``: what the loss
    calls (``model`` compiled), ``model`` when None."""
    with autocast(precision, device.type), dropout.masks(opts.dropout_masks):
        loss = family.loss(model if step_model is None else step_model, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if opts.clip_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(opts.clip_norm))
    optimizer.step()
    return loss


def _train_epoch(
    prepared: Prepared,
    family: TaskFamily,
    plan: RunPlan,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainState,
    schedule: tuple[int, str, torch.device],
    tick: Callable[[str], None],
    step_model: torch.nn.Module | None = None,
) -> float:
    """One pass over the training batches of epoch ``state.epoch``; returns the mean loss.
    ``schedule``: (the run's total steps, its resolved precision, the device);
    ``step_model``: what the loss calls (``model`` compiled), ``model`` when None."""
    run, opts = plan.run, plan.run.train
    total_steps, precision, device = schedule
    step_model = model if step_model is None else step_model
    epoch = state.epoch
    model.train()
    epoch_loss, batches = 0.0, 0
    for batch in family.batches(
        prepared,
        "train",
        int(opts.batch_size),
        shuffle=True,
        seed=run.seed * 1000 + epoch,
        epoch=epoch,
        run=run,
    ):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(state.step, total_steps, opts)
        batch = to_device(batch, device)
        loss = train_step(family, model, batch, optimizer, opts, precision, device, step_model)
        epoch_loss += loss.item()
        batches += 1
        state.step += 1
        tick(f"epoch {epoch + 1} loss {loss.item():.3f}")
    return epoch_loss / max(1, batches)


def _train_locked(
    prepared: Prepared, family: TaskFamily, plan: RunPlan, force: bool
) -> TrainResult:
    run, opts, directory = plan.run, plan.run.train, plan.directory
    device = resolve_device(run.device)
    model, optimizer = _fresh(plan, device)
    state = TrainState()
    if not force:
        model, optimizer, state = _resume(plan, model, optimizer, device)
    step_model = training_step_model(model, opts)
    precision = resolve_precision(opts.precision, device)
    steps_per_epoch = family.steps_per_epoch(run, prepared, int(opts.batch_size))
    total_steps = steps_per_epoch * int(opts.epochs)
    params = sum(p.numel() for p in model.parameters())
    console.print(
        f"training [bold]{run.model}[/] on {prepared.key} ({run.preset}, seed {run.seed}): "
        f"{params:,} parameters, {opts.epochs} epochs x {steps_per_epoch} steps"
        + ("" if precision == "fp32" else f", {precision} autocast")
        + ("" if device.type == "cpu" else f", on {device_name(device)}")
        + (", compiled" if opts.compile else "")
    )
    started = time.perf_counter() - state.elapsed_s
    with make_progress() as progress:
        bar = progress.add_task(
            f"train {run.model}", total=total_steps, completed=state.step, info=""
        )

        def tick(info: str) -> None:
            progress.update(bar, advance=1, info=info)

        while state.epoch < int(opts.epochs) and not state.stopped:
            train_loss = _train_epoch(
                prepared,
                family,
                plan,
                model,
                optimizer,
                state,
                (total_steps, precision, device),
                tick,
                step_model,
            )
            dev = evaluate_on(
                family, model, device, prepared, "dev", limit=int(opts.eval_limit), progress=False
            )
            row = {
                "epoch": state.epoch + 1,
                "step": state.step,
                "train_loss": train_loss,
                f"dev_{dev.primary}": dev.score,
                "elapsed_s": round(time.perf_counter() - started, 2),
            }
            progress.console.print(
                f"  epoch {row['epoch']}: loss {train_loss:.4f}, dev {dev.primary} {dev.score:.2f}"
            )
            note = state.end_epoch(row, dev, model, int(opts.patience))
            if note:
                progress.console.print(note)
            state.elapsed_s = round(time.perf_counter() - started, 3)
            _save_epoch(directory, model, optimizer, state, plan)
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    info = {
        "complete": True,
        "task": prepared.key,
        "model": run.model,
        "preset": run.preset,
        "seed": run.seed,
        "data_fingerprint": prepared.fingerprint,
        "model_config": plan.model_config,
        "train_options": opts.to_dict(),
        "identity": plan.identity,
        "parameters": params,
        "best_dev": {"metric": state.dev_metric, "value": state.best_value},
        "epochs_run": len(state.log),
        "train_seconds": round(time.perf_counter() - started, 2),
        "threads": torch.get_num_threads(),
        "precision": precision,  # what ran (``auto`` resolved on this device)
        "device": device_name(device),  # where it ran: not part of the identity
    }
    checkpoint = checkpoints.save(directory, model, info, state.log)
    best = f"{state.best_value:.2f}" if state.best_value is not None else "none"
    console.print(f"saved {directory} (best dev {best}, {info['train_seconds']:.0f} s)")
    return TrainResult(checkpoint, reused=False)


def _save_epoch(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainState,
    plan: RunPlan,
) -> None:
    """Everything needed to carry on after this epoch as if never stopped."""
    opt_tensors, opt_meta = _optimizer_tensors(optimizer)
    tensors = {f"model.{k}": v for k, v in checkpoints.state_tensors(model).items()}
    if state.best_state is not None:
        tensors.update({f"best.{k}": v.contiguous().cpu() for k, v in state.best_state.items()})
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    saved = {
        **state.progress(),
        "identity": plan.identity,
        "optimizer": opt_meta,
        "rng": _rng_state(),
    }
    checkpoints.save_resume(directory, tensors, saved)
