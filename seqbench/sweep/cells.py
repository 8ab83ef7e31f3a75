"""One sweep cell: (task, model, preset, seed, profile overrides, repeat) -> one record.

A cell prices the checkpoint's cached trace on its derived profile (cost-only parameters need
nothing else) and takes the quality under the profile's functional effects from the sweep's
quality cache, keyed by the values of the parameters the effects read: cells that differ only
in cost-only parameters share one evaluation. The worker returns the record; the driver writes
it (one file per cell id), so a cell finished twice is still recorded once.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from seqbench import checkpoints, evaluate, ops, results
from seqbench.accel.cost import simulate
from seqbench.accel.effects import describe, effect_hooks, priced_trace, pruning_shares
from seqbench.accel.profile import load_named
from seqbench.atomic import write_json
from seqbench.config import load_task
from seqbench.data import cache as data_cache
from seqbench.families.base import family_for
from seqbench.sweep import grid
from seqbench.train import seed_everything

# Noise seeds of repeat r: seed + NOISE_STRIDE * r (repeat 0 is what `seqbench eval` uses).
NOISE_STRIDE = 1000


@dataclass(frozen=True)
class SweepCell:
    """One design point of a sweep, for one noise repeat."""

    state: str  # the sweep's state folder (records, quality cache), shared by all workers
    task: str
    model: str
    preset: str
    accel: str
    overrides: tuple[tuple[str, float], ...]
    seed: int = 0
    repeat: int = 0
    split: str = "test"
    effects_limit: int | None = None

    @property
    def noise_seed(self) -> int:
        return self.seed + NOISE_STRIDE * self.repeat

    def cell_id(self) -> str:
        """Stable across runs and machines: the record's file name."""
        key = {k: v for k, v in asdict(self).items() if k != "state"}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    def label(self) -> str:
        point = ", ".join(f"{k}={v:g}" for k, v in self.overrides)
        return f"{point} (repeat {self.repeat})"

    def record_path(self) -> Path:
        return Path(self.state) / "records" / f"{self.cell_id()}.json"


def _request(cell: SweepCell) -> evaluate.EvalRequest:
    spec, subset = load_task(cell.task)
    return evaluate.EvalRequest(
        spec=spec,
        subset=subset,
        preset=cell.preset,
        model=cell.model,
        split=cell.split,
        accels=cell.accel,
        seed=cell.seed,
        effects_limit=cell.effects_limit,
    )


def functional_signature(cell: SweepCell) -> str:
    """What the quality under effects depends on besides the checkpoint: the values of the
    parameters the effects read, the examples scored and the noise seed (when noisy)."""
    profile = grid.derive(load_named(cell.accel), dict(cell.overrides))
    functional = {p: profile.params[p].raw for p in sorted(grid.functional_paths(profile))}
    key = {
        "split": cell.split,
        "limit": cell.effects_limit,
        "effects": profile.effects,
        "settings": profile.settings,
        "functional": functional,
        "noise_seed": cell.noise_seed if grid.is_noisy(profile) else None,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def quality_key(cell: SweepCell, checkpoint_sha: str) -> str:
    """The quality cache's file name: the checkpoint and the cell's functional signature."""
    return hashlib.sha256(f"{checkpoint_sha}{functional_signature(cell)}".encode()).hexdigest()[:16]


def run_cell(cell: SweepCell) -> dict[str, Any]:
    """Evaluate one cell (the checkpoint must exist: the driver trains it first)."""
    started = time.perf_counter()
    request = _request(cell)
    family = family_for(request.spec)
    prepared, _ = family.prepare(request.spec, request.subset, cell.preset)
    base = load_named(cell.accel)
    profile = grid.derive(base, dict(cell.overrides))
    with data_cache.reading(prepared.directory):
        checkpoint = evaluate.find_checkpoint(request, family, prepared)
        if checkpoint is None:
            raise evaluate.missing_checkpoint(request, prepared)
        model = checkpoints.load_model(checkpoint)
        trace = evaluate.cached_trace(family, model, prepared, checkpoint, request)
        key = quality_key(cell, checkpoint.sha256)
        cache = Path(cell.state) / "quality" / f"{key}.json"
        reused = cache.is_file()
        if reused:
            quality = json.loads(cache.read_text(encoding="utf-8"))
        else:
            hooks = effect_hooks(profile, cell.noise_seed)
            evaluate.calibrate_effects(hooks, family, model, prepared)
            seed_everything(cell.seed)
            with ops.hooks(*hooks):
                outcome = family.evaluate(
                    model,
                    prepared,
                    cell.split,
                    limit=cell.effects_limit,
                    beam=1,
                    progress=False,
                )
            quality = {
                "metrics": outcome.metrics,
                "primary": outcome.primary,
                "signature": outcome.signature,
                "samples": outcome.samples,
                "effects": describe(hooks),
                "pruning_shares": pruning_shares(hooks),  # what the cost prices (MulTCIM)
            }
            write_json(cache, quality)
        shares = quality.get("pruning_shares") or {}
        simulated = simulate(priced_trace(trace, shares), profile).to_dict()
    return results.new_record(
        task=prepared.key,
        family=request.spec.family,
        split=cell.split,
        model=cell.model,
        profile=base.name,
        preset=cell.preset,
        seed=cell.seed,
        cell_id=cell.cell_id(),
        overrides=dict(cell.overrides),
        derived={k: profile.params[k].raw for k in profile.params if k.startswith("chip.")},
        repeat=cell.repeat,
        noise_seed=cell.noise_seed,
        noisy=grid.is_noisy(profile),
        limit=cell.effects_limit,
        data_fingerprint=prepared.fingerprint,
        checkpoint={"path": str(checkpoint.directory), "sha256": checkpoint.sha256},
        profile_hash=profile.hash,
        base_profile_hash=base.hash,
        quality=quality,
        quality_reused=reused,
        simulated=simulated,
        trace=trace.summary(),
        cell_wall_s=time.perf_counter() - started,
    )
