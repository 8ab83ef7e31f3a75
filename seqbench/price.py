"""Pricing any model: one traced forward pass, simulated on profiles, as cost records.

A cost record has the shape of an eval record (so ``report`` reads it) with family
``models``, ``cost_only: true`` and an empty quality block whose signature says that no
quality was measured. One record per profile; the ``models`` board shows them.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import torch

from seqbench import paths, results
from seqbench.accel.cost import simulate
from seqbench.accel.profile import resolve_profiles
from seqbench.external.model import ExternalModel
from seqbench.progress import make_progress
from seqbench.trace import Trace
from seqbench.trace_aten import trace_forward

FAMILY = "models"
TASK = "price"
NO_QUALITY = "cost only: no quality measured (seqbench price)"


def trace_model(model: ExternalModel, *, stats: bool = True) -> tuple[Trace, float]:
    """The model's trace and the host's wall-clock seconds for that forward pass."""
    start = time.perf_counter()
    trace = trace_forward(
        model.module,
        model.inputs,
        unit=model.unit,
        units=model.units,
        samples=model.samples,
        stats=stats,
        meta={"source": model.source},
    )
    return trace, time.perf_counter() - start


def identity(model: ExternalModel) -> str:
    """What makes two pricings the same model: source, class, parameter count and shapes."""
    shapes = {k: list(v.shape) for k, v in model.module.state_dict().items()}
    text = json.dumps(
        [model.source, type(model.module).__name__, shapes], sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


def price(
    model: ExternalModel,
    accel: str = "all",
    *,
    stats: bool = True,
    results_root: Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Trace ``model`` once, simulate it on every profile of ``accel`` and save one cost
    record per profile; returns the records (each with its ``path``)."""
    profiles = resolve_profiles(accel)
    name = paths.check_name(model.name, "model name", "seqbench price")
    with make_progress() as bar:
        task = bar.add_task("price", total=1 + len(profiles), info=f"tracing {name}")
        trace, wall = trace_model(model, stats=stats)
        bar.advance(task)
        checkpoint = {
            "sha256": identity(model),
            "parameters": model.parameters,
            "train_seconds": None,
        }
        host = {
            "samples": model.samples,
            "units": model.units,
            "unit": trace.unit,
            "wall_s": wall,
            "units_per_s": model.units / wall if wall > 0 and stats else None,
            "threads": torch.get_num_threads(),
        }
        shape = f"{model.samples}x{model.units // max(model.samples, 1)}"  # samples x units
        common = {
            "task": TASK,
            "split": "forward",
            "model": name,
            "family": FAMILY,
            "cost_only": True,
            "source": model.source,
            "checkpoint": checkpoint,
            "data_fingerprint": shape,  # a row per model and input shape
            "preset": TASK,
            "beam": None,
            "limit": None,
            "quality": {"metrics": {}, "primary": "none", "signature": NO_QUALITY},
            "host": host,
            "trace": trace.summary(),
        }
        records = []
        for profile in profiles:
            bar.update(task, info=profile.name)
            simulated = simulate(trace, profile).to_dict()
            record = results.new_record(profile=profile.name, simulated=simulated, **common)
            record["path"] = str(results.save(record, results_root))
            records.append(record)
            bar.advance(task)
    return records
