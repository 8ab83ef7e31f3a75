"""Mapping kinds: how one op of a trace is priced on one technology.

A profile's ``mapping`` section names, per op class, a kind registered here
(``crossbar``, ``crossbar_write_compute``, ``crossbar_decomposed``, ``digital_cim``,
``nand_search``, ``roofline``, ``vector``...). The special kind ``host`` hands the op to the
profile named in ``fallback`` and reports it under ``host_fallback``. Each kind declares the
parameters it needs (checked when a profile loads) and returns an :class:`OpCost` for one
call of a trace record; the cost model multiplies by the record's count.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seqbench.registry import Registry

if TYPE_CHECKING:
    from seqbench.accel.view import ProfileView
    from seqbench.trace import OpRecord

CATEGORIES = (
    "matmul_static",
    "matmul_dynamic",
    "softmax",
    "normalization",
    "elementwise",
    "data_movement",
    "writes",
    "search",
    "chip_io",
)


@dataclass
class OpCost:
    """Time (s) and energy (J) of one call, split by breakdown category.

    ``hideable`` time (e.g. ReTransformer writing X while Q = X.W_Q is computed) may overlap
    the stage's static products; everything else is on the critical path.
    """

    time: dict[str, float] = field(default_factory=dict)
    energy: dict[str, float] = field(default_factory=dict)
    hideable_s: float = 0.0
    counters: dict[str, float] = field(default_factory=dict)
    mechanisms: dict[str, float] = field(default_factory=dict)  # energy saved (J) per mechanism
    effective_macs: float = 0.0

    def add(
        self, category: str, time: float = 0.0, energy: float = 0.0, hideable: bool = False
    ) -> None:
        if category not in CATEGORIES:
            raise ValueError(f"unknown cost category {category!r}")
        if hideable:
            self.hideable_s += time
        else:
            self.time[category] = self.time.get(category, 0.0) + time
        self.energy[category] = self.energy.get(category, 0.0) + energy

    def count(self, name: str, value: float) -> None:
        self.counters[name] = self.counters.get(name, 0.0) + value

    def merge(self, other: OpCost, scale: float = 1.0) -> None:
        for k, v in other.time.items():
            self.time[k] = self.time.get(k, 0.0) + v * scale
        for k, v in other.energy.items():
            self.energy[k] = self.energy.get(k, 0.0) + v * scale
        for k, v in other.counters.items():
            self.counters[k] = self.counters.get(k, 0.0) + v * scale
        for k, v in other.mechanisms.items():
            self.mechanisms[k] = self.mechanisms.get(k, 0.0) + v * scale
        self.hideable_s += other.hideable_s * scale
        self.effective_macs += other.effective_macs * scale

    @property
    def time_s(self) -> float:
        return sum(self.time.values())

    @property
    def energy_J(self) -> float:
        return sum(self.energy.values())


@dataclass
class Context:
    """What a mapping may consult besides the op: the trace's measured statistics."""

    stats: dict[str, Any]
    host: ProfileView | None = None
    decomposable: set[str] = field(default_factory=set)  # attention prefixes with both qk and sv


class Mapping:
    """Base class of a mapping kind."""

    name = ""

    def requires(self, profile: ProfileView) -> dict[str, str]:
        """Parameter path -> dimension this kind reads from ``profile``."""
        return {}

    def cost(self, op: OpRecord, profile: ProfileView, ctx: Context) -> OpCost:
        raise NotImplementedError


MAPPINGS: Registry[Mapping] = Registry("mapping kind")


def register(mapping: Mapping) -> Mapping:
    MAPPINGS.add(mapping.name, mapping)
    return mapping


class _HostFallback(Mapping):
    """Marker kind: the op runs on the ``fallback`` profile (priced by its own mapping)."""

    name = "host"


register(_HostFallback())

# every module in this package registers its kinds on import (discovered, not listed)
for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
