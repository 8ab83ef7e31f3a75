"""Checkpoints: ``runs/<task>/<model>/<run-id>/`` (model.safetensors, config.json, train log).

A finished checkpoint folder is built whole in a temp folder and swapped into place in one
step, so weights and ``config.json`` always belong together; ``config.json`` records the
weights' SHA-256, checked wherever the weights are read. While training, ``resume/`` in the
run folder holds the last finished epoch (weights, optimiser, schedule step, RNG states), from
which the same command carries on after a kill.

The run id names everything that shapes the weights: preset, seed, prepared data, and a hash
of the model config, the training options and the declared code versions of the model
and its family (:func:`identity`, :func:`code_version`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError as SafetensorsError
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from seqbench import paths
from seqbench.atomic import atomic_dir, atomic_path, write_json
from seqbench.data.cache import file_sha256
from seqbench.errors import SeqbenchError
from seqbench.families import discover
from seqbench.families.base import FAMILY_REGISTRY
from seqbench.models import MODEL_REGISTRY, build_model

# Bump when the checkpoint layout changes: older folders then no longer match.
CHECKPOINT_FORMAT = 2


def run_id(preset: str, seed: int, data_fingerprint: str, identity_hash: str = "") -> str:
    """The run folder name: one per (preset, seed, prepared data, model/train identity)."""
    rid = f"{preset}-seed{seed}-{data_fingerprint[:8]}"
    return f"{rid}-{identity_hash[:8]}" if identity_hash else rid


def run_dir(task_key: str, model: str, rid: str) -> Path:
    return paths.runs_dir() / task_key.replace(":", "__") / model / rid


def code_version(model: str, family: str | None = None) -> str:
    """The declared code versions that shape a model's weights: ``model<N>.family<M>``.

    N is the ``VERSION`` of the module that builds the model, M that of its family's module
    (1 where a module declares none), read the way generator versions are. A change that alters
    what training produces bumps one of them, and earlier checkpoints then miss; an edit that
    does not (a comment, a move, a refactor) keeps every trained checkpoint valid, so the
    published suite is not retrained for hours after each code change.
    """
    discover()  # registers the families (each package's family.py)
    entry = MODEL_REGISTRY.get(model)
    model_version = _module_version(entry.factory)
    family_name = family or entry.family
    family_version = 1
    if family_name in FAMILY_REGISTRY:
        family_version = _module_version(type(FAMILY_REGISTRY.get(family_name)))
    return f"model{model_version}.family{family_version}"


def _module_version(obj: Any) -> int:
    module = inspect.getmodule(obj)
    return int(getattr(module, "VERSION", 1))


def identity(
    *,
    model: str,
    family: str,
    model_config: dict[str, Any],
    train_options: dict[str, Any],
    data_fingerprint: str,
    seed: int,
) -> dict[str, Any]:
    """Everything that shapes the trained weights, as one JSON-able dict."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model": model,
        "family": family,
        "model_config": model_config,
        "train_options": train_options,
        "data_fingerprint": data_fingerprint,
        "seed": seed,
        "code_version": code_version(model, family),
    }


def identity_hash(ident: dict[str, Any]) -> str:
    blob = json.dumps(ident, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


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

    @property
    def weights(self) -> Path:
        return self.directory / "model.safetensors"


def own_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A contiguous CPU copy of ``tensor`` with a buffer of its own: safetensors refuses
    tensors that share memory, as parameters that are views into one buffer
    (:class:`seqbench.optim.FlatAdamW`) and their moments do."""
    return tensor.detach().cpu().clone(memory_format=torch.contiguous_format)


def state_tensors(model: nn.Module) -> dict[str, Any]:
    return {k: own_copy(v) for k, v in model.state_dict().items()}


def save(
    directory: Path, model: nn.Module, info: dict[str, Any], log: list[dict[str, Any]]
) -> Checkpoint:
    """Publish weights, the training log and config.json as one folder, in one step."""
    with atomic_dir(directory) as tmp:
        save_file(state_tensors(model), str(tmp / "model.safetensors"))
        digest = file_sha256(tmp / "model.safetensors")
        (tmp / "train_log.jsonl").write_text(
            "".join(json.dumps(row) + "\n" for row in log), encoding="utf-8"
        )
        info = {**info, "weights_sha256": digest}
        (tmp / "config.json").write_text(
            json.dumps(info, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
        )
    return Checkpoint(directory, info)


def find(directory: Path) -> Checkpoint | None:
    """The finished checkpoint in ``directory``, or None (the weights are not hashed here)."""
    try:
        info = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError: bad JSON or bad UTF-8
        return None
    if not isinstance(info, dict) or not info.get("complete"):
        return None
    if not (directory / "model.safetensors").is_file() or "weights_sha256" not in info:
        return None
    return Checkpoint(directory, info)


def verify(checkpoint: Checkpoint) -> None:
    """Raise a one-line error unless the weights file hashes to the recorded SHA-256."""
    path = checkpoint.weights
    try:
        actual = file_sha256(path)
    except OSError as err:
        raise SeqbenchError(
            f"checkpoint {path} is unreadable ({err})",
            "train again with `seqbench train ... --force`",
        ) from err
    if actual != checkpoint.sha256:
        raise SeqbenchError(
            f"checkpoint {path} hashes to {actual[:12]} but its config.json records "
            f"{checkpoint.sha256[:12]} (damaged or replaced)",
            "train again with `seqbench train ... --force`",
        )


def load_model(checkpoint: Checkpoint) -> nn.Module:
    """Verify the weights, rebuild the model from its config and load them (eval mode)."""
    path = checkpoint.weights
    verify(checkpoint)
    check_loadable(checkpoint)  # nothing allocated for a config that does not fit its weights
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


# A model whose buffers (positional tables, masks) outgrow its weights this much is not one of
# ours: a config altered to allocate terabytes is refused before anything is allocated.
MAX_EXTRA_ELEMENTS = 2**26


def weight_shapes(path: Path, where: str = "", fix: str = "") -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors header (no tensor data is read)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118
    except (SafetensorsError, OSError, ValueError, RuntimeError) as err:
        raise SeqbenchError(
            f"{where or path.parent}: {path.name} is not a readable safetensors file ({err})",
            fix or "train or export it again",
        ) from err


def check_loadable(checkpoint: Checkpoint, where: str = "", fix: str = "") -> None:
    """Raise one line unless ``checkpoint``'s config builds its model and the weights file
    holds exactly that model's tensors (names and shapes).

    The model is built on the meta device: nothing is allocated, so a config altered to ask
    for terabytes or negative sizes costs nothing and fails here, naming ``where``.
    """
    where = where or str(checkpoint.directory)
    fix = fix or "train again with `seqbench train ... --force`"
    config = checkpoint.info.get("model_config")
    if not isinstance(config, dict):
        raise SeqbenchError(f"{where}: config.json's model_config is not a mapping", fix)
    stored = weight_shapes(checkpoint.weights, where, fix)
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. zero-element tensors: the error says it
            model = build_model(checkpoint.model_name, config)
    except SeqbenchError as err:
        raise SeqbenchError(f"{where}: config.json: {err.message}", fix) from err
    except Exception as err:  # noqa: BLE001  (a hand-edited config can fail anywhere in __init__)
        raise SeqbenchError(
            f"{where}: config.json does not build model {checkpoint.model_name!r} "
            f"({type(err).__name__}: {err})",
            fix,
        ) from err
    wanted = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if wanted != stored:
        differ = sorted(k for k in set(wanted) | set(stored) if wanted.get(k) != stored.get(k))
        shown = ", ".join(f"{k} {stored.get(k)} vs {wanted.get(k)}" for k in differ[:3])
        raise SeqbenchError(
            f"{where}: the weights do not fit model {checkpoint.model_name!r} as config.json "
            f"describes it ({len(differ)} tensor(s) differ: {shown})",
            fix,
        )
    stored_elements = sum(math.prod(s) for s in stored.values())
    built = sum(t.numel() for t in (*model.parameters(), *model.buffers()))
    if built > 2 * stored_elements + MAX_EXTRA_ELEMENTS:
        raise SeqbenchError(
            f"{where}: config.json asks model {checkpoint.model_name!r} for {built:,} "
            f"elements, its weights hold {stored_elements:,}",
            fix,
        )


# --- resume state (one per run folder, replaced after every epoch) -------------------------


def resume_dir(directory: Path) -> Path:
    return directory / "resume"


def save_resume(directory: Path, tensors: dict[str, Any], state: dict[str, Any]) -> None:
    """Write the epoch's tensors, then the JSON naming their hash (the JSON is the commit)."""
    folder = resume_dir(directory)
    with atomic_path(folder / "state.safetensors") as tmp:
        save_file(tensors, str(tmp))
        digest = file_sha256(tmp)
    write_json(folder / "state.json", {**state, "tensors_sha256": digest})


def load_resume(directory: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(tensors, state) of the last finished epoch, or None when absent or not intact."""
    folder = resume_dir(directory)
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        tensors_path = folder / "state.safetensors"
        if file_sha256(tensors_path) != state["tensors_sha256"]:
            return None
        return load_file(str(tensors_path)), state
    except (OSError, ValueError, KeyError, TypeError, SafetensorsError):
        return None
