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
    """Task specs: ``$SEQBENCH_TASKS`` or the bundled ``tasks/``."""
    return _data_dir("SEQBENCH_TASKS", "tasks")


def accelerators_dir() -> Path:
    """Accelerator profiles: ``$SEQBENCH_ACCELERATORS`` or the bundled ``accelerators/``."""
    return _data_dir("SEQBENCH_ACCELERATORS", "accelerators")


def bundled_candidates(name: str) -> list[Path]:
    """Where the bundled ``tasks/`` or ``accelerators/`` may lie, in order: inside an installed
    wheel (``seqbench/_data/NAME``, copied there at build time by ``setup.py``), then the
    checkout's top-level folder (an editable install or a source tree). The top-level folders
    are the one source; the wheel's copy is made from them."""
    return [PACKAGE_ROOT / "_data" / name, REPO_ROOT / name]


def _data_dir(env: str, name: str) -> Path:
    if os.environ.get(env):
        chosen = Path(os.environ[env]).expanduser()
        if not chosen.is_dir():
            raise SeqbenchError(
                f"${env} is {chosen}, which is not a folder",
                f"point ${env} at a folder of YAML files, or unset it to use the bundled {name}/",
            )
        return chosen
    candidates = bundled_candidates(name)
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.yaml")):
            return folder
    raise SeqbenchError(
        f"no bundled {name}/ found: looked in {' and '.join(str(c) for c in candidates)}",
        f"reinstall seqbench from a wheel or a checkout (both carry {name}/), "
        f"or set ${env} to a folder of YAML files",
    )


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
