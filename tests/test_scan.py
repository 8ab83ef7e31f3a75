"""SCAN generator: the grammar, the meaning of every construction, the official split rules."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest

from seqbench.data.generators import get_generator, scan
from seqbench.data.tokenize import SentencePieceTokenizer, train_sentencepiece
from seqbench.errors import SeqbenchError


@pytest.fixture(scope="module")
def scan_pairs() -> list[tuple[str, str]]:
    return scan.pairs()


@pytest.fixture(scope="module")
def scan_splits() -> dict[str, dict[str, list[tuple[str, str]]]]:
    return {name: scan.generate(name) for name in scan.SPLITTERS}


def test_grammar_has_20910_distinct_commands() -> None:
    commands = scan.commands()
    assert len(commands) == len(set(commands)) == scan.TOTAL_COMMANDS == 20_910
    assert len(scan.verb_phrases()) == 34
    assert commands == scan.commands()  # deterministic order


@pytest.mark.parametrize(
    ("command", "actions"),
    [
        (
            "jump opposite left after walk thrice",
            "I_WALK I_WALK I_WALK I_TURN_LEFT I_TURN_LEFT I_JUMP",
        ),
        ("turn around right", " ".join(["I_TURN_RIGHT"] * 4)),
        ("turn around left", " ".join(["I_TURN_LEFT"] * 4)),
        ("turn opposite left", "I_TURN_LEFT I_TURN_LEFT"),
        ("turn left", "I_TURN_LEFT"),
        ("look twice and run", "I_LOOK I_LOOK I_RUN"),
        ("jump after look", "I_LOOK I_JUMP"),
        ("run right thrice", "I_TURN_RIGHT I_RUN I_TURN_RIGHT I_RUN I_TURN_RIGHT I_RUN"),
        ("walk around left", " ".join(["I_TURN_LEFT I_WALK"] * 4)),
        ("look opposite right twice", " ".join(["I_TURN_RIGHT I_TURN_RIGHT I_LOOK"] * 2)),
        (
            "turn left twice and jump around right",
            "I_TURN_LEFT I_TURN_LEFT " + " ".join(["I_TURN_RIGHT I_JUMP"] * 4),
        ),
        ("jump", "I_JUMP"),
    ],
)
def test_known_meanings(command: str, actions: str) -> None:
    assert " ".join(scan.interpret(command)) == actions


def test_action_lengths(scan_pairs: list[tuple[str, str]]) -> None:
    lengths = Counter(len(a.split()) for _, a in scan_pairs)
    assert max(lengths) == 48
    assert 23 not in lengths  # the length split's gap: train <= 22, test >= 24
    assert lengths[1] == 6  # four primitives and two turns


@pytest.mark.parametrize("name", list(scan.OFFICIAL_SIZES))
def test_split_sizes_match_the_official_files(
    name: str, scan_splits: dict[str, dict[str, list[tuple[str, str]]]]
) -> None:
    train, test = scan_splits[name]["train"], scan_splits[name]["test"]
    assert (len(train), len(test)) == scan.OFFICIAL_SIZES[name]


def test_simple_and_length_partition_every_command(
    scan_splits: dict[str, dict[str, list[tuple[str, str]]]],
) -> None:
    for name in ("simple", "length"):
        train = {c for c, _ in scan_splits[name]["train"]}
        test = {c for c, _ in scan_splits[name]["test"]}
        assert not train & test
        assert len(train | test) == 20_910


def test_simple_split_is_the_official_one(
    scan_splits: dict[str, dict[str, list[tuple[str, str]]]],
) -> None:
    """The authors' simple test set (tasks_test_simple.txt): 4,182 commands, these among them."""
    test = dict(scan_splits["simple"]["test"])
    train = dict(scan_splits["simple"]["train"])
    assert len(test) == 4_182 and len(train) == 16_728
    # The first lines of the official tasks_test_simple.txt ...
    assert test["turn opposite right thrice and turn opposite left"] == (
        "I_TURN_RIGHT I_TURN_RIGHT I_TURN_RIGHT I_TURN_RIGHT I_TURN_RIGHT I_TURN_RIGHT "
        "I_TURN_LEFT I_TURN_LEFT"
    )
    assert "run right twice after walk right twice" in test
    assert "look around right twice and turn left thrice" in test
    # ... and of tasks_train_simple.txt, which must not be in the test set.
    for command in ("jump opposite right twice and turn opposite right thrice", "walk"):
        assert command in train and command not in test
    assert scan.generate("simple", seed=1) == scan.generate("simple", seed=0)  # a fixed draw


def test_length_split_boundary(scan_splits: dict[str, dict[str, list[tuple[str, str]]]]) -> None:
    split = scan_splits["length"]
    assert max(len(a.split()) for _, a in split["train"]) == 22
    assert min(len(a.split()) for _, a in split["test"]) >= 24


@pytest.mark.parametrize(
    ("name", "primitive", "without", "copies", "test_size"),
    [
        ("addprim_jump", "jump", 13_203, 1_467, 7_706),
        ("addprim_turn_left", "turn left", 19_701, 2_189, 1_208),
    ],
)
def test_add_primitive_recipe(
    name: str,
    primitive: str,
    without: int,
    copies: int,
    test_size: int,
    scan_splits: dict[str, dict[str, list[tuple[str, str]]]],
) -> None:
    train, test = scan_splits[name]["train"], scan_splits[name]["test"]
    lone = [p for p in train if p[0] == primitive]
    others = [p for p in train if p[0] != primitive]
    assert len(lone) == copies and len(others) == without
    assert len({c for c, _ in others}) == without
    assert not any(f" {primitive} " in f" {c} " for c, _ in others)
    assert len(test) == test_size
    assert all(f" {primitive} " in f" {c} " and c != primitive for c, _ in test)


def test_registered_generator_and_unknown_split() -> None:
    assert get_generator("scan") is scan.generate
    with pytest.raises(SeqbenchError, match="addprim_jump"):
        scan.generate("addprim_jmp")


def test_in_out_line_parser() -> None:
    assert scan.parse_line("IN: jump twice OUT: I_JUMP I_JUMP") == ("jump twice", "I_JUMP I_JUMP")
    assert scan.parse_line("jump twice\tI_JUMP I_JUMP") is None


def test_word_tokenizer_round_trip(scan_pairs: list[tuple[str, str]], tmp_path) -> None:
    train_sentencepiece((c for c, _ in scan_pairs), tmp_path / "src.model", 32, "word")
    train_sentencepiece((a for _, a in scan_pairs), tmp_path / "tgt.model", 16, "word")
    src = SentencePieceTokenizer(tmp_path / "src.model")
    tgt = SentencePieceTokenizer(tmp_path / "tgt.model")
    assert (src.vocab_size, tgt.vocab_size) == (13 + 4, 6 + 4)  # words + pad/unk/bos/eos
    sample = scan_pairs[::97]
    assert all(src.decode(src.encode(c)) == c for c, _ in sample)
    assert all(tgt.decode(tgt.encode(a)) == a for _, a in sample)
    assert all(len(tgt.encode(a)) == len(a.split()) for _, a in sample)  # one id per action
    # a short list encodes text by text, a long one through SentencePiece's threaded call
    commands = [c for c, _ in scan_pairs[:200]]
    singly = [src.encode(c) for c in commands]
    assert src.encode_batch(commands[:5]) == singly[:5] and src.encode_batch(commands) == singly


SHARED_SCAN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scan"


@pytest.mark.skipif(not SHARED_SCAN.is_dir(), reason="needs ../shared/data/scan (CI has it)")
def test_simple_split_equals_the_published_files(
    scan_splits: dict[str, dict[str, list[tuple[str, str]]]],
) -> None:
    for split in ("train", "test"):
        with gzip.open(SHARED_SCAN / f"tasks_{split}_simple.txt.gz", "rt") as handle:
            published = {scan.parse_line(line.strip()) for line in handle if line.strip()}
        assert published == set(scan_splits["simple"][split])
