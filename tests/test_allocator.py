"""The C allocator keeps freed blocks in seqbench's processes (glibc), and nothing changes elsewhere."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqbench import allocator, executor
from seqbench.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]

# In a fresh process: blocks of 1-16 MiB allocated and freed, then how much of them the heap
# still holds (glibc's mallinfo2: free bytes inside the heap).
HELD_AFTER_FREE = textwrap.dedent(
    """
    import ctypes, json, sys
    from seqbench.allocator import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                    "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    applied = keep_freed_memory()
    for _ in range(2):
        blocks = [libc.malloc(n << 20) for n in (1, 3, 8, 2, 16, 5)]
        for block in blocks:
            libc.free(block)
    print(json.dumps({"applied": applied, "held_mib": libc.mallinfo2().fordblks >> 20}))
    """
)


def _has_mallinfo2() -> bool:
    if not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None:
        return False
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


def _held_after_free(extra_env: dict[str, str]) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != allocator.OPT_OUT_ENV}
    env.update({"PYTHONPATH": str(ROOT), **extra_env})
    done = subprocess.run(
        [sys.executable, "-c", HELD_AFTER_FREE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


@pytest.mark.skipif(not _has_mallinfo2(), reason="glibc >= 2.33 only: elsewhere it is a no-op")
def test_freed_blocks_stay_in_the_heap_with_glibc():
    kept = _held_after_free({})
    assert kept["applied"] is True
    assert kept["held_mib"] >= 30  # the 35 MiB freed last round, less nothing handed back
    system = _held_after_free({allocator.OPT_OUT_ENV: "system"})
    assert system["applied"] is False
    assert system["held_mib"] < 30  # glibc's own thresholds hand most of it back


def test_off_linux_it_does_nothing(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False


def test_a_c_library_that_refuses_the_settings_is_reported(monkeypatch):
    class Mallopt:  # musl's stub: accepts nothing
        def __call__(self, parameter: int, value: int) -> int:
            return 0

    class Library:
        mallopt = Mallopt()

    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: Library())
    assert allocator.keep_freed_memory() is False


def test_the_cli_and_every_worker_apply_it(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(cli_main, "keep_freed_memory", lambda: calls.append("cli") or True)
    monkeypatch.setattr(executor, "keep_freed_memory", lambda: calls.append("worker") or True)
    result = CliRunner().invoke(cli_main.cli, ["list", "tasks"])
    assert result.exit_code == 0, result.output
    assert executor._run_cell_quietly(lambda cell: cell * 2, 21, 1) == 42
    assert calls == ["cli", "worker"]
