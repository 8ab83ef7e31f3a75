"""What a wheel carries (the bundled task specs, suites and profiles) and what an installed
seqbench does when they are missing: a one-line error naming where it looked."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from seqbench import config, paths
from seqbench.accel.profile import list_profiles
from seqbench.errors import SeqbenchError
from seqbench.suites import load_suite


def test_built_wheel_carries_tasks_suites_and_profiles(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(paths.REPO_ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("seqbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("tasks", "accelerators"):
        for path in (paths.REPO_ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(paths.REPO_ROOT).as_posix()
                assert f"seqbench/_data/{rel}" in names, f"the wheel lacks {rel}"


def test_installed_copy_is_read_before_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site" / "seqbench"
    (package / "_data" / "tasks").mkdir(parents=True)
    (package / "_data" / "tasks" / "x.yaml").write_text("name: x\n")
    monkeypatch.setattr(paths, "PACKAGE_ROOT", package)
    monkeypatch.delenv("SEQBENCH_TASKS", raising=False)
    assert paths.tasks_dir() == package / "_data" / "tasks"


def test_missing_bundled_folders_say_where_they_were_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paths, "PACKAGE_ROOT", tmp_path / "site" / "seqbench")
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "site")
    monkeypatch.delenv("SEQBENCH_TASKS", raising=False)
    monkeypatch.delenv("SEQBENCH_ACCELERATORS", raising=False)
    for read in (config.discover_tasks, list_profiles, lambda: load_suite("quick")):
        with pytest.raises(SeqbenchError) as caught:
            read()
        assert str(tmp_path / "site" / "seqbench" / "_data") in str(caught.value)
        assert str(tmp_path / "site") in str(caught.value)


def test_empty_registries_are_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQBENCH_ACCELERATORS", str(tmp_path))
    with pytest.raises(SeqbenchError, match=f"no accelerator profile.*{tmp_path}"):
        list_profiles()
    monkeypatch.setenv("SEQBENCH_TASKS", str(tmp_path))
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "home"))
    with pytest.raises(SeqbenchError, match=f"no task spec.*{tmp_path}"):
        config.discover_tasks()
    with pytest.raises(SeqbenchError, match=f"no suite 'quick' in {tmp_path}"):
        load_suite("quick")
    monkeypatch.setenv("SEQBENCH_TASKS", str(tmp_path / "absent"))
    with pytest.raises(SeqbenchError, match="not a folder"):
        config.discover_tasks()
