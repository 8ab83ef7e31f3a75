"""Kill ``prepare``, ``train``, ``eval`` and ``report`` at seeded random points and check the
invariants: nothing half-written is trusted, the same command completes, no stray files.

Each stage runs in a forked child that counts its steps (every file-system call, before and
after, and every optimiser step) and kills itself with SIGKILL (no cleanup, like ``kill -9``)
at step K, K drawn from a seeded RNG between 1 and the step count of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

import seqbench.accel.cost  # noqa: F401  (imported once here, not in every forked child)
import seqbench.accel.effects  # noqa: F401
import seqbench.evaluate  # noqa: F401
import seqbench.report.plots  # noqa: F401
from seqbench import paths
from seqbench.atomic import TEMP_NAME
from seqbench.cli.main import cli
from seqbench.families import discover

discover()  # the family packages, imported once here, not in every forked child
RNG = random.Random(17)
# The first optimiser imports torch._dynamo (seconds): do it once here, not in every child.
torch.optim.AdamW([torch.zeros(1, requires_grad=True)])


def _kill_points(kill_at: int | None) -> Callable[[], int]:
    """Wrap every file-system step (and each optimiser step) so that the process SIGKILLs
    itself just before or just after step number ``kill_at``; returns the step counter."""
    import builtins
    import shutil

    import torch

    from seqbench import checkpoints, optim

    calls = 0

    def tick() -> None:
        nonlocal calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def wrap(owner: object, name: str) -> None:
        real = getattr(owner, name)

        def wrapped(*args: object, **kwargs: object) -> object:
            tick()
            out = real(*args, **kwargs)
            tick()
            return out

        setattr(owner, name, wrapped)

    for owner, name in [
        (os, "replace"), (os, "rename"), (os, "fsync"), (os, "unlink"), (os, "mkdir"),
        (os, "open"), (builtins, "open"), (shutil, "rmtree"), (shutil, "copytree"),
        (checkpoints, "save_file"), (torch.optim.AdamW, "step"), (optim.FlatAdamW, "step"),
    ]:  # fmt: skip
        wrap(owner, name)
    return lambda: calls


def in_child(work: Callable[[], object], kill_at: int | None) -> int:
    """Run ``work`` in a forked child, SIGKILLed at step ``kill_at``; return the number of
    steps it made (when it finished) or -1 (when it was killed)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_end)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        code = 0
        try:
            steps = _kill_points(kill_at)
            work()
        except BaseException:  # noqa: BLE001
            code = 1
        os.write(write_end, str(steps()).encode())
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return -1
    assert os.WEXITSTATUS(status) == 0, "the stage failed"
    return int(text)


def invoke(*args: str):  # noqa: ANN201
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def kill_point(total: int) -> int:
    return RNG.randint(1, max(1, total - 1))


def stray_temps(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if TEMP_NAME.match(p.name)]


def weights_hashes() -> list[str]:
    return sorted(
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in paths.runs_dir().rglob("model.safetensors")
        if "resume" not in p.parts
    )


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home and a scan spec whose tiny preset trains 3 epochs with dropout."""
    folder = tmp_path / "tasks"
    import shutil

    shutil.copytree(paths.tasks_dir(), folder)
    spec = yaml.safe_load((folder / "scan.yaml").read_text())
    tiny = spec["presets"]["tiny"]
    tiny["max_train"], tiny["max_eval"] = 160, 20
    tiny["model"] = {"dropout": 0.2}
    tiny["train"].update(epochs=3, patience=3, eval_limit=10)
    (folder / "scan.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("SEQBENCH_TASKS", str(folder))
    monkeypatch.setenv("SEQBENCH_QUIET", "1")
    monkeypatch.setenv("SEQBENCH_HOME", str(tmp_path / "ref"))
    from seqbench.config import load_task
    from seqbench.families.base import family_for

    # Trace 4 samples, not 32 (the forked children inherit the patch).
    monkeypatch.setattr(type(family_for(load_task("scan")[0])), "trace_limit", 4)
    return tmp_path


def use_home(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv("SEQBENCH_HOME", str(folder))


def prepare() -> None:
    from seqbench.stages import prepare_task

    prepare_task("scan", "tiny")


def train() -> None:
    from seqbench.stages import train_task

    train_task("scan", "gru", "tiny")


def evaluate() -> None:
    from seqbench.stages import eval_task

    eval_task("scan", "gru", "tiny", accels="cpu")


def test_kills_at_random_points_leave_nothing_trusted_and_resume(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqbench import checkpoints, results
    from seqbench.data import cache

    # Uninterrupted reference runs, counting the calls each stage makes.
    totals = {stage.__name__: in_child(stage, None) for stage in (prepare, train, evaluate)}
    reference = weights_hashes()
    assert len(reference) == 1

    use_home(monkeypatch, home / "killed")
    for stage in (prepare, train, evaluate):
        total = totals[stage.__name__]
        # Training is killed in its second half, after at least one epoch's resume state.
        in_child(
            stage, kill_point(total) if stage is not train else RNG.randint(total // 2, total - 1)
        )
        if stage is train:
            assert [p.name for p in paths.runs_dir().rglob("resume")] == ["resume"]
        # Nothing half-written is trusted: every published artifact verifies.
        assert all(e["valid"] for e in cache.entries())
        for config in paths.runs_dir().rglob("config.json"):
            found = checkpoints.find(config.parent)
            if found is not None:
                checkpoints.verify(found)
        assert all(isinstance(r, dict) for r in results.load_all(warn=pytest.fail))
        # The same command completes; train resumes from its last finished epoch (fewer steps).
        steps = in_child(stage, None)
        if stage is train:
            assert 0 < steps < total

    # The killed-and-resumed training ends with the same weights as the uninterrupted one.
    assert weights_hashes() == reference
    invoke("cache", "ls")  # any start removes the temp files of the killed processes
    assert stray_temps(home / "killed") == []
    assert len(results.load_all()) >= 1


def test_a_killed_report_leaves_one_consistent_set(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqbench.stages import write_report

    out = home / "boards"
    in_child(evaluate, None)

    def report() -> None:
        write_report(["md", "csv", "json", "html"], out)

    total = in_child(report, None)
    in_child(report, kill_point(total))
    stamp = json.loads((out / "translation.json").read_text())["generated"]
    for name in ("translation.md", "translation.csv", "index.html"):
        assert stamp in (out / name).read_text(), f"{name} is from another run"
    invoke("report", "--out", str(out))
    assert stray_temps(home) == []
