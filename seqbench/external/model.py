"""What every external model source yields: a module, example inputs and how to count them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass
class ExternalModel:
    """A model to price: ``module(*inputs)`` (tuple) or ``module(**inputs)`` (dict).

    ``units`` counts ``unit``\\ s (token / sample) in one forward pass over ``samples``
    samples; ``source`` says where the model and its weights came from (it goes into the
    record, with ``weights: random`` flagging statistics measured on random weights).
    """

    name: str
    module: nn.Module
    inputs: Any
    unit: str
    units: int
    samples: int
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())
