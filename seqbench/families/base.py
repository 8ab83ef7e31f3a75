"""The contract every task family (translation, vqa, retrieval, ...) fulfils.

The generic stages (``prepare``, ``train``, ``eval``, tracing, accelerator effects) only call
these methods; everything family-specific (data layout, batching, loss, metrics) lives in
the family's own module, registered with ``@FAMILIES.register("name")``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from seqbench.config import TaskSpec, task_key
from seqbench.errors import SeqbenchError
from seqbench.registry import Registry


@dataclass
class Prepared:
    """A prepared task: its cache folder and manifest (splits, tokenizer files, sizes)."""

    spec: TaskSpec
    subset: str | None
    preset: str
    directory: Path
    manifest: dict[str, Any]

    @property
    def key(self) -> str:
        return task_key(self.spec, self.subset)

    @property
    def fingerprint(self) -> str:
        return str(self.manifest["fingerprint"])

    def split_names(self) -> list[str]:
        return list(self.manifest.get("splits", {}))

    def require_split(self, split: str) -> None:
        if split not in self.manifest.get("splits", {}):
            raise SeqbenchError(
                f"task {self.key!r} has no split {split!r}",
                f"choose one of: {', '.join(self.split_names())}",
            )


@dataclass
class EvalOutcome:
    """What evaluating a model on one split measured.

    ``units`` counts what throughput is expressed in (target tokens for translation,
    samples for VQA, queries for retrieval); ``unit`` names it.
    """

    metrics: dict[str, float]
    primary: str
    signature: str
    samples: int
    units: int
    unit: str
    wall_s: float
    breakdown: dict[str, Any] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score(self) -> float:
        return float(self.metrics[self.primary])


class TaskFamily(ABC):
    """One family of tasks; a stateless interpreter of task specs."""

    name: str = ""

    @abstractmethod
    def prepare(
        self,
        spec: TaskSpec,
        subset: str | None,
        preset: str,
        *,
        source_override: str | None = None,
        force: bool = False,
    ) -> tuple[Prepared, bool]:
        """Build (or find in the cache) the prepared data; returns (prepared, was_cached)."""

    @abstractmethod
    def model_config(self, prepared: Prepared, model: str, preset: str) -> dict[str, Any]:
        """The config dict the model factory gets (vocab sizes, preset model sizes...)."""

    @abstractmethod
    def batches(
        self,
        prepared: Prepared,
        split: str,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        epoch: int = 0,
        options: dict[str, Any] | None = None,
    ) -> Iterator[Any]:
        """Training batches of ``split`` for ``epoch`` (``options``: the model's train options)."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any) -> Tensor:
        """Mean training loss of ``batch`` (a scalar tensor)."""

    @abstractmethod
    def evaluate(
        self,
        model: nn.Module,
        prepared: Prepared,
        split: str,
        *,
        limit: int | None = None,
        beam: int = 1,
        batch_size: int = 64,
        progress: bool = True,
    ) -> EvalOutcome:
        """Score ``model`` on ``split`` (the first ``limit`` examples when given).

        Every model op must go through ``seqbench.ops`` so that tracing and accelerator
        effects, installed by the caller with ``ops.hooks``, see the real inference work.
        """

    def train_options(self, spec: TaskSpec, preset: str, model: str) -> dict[str, Any]:
        """Training hyper-parameters from the preset: epochs, batch_size, lr, patience..."""
        opts = spec.preset(preset)
        train = dict(opts.get("train", {}))
        train.update(opts.get("train_overrides", {}).get(model, {}))
        return train


FAMILY_REGISTRY: Registry[TaskFamily] = Registry("family")


def family_for(spec: TaskSpec) -> TaskFamily:
    """The family object interpreting ``spec`` (imports the family modules on first use)."""
    import seqbench.families  # noqa: F401  (registers the families)

    return FAMILY_REGISTRY.get(spec.family)


def cached_prepare(
    spec: TaskSpec,
    subset: str | None,
    preset: str,
    parts: dict[str, Any],
    build: Callable[[Path], dict[str, Any]],
    *,
    force: bool = False,
) -> tuple[Prepared, bool]:
    """The verified cache folder for ``parts`` (the fingerprinted inputs), or a new one.

    ``build(tmp_dir) -> manifest`` writes the data into a temp folder that is published
    atomically; a folder that fails verification (killed run, tampering) is rebuilt.
    Returns (prepared, was_cached).
    """
    from seqbench.data import cache
    from seqbench.progress import console

    fp = cache.fingerprint(parts)
    key = task_key(spec, subset)
    directory = cache.task_cache_dir(key, fp)
    manifest = cache.verify(directory)
    if manifest is not None and not force:
        return Prepared(spec, subset, preset, directory, manifest), True
    # One builder per entry: a second prepare waits, then finds the first one's result.
    with cache.building(directory, say=console):
        manifest = cache.verify(directory)
        if manifest is not None and not force:
            return Prepared(spec, subset, preset, directory, manifest), True
        if manifest is None and directory.exists():
            console.print(
                f"[yellow]warning:[/] cache {directory} is incomplete or corrupt; rebuilding it"
            )

        def writer(tmp: Path) -> dict[str, Any]:
            return {"task": key, "fingerprint": fp, **build(tmp)}

        manifest = cache.build(directory, writer)
    return Prepared(spec, subset, preset, directory, manifest), False


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of a cache folder, or None when absent or unreadable."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError: bad JSON or bad UTF-8
        return None
    return manifest if isinstance(manifest, dict) else None
