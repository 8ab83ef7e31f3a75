"""What mappings, effects and the chip read from a profile: an interface, not the class.

:class:`seqbench.accel.profile.Profile` satisfies :class:`ProfileView`. The mapping kinds and
effects depend on this protocol only, so ``profile.py`` can import their registries to check a
profile's ``mapping`` and ``effects`` without an import circle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class ProfileView(Protocol):
    """A loaded accelerator profile as its consumers see it (numbers in SI units)."""

    name: str
    mapping: dict[str, str]
    settings: dict[str, Any]
    params: dict[str, Any]
    effects: list[str]
    path: Path | None

    def has(self, path: str) -> bool: ...

    def get(self, path: str, dim: str) -> float: ...

    def opt(self, path: str, dim: str, default: float) -> float: ...

    def setting(self, key: str, default: Any = None) -> Any: ...
