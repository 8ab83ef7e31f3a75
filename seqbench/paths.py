"""Where seqbench keeps its state: ``$SEQBENCH_HOME`` (default ``~/.cache/seqbench``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from seqbench.errors import SeqbenchError

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


def leaderboards_dir() -> Path:
    """Where ``report`` and ``run`` write by default: never the committed ``leaderboards/``."""
    return home() / "leaderboards"


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


# A name that becomes one path component: no separators or control characters, no leading
# dot (hidden files, "..", our temp names), at most 100 characters.
_SAFE_NAME = re.compile(r"^[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,99}$")


def check_name(name: object, what: str, where: str) -> str:
    """``name`` if it is safe as a file or folder name, else a one-line SeqbenchError.

    Names read from files (result records, task specs, profiles) go into paths like names
    typed on the command line, so they get the same check.
    """
    text = name if isinstance(name, str) else ""
    if not _SAFE_NAME.match(text) or ".." in text:
        raise SeqbenchError(
            f"{where}: {what} {name!r} is not a valid name",
            "use a name without / or \\, not starting with a dot, at most 100 characters",
        )
    return text
