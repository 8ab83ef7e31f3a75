"""Reading a prepared Arrow IPC file, the one way every family's store does it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from seqbench.errors import SeqbenchError


def read_table(path: Path) -> pa.Table:
    """The whole table of ``path`` (memory-mapped); a damaged or missing file is one line."""
    try:
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_file(source).read_all()
    except (OSError, pa.ArrowInvalid) as err:
        raise SeqbenchError(
            f"prepared split {path} is unreadable ({err})",
            "run `seqbench prepare --force TASK` to rebuild the cache",
        ) from err
