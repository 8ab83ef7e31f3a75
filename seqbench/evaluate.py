"""``seqbench eval``: quality on the host, then per accelerator profile the simulated cost of
the traced inference and the quality measured with the profile's functional effects on."""

from __future__ import annotations

import dataclasses
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqbench import checkpoints, ops, results
from seqbench.accel.cost import simulate
from seqbench.accel.effects import effect_hooks
from seqbench.accel.profile import resolve_profiles
from seqbench.config import TaskSpec
from seqbench.data import cache as data_cache
from seqbench.errors import SeqbenchError
from seqbench.families.base import EvalOutcome, Prepared, TaskFamily, family_for
from seqbench.progress import console
from seqbench.trace import Trace, Tracer
from seqbench.train import plan_run, seed_everything


@dataclass
class EvalRequest:
    """Everything that identifies one evaluation."""

    spec: TaskSpec
    subset: str | None
    preset: str
    model: str
    split: str = "test"
    beam: int = 1
    accels: str = "cpu"
    seed: int = 0
    limit: int | None = None
    # Profiles with effects re-score only the first N examples (a full decode each on a CPU).
    effects_limit: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("limit", self.limit), ("effects_limit", self.effects_limit)):
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise SeqbenchError(
                    f"{name} must be a whole number >= 1, got {value!r}",
                    f"omit {name} to score the whole split",
                )
        if self.beam < 1:
            raise SeqbenchError(f"beam must be >= 1, got {self.beam}", "use beam 1 (greedy)")

    def effects_examples(self) -> int | None:
        limits = [n for n in (self.limit, self.effects_limit) if n is not None]
        return min(limits) if limits else None


def with_preset_limit(request: EvalRequest) -> EvalRequest:
    """``request`` with its preset's ``test_limit`` when no ``--limit`` was given.

    Only the unit-test preset (``tiny``) sets one. It limits scoring the way ``--limit`` does,
    so the record is marked partial (``limit``, ``n``); the prepared test split stays whole.
    """
    if request.limit is not None:
        return request
    preset_limit = request.spec.preset(request.preset).get("test_limit")
    return dataclasses.replace(request, limit=int(preset_limit)) if preset_limit else request


def find_checkpoint(
    request: EvalRequest, family: TaskFamily, prepared: Prepared
) -> checkpoints.Checkpoint | None:
    """The finished checkpoint ``request`` names, or None (training it is the stage's call)."""
    plan = plan_run(request.spec, prepared, family, request.model, request.preset, request.seed)
    return checkpoints.find(plan.directory)


def missing_checkpoint(request: EvalRequest, prepared: Prepared) -> SeqbenchError:
    """The error for a request whose checkpoint does not exist, with the command that fixes it."""
    return SeqbenchError(
        f"no checkpoint of {request.model!r} for {prepared.key} (preset {request.preset}, "
        f"seed {request.seed})",
        f"run `seqbench train {prepared.key} --model {request.model} --preset {request.preset}`",
    )


def _checkpoint(
    request: EvalRequest, family: TaskFamily, prepared: Prepared
) -> checkpoints.Checkpoint:
    found = find_checkpoint(request, family, prepared)
    if found is None:
        raise missing_checkpoint(request, prepared)
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
        "signature": outcome.signature,
        "breakdown": outcome.breakdown,
        "samples": outcome.samples,
    }


def host_info() -> dict[str, Any]:
    return {
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


def run(
    request: EvalRequest,
    results_root: Path | None = None,
    *,
    prepared: Prepared | None = None,
    checkpoint: checkpoints.Checkpoint | None = None,
) -> list[dict[str, Any]]:
    """Evaluate and write one result record per profile; returns the records.

    ``prepared`` and ``checkpoint`` (``eval --checkpoint``, ``--test-set``) replace the task's
    own prepared data and this home's checkpoint of the request.
    """
    profiles = resolve_profiles(request.accels)
    family = family_for(request.spec)
    request = with_preset_limit(request)
    if prepared is None:
        prepared, _ = family.prepare(request.spec, request.subset, request.preset)
    # Held to the end: `cache clean` leaves data a live eval reads.
    with data_cache.reading(prepared.directory):
        prepared.require_split(request.split)
        checkpoint = checkpoint or _checkpoint(request, family, prepared)
        model = checkpoints.load_model(checkpoint)

        seed_everything(request.seed)
        host = family.evaluate(
            model, prepared, request.split, limit=request.limit, beam=request.beam
        )
        host_same_n: EvalOutcome | None = None  # the host on the examples effects re-score
        trace = cached_trace(family, model, prepared, checkpoint, request)
        extra = family.extra_workloads(model, prepared, request.split)

        records = []
        for profile in profiles:
            hooks = effect_hooks(profile, request.seed)
            if hooks:
                seed_everything(request.seed)
                with ops.hooks(*hooks):
                    quality = family.evaluate(
                        model,
                        prepared,
                        request.split,
                        limit=request.effects_examples(),
                        beam=request.beam,
                    )
                if quality.samples < host.samples and host_same_n is None:
                    seed_everything(request.seed)
                    host_same_n = family.evaluate(
                        model, prepared, request.split, limit=quality.samples, beam=request.beam
                    )
            else:
                quality = host
            record = results.new_record(
                task=prepared.key,
                family=request.spec.family,
                split=request.split,
                model=request.model,
                profile=profile.name,
                preset=request.preset,
                seed=request.seed,
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
                },
                profile_hash=profile.hash,
                profile_citation=profile.citation,
                quality=_quality(quality),
                quality_host=_quality(host),
                quality_host_same_n=(
                    _quality(host_same_n)
                    if quality.samples < host.samples and host_same_n
                    else None
                ),
                test_set=prepared.manifest.get("external"),
                effects=[type(h).__name__ for h in hooks],
                host={
                    "wall_s": host.wall_s,
                    "samples": host.samples,
                    "units": host.units,
                    "unit": host.unit,
                    "units_per_s": host.units / host.wall_s if host.wall_s > 0 else None,
                    **host_info(),
                },
                simulated=simulate_phases(trace, profile),
                trace=trace.summary(),
            )
            if extra:
                record["workloads"] = [
                    {**facts, **({"simulated": simulate_phases(t, profile)} if t else {})}
                    for facts, t in extra
                ]
            record["path"] = str(results.save(record, results_root))
            records.append(record)
        return records
