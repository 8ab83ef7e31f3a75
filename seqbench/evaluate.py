"""``seqbench eval``: quality on the host, then per accelerator profile the simulated cost of
the traced inference and the quality measured with the profile's functional effects on."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqbench import checkpoints, ops, results
from seqbench.accel import functional
from seqbench.accel.cost import simulate
from seqbench.accel.effects import (
    acts_on,
    calibrate,
    effect_hooks,
    function_key,
    priced_trace,
    pruning_shares,
)
from seqbench.accel.profile import chain_hash, gallery_label, resolve_profiles
from seqbench.data import cache as data_cache
from seqbench.device import device_name, resolve_device
from seqbench.errors import SeqbenchError
from seqbench.families.base import EvalOutcome, Prepared, TaskFamily, family_for
from seqbench.families.runspec import RunSpec
from seqbench.progress import console
from seqbench.trace import Trace, Tracer
from seqbench.train import evaluate_on, plan_run, seed_everything

# Noise seeds of repeat r: seed + NOISE_STRIDE * r (repeat 0 is what `seqbench eval` uses).
NOISE_STRIDE = 1000
# Bump when what the effects compute for the same profile changes (effects.py, the decoders):
# records of another version never lend their quality under effects to a new record.
EFFECTS_VERSION = 1


@dataclass(frozen=True)
class EvalRequest:
    """Everything that identifies one evaluation: the run spec (task, preset, model, seed)
    and how it is scored."""

    run: RunSpec
    split: str = "test"
    beam: int = 1
    accels: str = "cpu"
    limit: int | None = None
    # Profiles with effects re-score only the first N examples (a full decode each on a CPU).
    effects_limit: int | None = None
    # A sweep's noise repeat: effects draw their noise from seed + NOISE_STRIDE * repeat.
    repeat: int = 0

    def __post_init__(self) -> None:
        if self.run.model is None:
            raise ValueError("an EvalRequest needs a run spec resolved for a model")
        for name, value in (("limit", self.limit), ("effects_limit", self.effects_limit)):
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise SeqbenchError(
                    f"{name} must be a whole number >= 1, got {value!r}",
                    f"omit {name} to score the whole split",
                )
        if self.beam < 1:
            raise SeqbenchError(f"beam must be >= 1, got {self.beam}", "use beam 1 (greedy)")

    @property
    def model(self) -> str:
        return str(self.run.model)

    @property
    def noise_seed(self) -> int:
        return self.run.seed + NOISE_STRIDE * self.repeat

    def effects_examples(self) -> int | None:
        limits = [n for n in (self.limit, self.effects_limit) if n is not None]
        return min(limits) if limits else None


def with_preset_limit(request: EvalRequest) -> EvalRequest:
    """``request`` with its preset's ``test_limit`` when no ``--limit`` was given.

    Only the unit-test preset (``tiny``) sets one. It limits scoring the way ``--limit`` does,
    so the record is marked partial (``limit``, ``n``); the prepared test split stays whole.
    """
    if request.limit is not None or not request.run.test_limit:
        return request
    return dataclasses.replace(request, limit=request.run.test_limit)


def find_checkpoint(run: RunSpec, prepared: Prepared) -> checkpoints.Checkpoint | None:
    """The finished checkpoint of ``run``, or None (training it is the stage's call)."""
    return checkpoints.find(plan_run(run, prepared).directory)


def missing_checkpoint(run: RunSpec, prepared: Prepared) -> SeqbenchError:
    """The error for a run whose checkpoint does not exist, with the command that fixes it."""
    return SeqbenchError(
        f"no checkpoint of {run.model!r} for {prepared.key} (preset {run.preset}, seed {run.seed})",
        f"run `seqbench train {prepared.key} --model {run.model} --preset {run.preset}`",
    )


def _checkpoint(run: RunSpec, prepared: Prepared) -> checkpoints.Checkpoint:
    found = find_checkpoint(run, prepared)
    if found is None:
        raise missing_checkpoint(run, prepared)
    return found


def cached_trace(
    family: TaskFamily,
    model: torch.nn.Module,
    prepared: Prepared,
    checkpoint: checkpoints.Checkpoint,
    request: EvalRequest,
) -> Any:
    """The cached trace of this checkpoint on this split, captured on first use."""
    # Part of the family contract: retrieval traces its whole gallery (a search priced on a
    # sample would be a toy); the others a few batches.
    limit = family.trace_limit
    # Keyed by the data too: one checkpoint may be scored on other data (an external test set).
    name = f"{request.split}-{prepared.fingerprint[:8]}-beam{request.beam}-n{limit}.json"
    path = checkpoint.directory / "traces" / name
    if path.is_file():
        try:
            return Trace.load(path)
        except (SeqbenchError, ValueError, KeyError, OSError):
            console.print(f"[yellow]trace cache {path} unreadable: capturing it again[/]")
    tracer = Tracer()
    with ops.hooks(tracer):
        outcome = family.evaluate(
            model, prepared, request.split, limit=limit, beam=request.beam, progress=False
        )
        phases = family.trace_phases(model, prepared, request.split)
    trace = tracer.finish(
        samples=outcome.samples,
        units=outcome.units,
        unit=outcome.unit,
        meta={
            "task": prepared.key,
            "split": request.split,
            "model": request.model,
            "checkpoint_sha256": checkpoint.sha256,
            "beam": request.beam,
            **({"phases": phases} if phases else {}),
        },
    )
    trace.save(path)
    return trace


# Training examples a calibrated effect (an ADC whose range is set per layer) runs on first.
CALIBRATION_EXAMPLES = 32


def calibrate_effects(
    hooks: list[ops.OpHook], family: TaskFamily, model: torch.nn.Module, prepared: Prepared
) -> None:
    """Set the data-calibrated ranges of ``hooks`` (``adc_range: calibrated``) on the first
    :data:`CALIBRATION_EXAMPLES` of the training split, never on the split being scored."""

    def run() -> None:
        prepared.require_split("train")
        family.evaluate(
            model, prepared, "train", limit=CALIBRATION_EXAMPLES, beam=1, progress=False
        )

    calibrate(hooks, run)


def split_phases(trace: Trace) -> tuple[Trace, dict[str, Trace]]:
    """The trace without its phase-labelled ops, and one trace per phase (``prefill``,
    ``decode``: ``units`` the tokens that phase produced, ``samples`` the sequences)."""
    units = trace.meta.get("phases") or {}
    if not units:
        return trace, {}
    sequences = int(units.get("sequences", 1))
    main = dataclasses.replace(trace, records=[r for r in trace.records if "phase" not in r.meta])
    phased = {
        name: dataclasses.replace(
            trace,
            records=[r for r in trace.records if r.meta.get("phase") == name],
            samples=sequences,
            units=int(count),
        )
        for name, count in units.items()
        if name != "sequences" and count
    }
    return main, phased


def simulate_phases(trace: Trace, profile: Any) -> dict[str, Any]:
    """Simulated cost of the whole trace, with each generation phase priced on its own under
    ``phases`` (prompt tokens/s from ``prefill``; generation tokens/s and J/token from
    ``decode``)."""
    main, phased = split_phases(trace)
    out = simulate(main, profile).to_dict()
    if phased:
        out["phases"] = {name: simulate(t, profile).to_dict() for name, t in phased.items()}
    return out


def _quality(outcome: EvalOutcome) -> dict[str, Any]:
    return {
        "metrics": outcome.metrics,
        "primary": outcome.primary,
        "signature": outcome.signature.format(),
        "breakdown": outcome.breakdown,
        "samples": outcome.samples,
    }


def host_info(device: torch.device | None = None) -> dict[str, Any]:
    """The host a measurement ran on; ``device``: where the model ran (the CPU when None)."""
    return {
        "device": device_name(device or torch.device("cpu")),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        "torch": torch.__version__,
    }


def _cpu_model() -> str | None:
    """The CPU's marketing name (Linux ``/proc/cpuinfo``), so boards can name the machine."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip() or None
    except OSError:
        pass
    return None


class Memo:
    """Where :func:`run` keeps what it measured, to reuse it. This default keeps nothing:
    ``seqbench eval`` scores afresh. A sweep keeps the host score and the quality under
    effects in its state folder (cells that differ only in cost-only parameters share one
    evaluation)."""

    def begin(self, request: EvalRequest, prepared: Prepared) -> None:
        """Told what :func:`run` scores before it asks for anything (``request`` with its
        preset's limit applied)."""

    def host(self, checkpoint: checkpoints.Checkpoint, score: Callable[[], Any]) -> Any:
        """The host score of ``checkpoint`` (``score()`` measures it)."""
        return score()

    def effects(
        self,
        checkpoint: checkpoints.Checkpoint,
        profile: Any,
        signature: str,
        score: Callable[[], Any],
    ) -> tuple[Any, bool]:
        """The quality of ``checkpoint`` under ``profile``'s effects (``signature``: its
        :func:`effects_signature`), and whether it was reused rather than measured."""
        return score(), False

    def reused_from(self, profile: Any) -> dict[str, str] | None:
        """The earlier records whose measurements ``profile``'s new record took over (under
        ``host``, ``effects``), or None when everything was measured here."""
        return None


def effects_signature(profile: Any, request: EvalRequest) -> str:
    """What a record's quality under ``profile``'s effects depends on besides the checkpoint
    and the data: the parameters and settings the effects compute with
    (:func:`seqbench.accel.functional.signature`), the examples scored, the beam, the noise
    seed where an effect draws noise, and :data:`EFFECTS_VERSION`. A profile edit that leaves
    it unchanged (an energy, a latency) changes the price and not the quality."""
    key = {
        **functional.signature(profile),
        "split": request.split,
        "beam": request.beam,
        "limit": request.limit,
        "examples": request.effects_examples(),
        "noise_seed": request.noise_seed if functional.is_noisy(profile) else None,
        "version": EFFECTS_VERSION,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _host_score(
    family: TaskFamily, model: torch.nn.Module, prepared: Prepared, request: EvalRequest
) -> dict[str, Any]:
    """Quality and wall-clock throughput without effects, as a record carries them, measured
    on the request's device (the CPU for a family that scores only there)."""
    seed_everything(request.run.seed)
    device = resolve_device(request.run.device)
    if not family.evaluates_on_device:
        device = torch.device("cpu")
    model.to(device)
    try:
        host = evaluate_on(
            family, model, device, prepared, request.split, limit=request.limit, beam=request.beam
        )
    finally:
        # The trace and the effects run on the CPU: the tracer prices shapes, not where they
        # ran, and the effects' noise draws from the CPU generator, so they repeat anywhere.
        model.cpu()
    return {
        "quality": _quality(host),
        "host": {
            "wall_s": host.wall_s,
            "samples": host.samples,
            "units": host.units,
            "unit": host.unit,
            "units_per_s": host.units / host.wall_s if host.wall_s > 0 else None,
            **host_info(device),
        },
    }


def run(
    request: EvalRequest,
    results_root: Path | None = None,
    *,
    prepared: Prepared | None = None,
    checkpoint: checkpoints.Checkpoint | None = None,
    profiles: list[Any] | None = None,
    memo: Memo | None = None,
    sweep: Callable[[Any, bool], dict[str, Any]] | None = None,
    write: bool = True,
) -> list[dict[str, Any]]:
    """Evaluate and write one result record per profile; returns the records.

    The one scoring path: every record (``seqbench eval``, a suite cell, a sweep cell) is
    made here, so every record has the same fields. ``prepared`` and ``checkpoint``
    (``eval --checkpoint``, ``--test-set``) replace the task's own prepared data and this
    home's checkpoint of the request; ``profiles`` (a sweep's derived profile) replace the
    request's ``accels``; ``memo`` reuses earlier measurements; ``sweep(profile, reused)``
    gives the record's ``sweep`` facts (None outside a sweep); ``write`` off returns the
    records without saving them (a sweep's driver writes its own).
    """
    profiles = profiles if profiles is not None else resolve_profiles(request.accels)
    memo = memo or Memo()
    family = family_for(request.run.spec)
    request = with_preset_limit(request)
    if prepared is None:
        prepared, _ = family.prepare_run(request.run)
    memo.begin(request, prepared)
    # Held to the end: `cache clean` leaves data a live eval reads.
    with data_cache.reading(prepared.directory):
        prepared.require_split(request.split)
        checkpoint = checkpoint or _checkpoint(request.run, prepared)
        model = checkpoints.load_model(checkpoint)
        host = memo.host(checkpoint, lambda: _host_score(family, model, prepared, request))
        # The host on the examples effects re-score (not in a sweep, whose driver does it).
        host_same_n: dict[str, Any] | None = None
        trace = cached_trace(family, model, prepared, checkpoint, request)
        extra = family.extra_workloads(model, prepared, request.split)

        records = []
        # quality under effects per function key (effects.function_key), and who scored it
        scored: dict[tuple, tuple[dict[str, Any], str]] = {}
        for profile in profiles:
            hooks = effect_hooks(profile, request.noise_seed)
            signature = effects_signature(profile, request)
            reused = False
            shared_with = None
            # A profile whose effects touch none of the model's ops (ICE's search on a
            # translation model) scores exactly as the host did: no re-score.
            rescored = acts_on(hooks, trace)
            key = function_key(hooks) if rescored else None
            if key is not None and key in scored:
                # the same arithmetic as a profile scored above (ISAAC's and PipeLayer's
                # exact 16-bit crossbars): the same quality, measured once
                quality, shared_with = copy.deepcopy(scored[key][0]), scored[key][1]
            elif rescored:

                def under_effects(hooks: list[Any] = hooks) -> dict[str, Any]:
                    calibrate_effects(hooks, family, model, prepared)
                    seed_everything(request.run.seed)
                    with ops.hooks(*hooks):
                        quality = _quality(
                            family.evaluate(
                                model,
                                prepared,
                                request.split,
                                limit=request.effects_examples(),
                                beam=request.beam,
                            )
                        )
                    # what the cost prices: the products MulTCIM's pruner let the function use
                    shares = pruning_shares(hooks)
                    return {**quality, "pruning_shares": shares} if shares else quality

                quality, reused = memo.effects(checkpoint, profile, signature, under_effects)
                if key is not None:
                    scored[key] = (quality, profile.name)
            else:
                quality = host["quality"]
            # effects re-scored fewer examples than the host: compare on the same ones
            subset = quality["samples"] < host["quality"]["samples"]
            if subset and host_same_n is None and sweep is None:
                seed_everything(request.run.seed)
                host_same_n = _quality(
                    family.evaluate(
                        model, prepared, request.split, limit=quality["samples"], beam=request.beam
                    )
                )
            record = results.new_record(
                task=prepared.key,
                family=request.run.spec.family,
                split=request.split,
                model=request.model,
                profile=profile.name,
                preset=request.run.preset,
                seed=request.run.seed,
                beam=request.beam,
                limit=request.limit,
                data_fingerprint=prepared.fingerprint,
                checkpoint={
                    "path": str(checkpoint.directory),
                    "sha256": checkpoint.sha256,
                    # Where the weights were trained when not here (import, eval --checkpoint).
                    "origin": checkpoint.info.get("origin"),
                    "trained_on": checkpoint.info.get("data_fingerprint"),
                    "parameters": checkpoint.info.get("parameters"),
                    "train_seconds": checkpoint.info.get("train_seconds"),
                    # What training ran in (fp32 or bf16 autocast); None: before it was kept.
                    "train_precision": checkpoint.info.get("precision"),
                    # Where it was trained (cpu, cuda (NAME)); None: before it was kept.
                    "train_device": checkpoint.info.get("device"),
                    # The run's identity: `seqbench run` counts a cell finished only when a
                    # record of the identity it would run now exists.
                    "identity": checkpoints.identity_hash(checkpoint.info.get("identity", {})),
                },
                profile_hash=profile.hash,
                # the profile's and its fallback's hash: `run` redoes a record priced on another
                profile_chain_hash=chain_hash(profile),
                profile_citation=profile.citation,
                quality=quality,
                quality_host=host["quality"],
                quality_host_same_n=host_same_n if subset else None,
                test_set=prepared.manifest.get("external"),
                effects=[type(h).__name__ for h in hooks],
                # False: no effect acts on this model's ops, its quality is the host's
                effects_rescored=rescored,
                # the profile whose re-score this one shares (the same effects arithmetic)
                effects_shared_with=shared_with,
                # what the quality under effects depends on: an equal one may lend it
                effects_signature=signature,
                # earlier records whose host score or quality under effects this one took over
                reused_from=memo.reused_from(profile),
                host=host["host"],
                # priced on the tokens the function kept (MulTCIM's pruner), else as traced
                simulated=simulate_phases(
                    priced_trace(trace, quality.get("pruning_shares") or {}), profile
                ),
                trace=trace.summary(),
                sweep=sweep(profile, reused) if sweep else None,
            )
            if extra:
                # where the profile's search finds the gallery: DRAM, or NAND read or in place
                where = gallery_label(profile)
                record["workloads"] = [
                    {
                        **facts,
                        **(
                            {"simulated": simulate_phases(t, profile), "gallery_in": where}
                            if t
                            else {}
                        ),
                    }
                    for facts, t in extra
                ]
            if write:
                record["path"] = str(results.save(record, results_root))
            records.append(record)
        return records
