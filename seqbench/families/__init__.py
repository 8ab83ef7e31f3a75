"""Task families; every module here registers itself in ``FAMILY_REGISTRY`` on import."""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")
