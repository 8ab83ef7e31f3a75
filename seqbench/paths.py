"""Where seqbench keeps its state: ``$SEQBENCH_HOME`` (default ``~/.cache/seqbench``)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent


def home() -> Path:
    """The state folder holding cache/, runs/ and results/."""
    return Path(os.environ.get("SEQBENCH_HOME", Path.home() / ".cache" / "seqbench")).expanduser()


def cache_dir() -> Path:
    return home() / "cache"


def runs_dir() -> Path:
    return home() / "runs"


def results_dir() -> Path:
    return home() / "results"


def tasks_dir() -> Path:
    """Task specs: ``$SEQBENCH_TASKS`` or the package's bundled ``tasks/``."""
    return _data_dir("SEQBENCH_TASKS", "tasks")


def accelerators_dir() -> Path:
    """Accelerator profiles: ``$SEQBENCH_ACCELERATORS`` or the bundled ``accelerators/``."""
    return _data_dir("SEQBENCH_ACCELERATORS", "accelerators")


def _data_dir(env: str, name: str) -> Path:
    if env in os.environ:
        return Path(os.environ[env])
    bundled = PACKAGE_ROOT / "_data" / name
    return bundled if bundled.is_dir() else REPO_ROOT / name
