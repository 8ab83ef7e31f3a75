"""Model configuration: one dataclass per model family, its defaults written once.

A registered factory gets the plain dict a task family builds (preset options, per-model
overrides, the sizes the data fixes) and turns it into its family's dataclass with
:meth:`ModelConfig.from_dict`, which rejects a typo (``hiden_dim``) with a suggestion instead
of silently training the default, and names a missing required option.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
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
        for f in fields:
            if f.name in config:
                _check_type(config[f.name], str(f.type), f.name, model)
        return cls(**config)


def _whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


# Annotation -> (test, what the value must be). Sizes, counts and ids are never negative.
_TYPE_CHECKS = {
    "int": (_whole, "a whole number >= 0"),
    "float": (
        lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v),
        "a finite number",
    ),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "list[int]": (
        lambda v: isinstance(v, list) and all(_whole(x) for x in v),
        "a list of whole numbers >= 0",
    ),
    "dict[str, Any]": (lambda v: isinstance(v, dict), "a mapping"),
}


def _check_type(value: Any, annotation: str, name: str, model: str) -> None:
    """A config value of the wrong type is one line naming the option (a hand-edited or
    hostile config must not reach torch as ``hidden_dim: -5`` or ``"x"``)."""
    optional = annotation.endswith(" | None")
    base = annotation.removesuffix(" | None")
    if base not in _TYPE_CHECKS or (optional and value is None):
        return
    test, what = _TYPE_CHECKS[base]
    if not test(value):
        raise SeqbenchError(
            f"option {name!r} of model {model!r} is {value!r}, not {what}",
            f"set {name} to {what}",
        )
