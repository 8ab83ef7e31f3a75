"""Atomic file writes: a temp file in the same folder, fsync, then ``os.replace``.

A killed process leaves either the old file or the new one, never half of one. Temp names
carry the writer's pid and host (``.NAME.tmp<PID>h<HOST>-XXXX.tmp``), so
:func:`remove_stale_temps` can tell the leftovers of a dead process from the work of a live
one (another machine's temp files, in a shared home, only by age).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seqbench.errors import SeqbenchError

# ``.NAME.tmp<PID>h<HOST>-<random>.tmp``: files and folders in the middle of being written.
TEMP_NAME = re.compile(r"^\..+\.tmp(?P<pid>\d+)h(?P<host>[0-9a-f]{6})-[^.]*\.tmp$")
# A temp file of another machine (a shared $SEQBENCH_HOME) is stale only when this old.
FOREIGN_TEMP_AGE_S = 24 * 3600
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.tmp{os.getpid()}h{HOST_TAG}-"


def disk_full(target: Path, err: OSError) -> SeqbenchError:
    """The one-line error for ENOSPC/EDQUOT while writing ``target``."""
    return SeqbenchError(
        f"disk full while writing {target} ({err.strerror}); nothing was replaced",
        f"free space on the disk holding {target.parent}, or set SEQBENCH_HOME to a roomier disk",
    )


def _is_disk_full(err: OSError) -> bool:
    return err.errno in (errno.ENOSPC, errno.EDQUOT)


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``target``; on success it is fsynced and replaces ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; published files get the usual permissions.
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        _fsync_file(tmp_path)
        os.replace(tmp_path, target)
        fsync_dir(target.parent)
    except OSError as err:
        if _is_disk_full(err):
            raise disk_full(target, err) from err
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: str | Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_json(target: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            _fsync_file(path)
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        fsync_dir(folder)


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temp folder beside ``target``; on success it is renamed to ``target``.

    An existing ``target`` is swapped for the new folder in one step, so a reader never finds
    it missing (where the kernel cannot swap, the old folder is moved aside first).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _fsync_tree(tmp)
        if target.exists():
            if not _exchange(tmp, target):
                old = target.with_name(f"{_temp_prefix(target)}old.tmp")
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            # ``tmp`` now holds the old folder; the finally clause removes it.
        else:
            os.replace(tmp, target)
        fsync_dir(target.parent)
    except OSError as err:
        if _is_disk_full(err):
            raise disk_full(target, err) from err
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _writer_gone(path: Path, pid: int, host: str) -> bool:
    if host == HOST_TAG:
        return not pid_alive(pid)
    try:  # pids of other machines cannot be checked here: go by age
        return time.time() - path.lstat().st_mtime > FOREIGN_TEMP_AGE_S
    except OSError:
        return False


def stale_temps(root: Path, max_depth: int = 6) -> list[Path]:
    """Temp files and folders under ``root`` whose writer process is gone."""
    found: list[Path] = []
    if not root.is_dir():
        return found
    base = len(root.parts)
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        for name in [*dirs, *files]:
            match = TEMP_NAME.match(name)
            if match and _writer_gone(here / name, int(match["pid"]), match["host"]):
                found.append(here / name)
        # Never descend into temp folders (removed whole) or deeper than layouts go.
        dirs[:] = [d for d in dirs if not TEMP_NAME.match(d) and len(here.parts) - base < max_depth]
    return found


def remove_stale_temps(root: Path) -> list[Path]:
    """Delete what :func:`stale_temps` finds; returns the paths removed."""
    removed = []
    for path in stale_temps(root):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        except OSError:
            continue
        removed.append(path)
    return removed
