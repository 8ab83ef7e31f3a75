"""User-facing errors: one line saying what is wrong and how to fix it."""

from __future__ import annotations


class SeqbenchError(Exception):
    """An error the CLI prints as one line (no traceback unless ``--debug``)."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message} ({fix})" if fix else message)

    def __str__(self) -> str:
        return f"{self.message} — {self.fix}" if self.fix else self.message
