"""One writer per artifact: advisory ``flock`` locks under ``$SEQBENCH_HOME/locks/``.

Why ``fcntl.flock`` (standard library) rather than a pid file or the ``filelock`` package: the
kernel drops a flock the moment its holder dies, even on ``kill -9``, so a crashed run never
leaves a lock that someone must delete by hand, and nothing needs installing. Lock files live
in one folder (named by a hash of the guarded path) and are never deleted, because deleting a
lock file while another process waits on it would let two writers in.

Exclusive holders write their pid and command into the lock file so that a second writer can
say who it is waiting for. Locks are re-entrant within a process (a stage that already holds a
lock may call another stage that asks for it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from seqbench import paths
from seqbench.errors import SeqbenchError

# key -> (fd, count) of the locks this process holds.
_HELD: dict[str, list[int]] = {}


def lock_file(guarded: Path) -> Path:
    """The lock file guarding ``guarded`` (a file or folder path)."""
    resolved = str(Path(guarded).expanduser().resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(resolved).name)[:40] or "root"
    return paths.home() / "locks" / f"{slug}-{digest}.lock"


def holder(guarded: Path) -> str:
    """Who holds the exclusive lock on ``guarded``, as recorded in its lock file ('' if unknown)."""
    try:
        info = json.loads(lock_file(guarded).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return ""
    if not isinstance(info, dict) or "pid" not in info:
        return ""
    return f"pid {info['pid']} (`{info.get('command', '?')}`, since {info.get('since', '?')})"


def _try(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def hold(
    guarded: Path,
    what: str,
    *,
    shared: bool = False,
    wait: bool = True,
    say: object = None,
) -> Iterator[None]:
    """Hold the lock on ``guarded`` (exclusive unless ``shared``) for the ``with`` block.

    When another process holds it: with ``wait`` say who and block until it is free; without,
    raise a one-line error naming the holder. ``say`` prints the waiting notice (a Rich console).
    """
    key = str(lock_file(guarded))
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    path = Path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        if not _try(fd, mode):
            who = holder(guarded) or "another process"
            if not wait:
                raise SeqbenchError(
                    f"{what} is in use by {who}", "wait for that process to finish, then retry"
                )
            message = f"waiting for {who}, which holds {what}"
            if say is not None and hasattr(say, "print"):
                say.print(f"[yellow]{message}[/]")
            else:
                print(message, file=sys.stderr)
            fcntl.flock(fd, mode)
        if not shared:
            record = {
                "pid": os.getpid(),
                "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:200],
                "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "guards": str(guarded),
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
        _HELD[key] = [fd, 1]
        try:
            yield
        finally:
            del _HELD[key]
            if not shared:
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock
