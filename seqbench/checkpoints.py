"""Checkpoints: ``runs/<task>/<model>/<run-id>/`` (model.safetensors, config.json, train log).

``config.json`` is written last, so a folder without it (a killed run) is never loaded as a
finished checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError as SafetensorsError
from safetensors.torch import load_file, save_file
from torch import nn

from seqbench import paths
from seqbench.atomic import atomic_path, write_json, write_text
from seqbench.errors import SeqbenchError
from seqbench.models import build_model


def run_id(preset: str, seed: int, data_fingerprint: str) -> str:
    """The run folder name: one per (preset, seed, prepared data)."""
    return f"{preset}-seed{seed}-{data_fingerprint[:8]}"


def run_dir(task_key: str, model: str, rid: str) -> Path:
    return paths.runs_dir() / task_key.replace(":", "__") / model / rid


@dataclass
class Checkpoint:
    """A finished training run on disk."""

    directory: Path
    info: dict[str, Any]

    @property
    def model_name(self) -> str:
        return str(self.info["model"])

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.info["model_config"])

    @property
    def sha256(self) -> str:
        return str(self.info["weights_sha256"])


def save(
    directory: Path, model: nn.Module, info: dict[str, Any], log: list[dict[str, Any]]
) -> Checkpoint:
    """Write weights, the training log and (last) config.json, each atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(directory / "model.safetensors") as tmp:
        save_file(state, str(tmp))
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    write_text(directory / "train_log.jsonl", "".join(json.dumps(row) + "\n" for row in log))
    info = {**info, "weights_sha256": digest}
    write_json(directory / "config.json", info)
    return Checkpoint(directory, info)


def find(directory: Path) -> Checkpoint | None:
    """The finished checkpoint in ``directory``, or None."""
    try:
        info = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not info.get("complete") or not (directory / "model.safetensors").is_file():
        return None
    return Checkpoint(directory, info)


def load_model(checkpoint: Checkpoint) -> nn.Module:
    """Rebuild the model from its config and load the weights (eval mode)."""
    path = checkpoint.directory / "model.safetensors"
    try:
        state = load_file(str(path))
    except (SafetensorsError, OSError, ValueError) as err:
        raise SeqbenchError(
            f"checkpoint {path} is unreadable ({err})",
            "delete the run folder and train again with `seqbench train ... --force`",
        ) from err
    model = build_model(checkpoint.model_name, checkpoint.config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SeqbenchError(
            f"checkpoint {path} does not fit model {checkpoint.model_name!r} "
            f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})",
            "train again with `seqbench train ... --force`",
        )
    return model.eval()
