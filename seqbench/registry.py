"""Name -> object registries with did-you-mean errors."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from seqbench.errors import SeqbenchError

T = TypeVar("T")


def did_you_mean(name: str, known: list[str]) -> str:
    """A ' did you mean X?' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" did you mean {close[0]!r}?" if close else ""


class Registry(Generic[T]):
    """A named collection; ``kind`` names what it holds in error messages."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def add(self, name: str, item: T, aliases: tuple[str, ...] = ()) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._items[name] = item
        for alias in aliases:
            self._aliases[alias] = name
        return item

    def register(self, name: str, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def wrap(item: T) -> T:
            return self.add(name, item, aliases)

        return wrap

    def canonical(self, name: str) -> str:
        """The registered name for ``name`` or one of its aliases; raises with a suggestion."""
        if name in self._items:
            return name
        if name in self._aliases:
            return self._aliases[name]
        known = sorted(self._items)
        raise SeqbenchError(
            f"unknown {self.kind} {name!r};{did_you_mean(name, known + sorted(self._aliases))}",
            f"known {self.kind}s: {', '.join(known)}",
        )

    def get(self, name: str) -> T:
        return self._items[self.canonical(name)]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
