"""JSON Lines, read the same way by every family's local sources."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from seqbench.errors import SeqbenchError


def text_lines(data: bytes, path: Path, fix: str = "save the file as UTF-8") -> list[str]:
    """``data`` (the bytes of ``path``) as lines of UTF-8 text; a line that is not UTF-8 is a
    one-line error naming ``path`` and the line."""
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        number = data.count(b"\n", 0, err.start) + 1
        raise SeqbenchError(
            f"{path} line {number}: not UTF-8 text (byte {data[err.start]:#04x})", fix
        ) from err


def read_lines(path: Path, fix: str) -> list[str]:
    """The lines of the UTF-8 text file ``path``; unreadable or not UTF-8: one line, with
    ``fix`` for the former."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SeqbenchError(f"cannot read {path} ({err.strerror or err})", fix) from err
    return text_lines(data, path)


def json_lines(lines: Iterable[str], path: Path, fix: str) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` for every non-blank line; a line that is not JSON is a
    one-line error naming ``path`` and the line, with ``fix``."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as err:
            raise SeqbenchError(f"{path} line {number}: not JSON ({err.msg})", fix) from err
