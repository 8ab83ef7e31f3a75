"""A user's model from a Python file: ``FILE.py:factory`` (``seqbench price --module``).

The factory is a callable returning ``(module, inputs)``: ``inputs`` a tuple of positional
arguments or a dict of keyword arguments for ``module.forward``. It may take ``seq_len`` and
``batch`` keyword arguments (the command's options are passed when it names them) and may
return a third item, a dict with ``unit`` (``token`` or ``sample``) and ``units`` (how many
in one forward pass)::

    def build(seq_len=128, batch=1):
        model = MyEncoder()
        return model, (torch.randint(0, 1000, (batch, seq_len)),), {"unit": "token",
                                                                     "units": batch * seq_len}
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from torch import Tensor, nn
from torch.utils import _pytree as pytree

from seqbench.errors import SeqbenchError
from seqbench.external.model import ExternalModel

EXAMPLE = "def build(seq_len=128, batch=1): return model, (example_input,)"


def load_factory(
    spec: str, *, seq_len: int | None = None, batch: int | None = None
) -> ExternalModel:
    """Import ``FILE.py:factory``, call it and check what it returns."""
    path_text, sep, attr = spec.rpartition(":")
    if not sep or not path_text or not attr:
        raise SeqbenchError(f"--module {spec!r} is not FILE.py:factory", f"e.g. {EXAMPLE}")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise SeqbenchError(f"--module: no file {path}", "give the path of a .py file")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"seqbench_user_{digest}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise SeqbenchError(f"--module: cannot import {path}", "give a .py file")
    code = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = code
    try:
        loader_spec.loader.exec_module(code)
    except Exception as err:  # noqa: BLE001  (user code: any error becomes one line)
        raise SeqbenchError(
            f"--module: importing {path} raised {type(err).__name__}: {err}", "fix that file"
        ) from err
    factory = getattr(code, attr, None)
    if not callable(factory):
        found = sorted(k for k, v in vars(code).items() if callable(v) and not k.startswith("_"))
        raise SeqbenchError(
            f"--module: {path} has no callable {attr!r}", f"callables there: {found or 'none'}"
        )
    wanted = {"seq_len": seq_len, "batch": batch}
    params = inspect.signature(factory).parameters
    kwargs = {k: v for k, v in wanted.items() if v is not None and k in params}
    try:
        made = factory(**kwargs)
    except Exception as err:  # noqa: BLE001
        raise SeqbenchError(
            f"--module: {attr}() in {path} raised {type(err).__name__}: {err}",
            "fix the factory; it must return (module, inputs)",
        ) from err
    return _checked(made, f"{path.name}:{attr}", path)


def _checked(made: Any, label: str, path: Path) -> ExternalModel:
    if not isinstance(made, tuple) or len(made) not in (2, 3):
        raise SeqbenchError(
            f"--module: {label} returned {type(made).__name__}, not (module, inputs)",
            f"e.g. {EXAMPLE}",
        )
    module, inputs = made[0], made[1]
    info = made[2] if len(made) == 3 else {}
    if not isinstance(module, nn.Module):
        raise SeqbenchError(
            f"--module: {label} returned a {type(module).__name__} where an nn.Module belongs",
            "return (module, inputs)",
        )
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    if not isinstance(inputs, (tuple, list, dict)) or not isinstance(info, dict):
        raise SeqbenchError(
            f"--module: {label}'s inputs are a {type(inputs).__name__}",
            "return a tuple of positional arguments or a dict of keyword arguments",
        )
    tensors = [t for t in pytree.tree_leaves(inputs) if isinstance(t, Tensor)]
    samples = int(tensors[0].shape[0]) if tensors and tensors[0].dim() else 1
    unit = str(info.get("unit", "sample"))
    units = int(info.get("units", samples))
    source = {"kind": "module", "name": label, "file": str(path), "weights": "as built"}
    name = Path(label.split(":")[0]).stem + "-" + label.split(":")[1]
    return ExternalModel(name, module, inputs, unit, units, samples, source)
