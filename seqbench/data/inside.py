"""Paths named inside a local source (an image or audio file in a JSONL row, a person in LFW's
``pairs.txt``) stay inside that source's folder.

A data file is input like any other: a row naming ``/etc/passwd`` or ``../../x`` is refused
with the file and line, never opened. Data kept elsewhere is reached through a folder of
links the user makes on purpose, and links that lead out of the folder are followed only
under ``seqbench --follow-links`` (``$SEQBENCH_FOLLOW_LINKS=1``).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from seqbench.errors import SeqbenchError

FOLLOW_LINKS_ENV = "SEQBENCH_FOLLOW_LINKS"
FIX = (
    "name files relative to the source's folder, without .. (data kept elsewhere: link it "
    "into the folder and pass `seqbench --follow-links`)"
)


def follow_links() -> bool:
    """Whether links out of a source folder are followed (``seqbench --follow-links``)."""
    return os.environ.get(FOLLOW_LINKS_ENV) == "1"


def inside(folder: Path, name: object, where: str) -> Path:
    """``folder / name``, refused (one line naming ``where``) unless it stays in ``folder``:
    no absolute path, no ``..``, and no link leading out unless links are followed."""
    text = name if isinstance(name, str) else ""
    if (
        not text
        or "\x00" in text
        or PurePosixPath(text).is_absolute()
        or PureWindowsPath(text).is_absolute()
        or ".." in PurePosixPath(text.replace("\\", "/")).parts
    ):
        raise SeqbenchError(
            f"{where}: {name!r} is not a file name inside the source folder {folder}", FIX
        )
    path = folder / text
    if not follow_links():
        resolved, base = path.resolve(), folder.resolve()
        if not resolved.is_relative_to(base):
            raise SeqbenchError(
                f"{where}: {text!r} is a link to {resolved}, outside the source folder {folder}",
                "pass `seqbench --follow-links ...` to read links you made on purpose",
            )
    return path
