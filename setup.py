"""Build hook: the wheel carries the top-level ``tasks/`` and ``accelerators/`` folders as
``seqbench/_data/``, so an installed seqbench has its task specs, suites and profiles.

The top-level folders stay the one source (users and contributors edit them); the wheel's
copy is made from them at build time, and ``seqbench.paths`` reads the copy when installed,
the checkout's folders otherwise. Everything else about the build is in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("tasks", "accelerators")


class BuildWithData(build_py):
    """``build_py``, then a copy of each bundled folder into ``seqbench/_data/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders directly
        target = Path(self.build_lib) / "seqbench" / "_data"
        for name in BUNDLED:
            source = ROOT / name
            if not any(source.glob("*.yaml")):
                raise SystemExit(f"cannot build seqbench: {source} holds no *.yaml")
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(
                source, target / name, ignore=shutil.ignore_patterns("__pycache__", ".*")
            )


setup(cmdclass={"build_py": BuildWithData})
