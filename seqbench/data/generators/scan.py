"""SCAN (Lake & Baroni, 2018): every command of the grammar, its meaning, the official splits.

Grammar (the paper's Figure; the right-hand D of ``opposite``/``around`` is a direction)::

    C -> S and S | S after S | S
    S -> V twice | V thrice | V
    V -> D opposite D | D around D | D | U
    D -> U left | U right | turn left | turn right
    U -> walk | run | jump | look

It generates exactly 20,910 distinct commands. The split rules reproduce the official files
(``length``, ``addprim_*`` exactly); ``simple``, drawn at random once by the authors, is their
exact split, stored as one bit per command (:mod:`seqbench.data.generators.scan_simple_split`).
"""

from __future__ import annotations

from collections.abc import Callable

from seqbench.data.generators import GENERATORS
from seqbench.data.generators.scan_simple_split import simple_test_mask
from seqbench.errors import SeqbenchError

# Bump when commands, meanings or split rules change: prepared caches then miss.
# 2: ``simple`` is the authors' split (was a seeded random 80/20 draw of the same sizes).
VERSION = 2

Pair = tuple[str, str]

PRIMITIVES = ("walk", "run", "jump", "look")
DIRECTIONS = ("left", "right")
ACTION = {"walk": "I_WALK", "run": "I_RUN", "jump": "I_JUMP", "look": "I_LOOK"}
TURN = {"left": "I_TURN_LEFT", "right": "I_TURN_RIGHT"}
REPEAT = {"twice": 2, "thrice": 3}

TOTAL_COMMANDS = 20_910
# Official (train, test) sizes of each split scheme (HF `scan` dataset info).
OFFICIAL_SIZES: dict[str, tuple[int, int]] = {
    "simple": (16_728, 4_182),
    "length": (16_990, 3_920),
    "addprim_jump": (14_670, 7_706),
    "addprim_turn_left": (21_890, 1_208),
}
LENGTH_THRESHOLD = 24  # length split: test = commands with at least this many actions


def verb_phrases() -> list[str]:
    """Every V, in grammar order: U, then D, then ``D opposite dir``, then ``D around dir``."""
    heads = [*PRIMITIVES, "turn"]
    plain = list(PRIMITIVES) + [f"{h} {d}" for h in heads for d in DIRECTIONS]
    opposite = [f"{h} opposite {d}" for h in heads for d in DIRECTIONS]
    around = [f"{h} around {d}" for h in heads for d in DIRECTIONS]
    return plain + opposite + around


def commands() -> list[str]:
    """All 20,910 commands in a fixed order: every S, then ``S and S``, then ``S after S``."""
    singles = [f"{v}{r}" for v in verb_phrases() for r in ("", " twice", " thrice")]
    both = [f"{a} and {b}" for a in singles for b in singles]
    after = [f"{a} after {b}" for a in singles for b in singles]
    return singles + both + after


def _verb(words: list[str]) -> list[str]:
    head, direction = words[0], words[-1]
    act = [] if head == "turn" else [ACTION[head]]
    if len(words) == 1:
        return act
    turn = TURN[direction]
    if len(words) == 2:
        return [turn, *act]
    if words[1] == "opposite":
        return [turn, turn, *act]
    return [turn, *act] * 4  # around


def _sentence(words: list[str]) -> list[str]:
    if words[-1] in REPEAT:
        return _verb(words[:-1]) * REPEAT[words[-1]]
    return _verb(words)


def interpret(command: str) -> list[str]:
    """The action sequence of ``command`` (``x after y`` runs y first)."""
    words = command.split()
    for conj in ("and", "after"):
        if conj in words:
            cut = words.index(conj)
            first, second = _sentence(words[:cut]), _sentence(words[cut + 1 :])
            return first + second if conj == "and" else second + first
    return _sentence(words)


def pairs() -> list[Pair]:
    """(command, space-joined actions) for every command, in :func:`commands` order."""
    return [(c, " ".join(interpret(c))) for c in commands()]


def _has_phrase(command: str, phrase: str) -> bool:
    return f" {phrase} " in f" {command} "


def _split_simple(data: list[Pair], seed: int) -> tuple[list[Pair], list[Pair]]:
    """The official simple split (``seed`` is not used: the authors' draw is fixed)."""
    in_test = simple_test_mask(len(data))
    train = [p for p, test in zip(data, in_test, strict=True) if not test]
    return train, [p for p, test in zip(data, in_test, strict=True) if test]


def _split_length(data: list[Pair], seed: int) -> tuple[list[Pair], list[Pair]]:
    long = [len(a.split()) >= LENGTH_THRESHOLD for _, a in data]
    return [p for p, x in zip(data, long, strict=True) if not x], [
        p for p, x in zip(data, long, strict=True) if x
    ]


def _add_primitive(primitive: str) -> Callable[[list[Pair], int], tuple[list[Pair], list[Pair]]]:
    """Train: commands without ``primitive`` + the lone primitive oversampled to 10% of train.

    The 10% recipe gives the official sizes exactly: 13,203 + 1,467 = 14,670 for jump and
    19,701 + 2,189 = 21,890 for turn left. Test: every other command using the primitive.
    """

    def split(data: list[Pair], seed: int) -> tuple[list[Pair], list[Pair]]:
        lone = next(p for p in data if p[0] == primitive)
        without = [p for p in data if not _has_phrase(p[0], primitive)]
        test = [p for p in data if _has_phrase(p[0], primitive) and p[0] != primitive]
        copies = len(without) // 9  # lone copies = 10% of the final train set
        return without + [lone] * copies, test

    return split


SPLITTERS: dict[str, Callable[[list[Pair], int], tuple[list[Pair], list[Pair]]]] = {
    "simple": _split_simple,
    "length": _split_length,
    "addprim_jump": _add_primitive("jump"),
    "addprim_turn_left": _add_primitive("turn left"),
}


@GENERATORS.register("scan")
def generate(subset: str | None = None, seed: int = 0) -> dict[str, list[Pair]]:
    """The ``train`` and ``test`` pairs of split scheme ``subset`` (default ``simple``).

    ``seed`` is accepted for older specs and ignored: every split is fixed.
    """
    subset = subset or "simple"
    if subset not in SPLITTERS:
        raise SeqbenchError(
            f"SCAN has no split {subset!r}", f"choose one of: {', '.join(SPLITTERS)}"
        )
    train, test = SPLITTERS[subset](pairs(), seed)
    return {"train": train, "test": test}


def official_sizes(subset: str | None) -> dict[str, int]:
    """The official train/test sizes of a split scheme."""
    train, test = OFFICIAL_SIZES[subset or "simple"]
    return {"train": train, "test": test}


def parse_line(line: str) -> Pair | None:
    """``IN: <command> OUT: <actions>`` -> (command, actions), or None if malformed."""
    head, sep, actions = line.partition(" OUT: ")
    if not sep or not head.startswith("IN: "):
        return None
    return head[len("IN: ") :].strip(), actions.strip()
