"""Options shared by several commands, written once: where cells run (``run``, ``sweep``) and
the device models train and score on (``train``, ``eval``, ``run``, ``sweep``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click


class ExecutorChoice(click.Choice):
    """The names the ``EXECUTORS`` registry holds, read when first needed: the registry's
    module loads torch, which ``seqbench --help`` must not wait for."""

    def __init__(self) -> None:
        super().__init__(())

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        from seqbench.executor import EXECUTORS

        return tuple(EXECUTORS.names())

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        pass  # always the registry's


def executor_options(what: str, jobs_help: str) -> Callable[[Any], Any]:
    """``--executor``, ``--jobs`` and ``--address`` for a command that runs ``what``."""

    def apply(command: Any) -> Any:
        for option in reversed(
            [
                click.option(
                    "--executor",
                    type=ExecutorChoice(),
                    default="inprocess",
                    show_default=True,
                    help=f"Where {what} run.",
                ),
                click.option("--jobs", type=int, default=2, show_default=True, help=jobs_help),
                click.option("--address", help="Ray cluster address (default: start a local Ray)."),
            ]
        ):
            command = option(command)
        return command

    return apply


def check_executor_options(executor: str, jobs: int, address: str | None) -> None:
    """Refuse a bad ``--jobs`` or an ``--address`` without Ray, and check that the Ray
    cluster answers (seconds, not minutes of Ray retries), before any work."""
    if jobs < 1:
        raise click.BadParameter(f"must be >= 1, got {jobs}", param_hint="--jobs")
    if address and executor != "ray":
        raise click.BadParameter(
            f"--address {address} needs --executor ray (got --executor {executor})",
            param_hint="--address",
        )
    if address:
        from seqbench.executor import check_ray_address

        check_ray_address(address)


DEVICE_HELP = (
    "Where models train and score: auto (CUDA when present, else the CPU), cpu, cuda "
    "(or mps where torch has it). Not part of a run's identity; records say where it ran."
)


class DeviceChoice(click.Choice):
    """``auto``, ``cpu``, ``cuda`` and, where torch has it, ``mps`` (read when first needed)."""

    def __init__(self) -> None:
        super().__init__(())

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        from seqbench.device import DEVICE_CHOICES

        return DEVICE_CHOICES

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        pass  # always the device module's


def device_option(command: Any) -> Any:
    """``--device`` for a command that trains or scores models."""
    return click.option(
        "--device", type=DeviceChoice(), default="auto", show_default=True, help=DEVICE_HELP
    )(command)


def check_device(device: str) -> None:
    """Refuse a device this machine lacks (one line with the fix) before any work."""
    from seqbench.device import resolve_device

    resolve_device(device)
