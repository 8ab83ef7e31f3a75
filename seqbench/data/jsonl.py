"""JSON Lines, read the same way by every family's local sources."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from seqbench.errors import SeqbenchError


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
