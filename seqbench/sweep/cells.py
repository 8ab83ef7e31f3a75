"""One sweep cell: (task, model, preset, seed, profile overrides, repeat) -> one record.

A cell is scored by the one scoring path, :func:`seqbench.evaluate.run`, on its derived
profile: the checkpoint's cached trace is priced on it (cost-only parameters need nothing
else), and the host score and the quality under the profile's functional effects come from
the sweep's state (:class:`SweepMemo`), the latter keyed by the values of the parameters the
effects read: cells that differ only in cost-only parameters share one evaluation. The record
has the fields of an ``eval`` record, with the cell's facts under ``sweep``. The worker
returns it; the driver writes it (one file per cell id), so a cell finished twice is still
recorded once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from seqbench import checkpoints, evaluate
from seqbench.accel import functional
from seqbench.accel.profile import load_named
from seqbench.atomic import write_json
from seqbench.config import load_task
from seqbench.families.base import run_spec
from seqbench.sweep import grid

# Bumped when what the quality cache holds changes, so older entries are measured again.
QUALITY_CACHE_VERSION = 2


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
    device: str = "auto"  # where it runs: not part of the cell's id (the record says)

    @property
    def noise_seed(self) -> int:
        return self.seed + evaluate.NOISE_STRIDE * self.repeat

    def cell_id(self) -> str:
        """Stable across runs and machines: the record's file name."""
        key = {k: v for k, v in asdict(self).items() if k not in ("state", "device")}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    def label(self) -> str:
        point = ", ".join(f"{k}={v:g}" for k, v in self.overrides)
        return f"{point} (repeat {self.repeat})"

    def record_path(self) -> Path:
        return Path(self.state) / "records" / f"{self.cell_id()}.json"


def request_of(cell: SweepCell) -> evaluate.EvalRequest:
    """The evaluation a cell is: its run spec, scored on the first ``effects_limit``
    examples with and without effects, with the repeat's noise seed."""
    spec, subset = load_task(cell.task)
    return evaluate.EvalRequest(
        run=run_spec(spec, subset, cell.preset, cell.model, cell.seed).on(cell.device),
        split=cell.split,
        accels=cell.accel,
        limit=cell.effects_limit,
        effects_limit=cell.effects_limit,
        repeat=cell.repeat,
    )


def functional_signature(cell: SweepCell) -> str:
    """What the quality under effects depends on besides the checkpoint: the values of the
    parameters the effects read, the examples scored and the noise seed (when noisy)."""
    profile = grid.derive(load_named(cell.accel), dict(cell.overrides))
    key = {
        "split": cell.split,
        "limit": cell.effects_limit,
        **functional.signature(profile),
        "noise_seed": cell.noise_seed if functional.is_noisy(profile) else None,
        "version": QUALITY_CACHE_VERSION,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def quality_key(cell: SweepCell, checkpoint_sha: str) -> str:
    """The quality cache's file name: the checkpoint and the cell's functional signature."""
    return hashlib.sha256(f"{checkpoint_sha}{functional_signature(cell)}".encode()).hexdigest()[:16]


class SweepMemo(evaluate.Memo):
    """The sweep's state as the scoring path's memo: ``host/`` holds the host score per
    (checkpoint, split, limit), ``quality/`` the quality under effects per checkpoint and
    functional signature (:func:`quality_key`)."""

    def __init__(self, cell: SweepCell) -> None:
        self.state, self.cell = Path(cell.state), cell

    def host(self, checkpoint: checkpoints.Checkpoint, score: Callable[[], Any]) -> Any:
        cell = self.cell
        name = f"{checkpoint.sha256[:16]}-{cell.split}-{cell.effects_limit}"
        return _cached(self.state / "host" / f"{name}-v{QUALITY_CACHE_VERSION}.json", score)[0]

    def effects(
        self,
        checkpoint: checkpoints.Checkpoint,
        profile: Any,
        signature: str,
        score: Callable[[], Any],
    ) -> tuple[Any, bool]:
        # keyed as sweep caches always were (quality_key), which existing caches hold
        key = quality_key(self.cell, checkpoint.sha256)
        return _cached(self.state / "quality" / f"{key}.json", score)


def _cached(path: Path, score: Callable[[], Any]) -> tuple[Any, bool]:
    """The JSON at ``path``, or ``score()`` written there; and whether it was reused."""
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8")), True
        except (OSError, ValueError):
            pass  # a torn or foreign file: measure again
    value = score()
    write_json(path, value)
    return value, False


def run_cell(cell: SweepCell) -> dict[str, Any]:
    """Score one cell (the checkpoint must exist: the driver trains it first)."""
    base = load_named(cell.accel)
    profile = grid.derive(base, dict(cell.overrides))

    def facts(derived: Any, reused: bool) -> dict[str, Any]:
        return {
            "cell_id": cell.cell_id(),
            "overrides": dict(cell.overrides),
            "derived": {k: derived.params[k].raw for k in derived.params if k.startswith("chip.")},
            "repeat": cell.repeat,
            "noise_seed": cell.noise_seed,
            "noisy": functional.is_noisy(derived),
            "base_profile_hash": base.hash,
            "quality_reused": reused,
        }

    (record,) = evaluate.run(
        request_of(cell),
        profiles=[profile],
        memo=SweepMemo(cell),
        sweep=facts,
        write=False,
    )
    return record
