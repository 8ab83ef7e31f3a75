"""Task families, one package per family: ``seqbench/families/<name>/family.py`` registers an
instance of its :class:`~seqbench.families.base.TaskFamily` in ``FAMILY_REGISTRY``.

The packages are found on disk (:func:`seqbench.config.family_names`), so a new family is a
new folder: nothing here lists them. They are imported on first use, not with this package,
so that ``seqbench --help`` does not load torch.
"""

import importlib

from seqbench.config import family_names


def discover() -> None:
    """Import every family package (each registers itself once)."""
    for name in family_names():
        importlib.import_module(f"{__name__}.{name}.family")
