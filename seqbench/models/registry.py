"""The model registry: ``@register_model("transformer", family="translation")``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from seqbench import ops
from seqbench.errors import SeqbenchError
from seqbench.registry import Registry

Factory = Callable[[dict[str, Any]], nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its factory, the family it serves and a one-line description."""

    name: str
    family: str
    factory: Factory
    description: str


MODEL_REGISTRY: Registry[ModelEntry] = Registry("model")


def register_model(
    name: str, *, family: str, description: str = ""
) -> Callable[[Factory], Factory]:
    """Register ``factory(config) -> nn.Module`` under ``name`` for task ``family``."""

    def wrap(factory: Factory) -> Factory:
        doc = description or (factory.__doc__ or "").strip().splitlines()[0:1]
        MODEL_REGISTRY.add(
            name, ModelEntry(name, family, factory, doc if isinstance(doc, str) else "".join(doc))
        )
        return factory

    return wrap


def build_model(name: str, config: dict[str, Any], family: str | None = None) -> nn.Module:
    """Build model ``name`` from ``config`` and name its modules for the trace."""
    entry = MODEL_REGISTRY.get(name)
    if family is not None and entry.family != family:
        others = [n for n in MODEL_REGISTRY.names() if MODEL_REGISTRY.get(n).family == family]
        raise SeqbenchError(
            f"model {name!r} is a {entry.family} model, not a {family} one",
            f"{family} models: {', '.join(others)}",
        )
    return ops.name_modules(entry.factory(dict(config)))


def build_teacher(teacher: dict[str, Any]) -> nn.Module:
    """A student's teacher rebuilt from the entry the train stage put in the student's config
    (``{task, model, config, weights_sha256...}``), every weight frozen, in eval mode; its
    weights come from the teacher's checkpoint (train stage) or the student's own."""
    if not teacher.get("config"):
        raise SeqbenchError(
            f"the teacher {teacher.get('model')!r} of {teacher.get('task')!r} is not trained yet",
            f"run `seqbench train {teacher.get('task')} --model {teacher.get('model')}`",
        )
    model = build_model(str(teacher["model"]), dict(teacher["config"]))
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
