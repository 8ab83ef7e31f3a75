"""Measurements that earlier result records already hold, lent to the records `seqbench run`
makes after a profile edit.

An edited profile makes `run` redo that profile's records (:func:`seqbench.executor.is_done`).
What the edit cannot change is taken over instead of measured again: the host score of the
same checkpoint on the same examples (data, split, beam, limit), measured on a host like this
one (device, CPU model, cores, threads, torch), and the quality under the
profile's effects where its :func:`~seqbench.evaluate.effects_signature` is unchanged (an
energy or a latency edited, not an ADC's bits). The new record names what it took over
(``reused_from``). `seqbench eval` measures everything afresh.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from seqbench import checkpoints, evaluate
from seqbench.device import resolve_device
from seqbench.families.base import Prepared, family_for

# What makes two host measurements comparable: where they ran.
HOST_KEYS = ("device", "cpu_model", "cpu_count", "threads", "torch")


def provenance(record: dict[str, Any]) -> str:
    """How a new record names the earlier one it took a measurement from."""
    return f"{record['profile']} record of {record['timestamp']}"


class EarlierRecords(evaluate.Memo):
    """The scoring path's memo over ``records`` (those of this home)."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.here: dict[str, Any] = {}
        self.candidates: list[dict[str, Any]] = []
        self.host_from: str | None = None
        self.effects_from: dict[str, str] = {}

    def begin(self, request: evaluate.EvalRequest, prepared: Prepared) -> None:
        device = resolve_device(request.run.device)
        if not family_for(request.run.spec).evaluates_on_device:
            device = resolve_device("cpu")
        self.here = {k: evaluate.host_info(device)[k] for k in HOST_KEYS}
        same = [
            r
            for r in self.records
            if r.get("task") == prepared.key
            and r.get("model") == request.model
            and r.get("data_fingerprint") == prepared.fingerprint
            and r.get("split") == request.split
            and r.get("beam", 1) == request.beam
            and r.get("limit") == request.limit
        ]
        self.candidates = sorted(same, key=lambda r: str(r["timestamp"]), reverse=True)

    def _of(self, checkpoint: checkpoints.Checkpoint) -> list[dict[str, Any]]:
        return [
            r
            for r in self.candidates
            if (r.get("checkpoint") or {}).get("sha256") == checkpoint.sha256
        ]

    def host(self, checkpoint: checkpoints.Checkpoint, score: Callable[[], Any]) -> Any:
        for record in self._of(checkpoint):
            host = record.get("host") or {}
            if isinstance(record.get("quality_host"), dict) and all(
                host.get(k) == v for k, v in self.here.items()
            ):
                self.host_from = provenance(record)
                return {"quality": copy.deepcopy(record["quality_host"]), "host": record["host"]}
        return score()

    def effects(
        self,
        checkpoint: checkpoints.Checkpoint,
        profile: Any,
        signature: str,
        score: Callable[[], Any],
    ) -> tuple[Any, bool]:
        for record in self._of(checkpoint):
            if record.get("effects_rescored") and record.get("effects_signature") == signature:
                self.effects_from[profile.name] = provenance(record)
                return copy.deepcopy(record["quality"]), True
        return score(), False

    def reused_from(self, profile: Any) -> dict[str, str] | None:
        taken = {"host": self.host_from, "effects": self.effects_from.get(profile.name)}
        taken = {k: v for k, v in taken.items() if v}
        return taken or None
