"""Embedded, deterministic data generators (SCAN, ...), registered by name.

A generator is a pure function of its options; what it returns depends on the family that
uses it (translation generators return ``{split: [(src, tgt), ...]}``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from seqbench.registry import Registry

GENERATORS: Registry[Callable[..., Any]] = Registry("generator")


def get_generator(name: str) -> Callable[..., Any]:
    """The generator ``name``, importing its module (``generators/<name>.py``) on first use."""
    if name not in GENERATORS:
        try:
            importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
        except ModuleNotFoundError:
            pass  # the registry lookup below names the known generators
    return GENERATORS.get(name)


def generator_version(name: str) -> int:
    """The ``VERSION`` of generator ``name``'s module (0 when it has none).

    Prepare fingerprints hash it: bumping it when a generator's output changes makes every
    cache built from the old output miss.
    """
    return int(getattr(importlib.import_module(get_generator(name).__module__), "VERSION", 0))
