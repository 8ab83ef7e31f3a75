"""Reference models; every module here registers its factories on import."""

import importlib
import pkgutil

from seqbench.models.registry import MODEL_REGISTRY, ModelEntry, build_model, register_model

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in {"registry"}:
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["MODEL_REGISTRY", "ModelEntry", "build_model", "register_model"]
