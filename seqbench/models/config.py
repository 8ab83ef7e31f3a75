"""Model configuration: one dataclass per model family, its defaults written once.

A registered factory gets the plain dict a task family builds (preset options, per-model
overrides, the sizes the data fixes) and turns it into its family's dataclass with
:meth:`ModelConfig.from_dict`, which rejects a typo (``hiden_dim``) with a suggestion instead
of silently training the default, and names a missing required option.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from seqbench.errors import SeqbenchError
from seqbench.registry import did_you_mean

C = TypeVar("C", bound="ModelConfig")


@dataclass
class ModelConfig:
    """Base of every model family's configuration dataclass."""

    @classmethod
    def from_dict(cls: type[C], config: dict[str, Any], model: str) -> C:
        """``cls`` from ``config``: unknown keys and missing required ones raise one line."""
        fields = dataclasses.fields(cls)
        known = [f.name for f in fields]
        unknown = sorted(set(config) - set(known))
        if unknown:
            raise SeqbenchError(
                f"unknown option {unknown[0]!r} for model {model!r};"
                f"{did_you_mean(unknown[0], known)}",
                f"{model} options: {', '.join(known)}",
            )
        missing = [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and f.name not in config
        ]
        if missing:
            raise SeqbenchError(
                f"model {model!r} needs option {missing[0]!r}",
                "the task family fills it from the prepared data (see TaskFamily.model_inputs)",
            )
        return cls(**config)
