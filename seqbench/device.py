"""Where a run's tensors live: ``auto``, ``cpu``, ``cuda`` or ``mps``, resolved and checked.

The device is not part of a checkpoint's identity (a CPU-trained and a CUDA-trained run of the
same configuration are one run: same options, same data, same seed); the checkpoint and every
record say where it ran instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from seqbench.errors import SeqbenchError


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


# Each named device and how to tell whether this machine has it (``auto`` is not one).
AVAILABLE: dict[str, Callable[[], bool]] = {
    "cpu": lambda: True,
    "cuda": torch.cuda.is_available,
}
if getattr(torch.backends, "mps", None) is not None:  # torch built with Apple's backend
    AVAILABLE["mps"] = _mps_available

DEVICE_CHOICES: tuple[str, ...] = ("auto", *AVAILABLE)


def resolve_device(requested: str) -> torch.device:
    """The device ``requested`` names: ``auto`` is CUDA when present, else the CPU (silently).

    A named device this machine lacks is a one-line error with the fix.
    """
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested not in AVAILABLE:
        raise SeqbenchError(
            f"unknown device {requested!r}", f"use one of: {', '.join(DEVICE_CHOICES)}"
        )
    if not AVAILABLE[requested]():
        raise SeqbenchError(
            f"--device {requested}: this machine's torch {torch.__version__} sees no "
            f"{requested.upper()} device",
            "use --device auto (or cpu), or install a torch build for your GPU",
        )
    return torch.device(requested)


def to_device(value: Any, device: torch.device) -> Any:
    """``value`` with every tensor in it on ``device``: a tensor, a batch with its own
    ``to(device)``, a dataclass, or tuples, lists and dicts of them; other values as they are."""
    if torch.is_tensor(value):
        return value.to(device, non_blocking=True)
    mover = getattr(value, "to", None)
    if callable(mover) and not isinstance(value, type):
        return mover(device)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: to_device(getattr(value, f.name), device)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(to_device(v, device) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value


def device_name(device: torch.device) -> str:
    """How records name ``device``: ``cpu``, or the accelerator's type and product name."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def model_device(model: torch.nn.Module) -> torch.device:
    """The device ``model``'s weights are on (the CPU for a model without any)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")
