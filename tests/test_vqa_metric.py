"""The official VQA accuracy and its answer normaliser, on hand-made cases.

Worked values follow the official script's 10-choose-9 averaging (FACTS-data.md): 1 of 10
humans -> 0.3, 2 -> 0.6, 3 -> 0.9 (not the shorthand's 1.0), 4 or more -> 1.0.
"""

from __future__ import annotations

import random

import pytest

from seqbench.metrics.vqa import (
    mean_accuracy,
    normalize_answer,
    process_punctuation,
    vqa_accuracy,
)
from tests import vqa_reference


def humans(match: str, k: int, other: str = "blue", n: int = 10) -> list[str]:
    """``n`` human answers of which ``k`` are ``match``."""
    return [match] * k + [other] * (n - k)


@pytest.mark.parametrize(
    ("k", "expected"),
    [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (7, 1.0), (10, 1.0)],
)
def test_official_averaging_of_ten_humans(k: int, expected: float) -> None:
    assert vqa_accuracy("red", humans("red", k)) == pytest.approx(expected)


def test_three_of_ten_by_hand() -> None:
    # Dropping one of the 3 matching humans leaves 2 matches (2/3); dropping one of the 7
    # others leaves 3 (capped at 1): (3 * 2/3 + 7 * 1) / 10 = 0.9.
    assert vqa_accuracy("2", ["2", "2", "2", *["3"] * 7]) == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Two", "2"),
        ("two", "2"),
        ("none", "0"),
        ("  Ten\n", "10"),
        ("The dog", "dog"),
        ("a red car", "red car"),
        ("Yes.", "yes"),
        ("dont", "don't"),
        ("isnt", "isn't"),
        ("1,000", "1000"),
        ("3.5", "3.5"),
    ],
)
def test_normalize_answer(raw: str, normal: str) -> None:
    assert normalize_answer(raw) == normal


def test_prediction_is_normalised_against_differing_humans() -> None:
    assert vqa_accuracy("Two", humans("2", 4, other="3")) == 1.0
    assert vqa_accuracy("the dog", humans("dog", 1, other="cat")) == pytest.approx(0.3)


def test_normalisation_only_when_the_humans_differ() -> None:
    # As in the script: differing answers lose punctuation ("yes." -> "yes") ...
    assert vqa_accuracy("yes", ["yes."] * 5 + ["no"] * 5) == 1.0
    # ... identical ones are compared as they are, and so is the prediction.
    assert vqa_accuracy("yes", ["yes."] * 10) == 0.0


@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        ("Yes", ["yes"] * 10, 0.0),  # all agree: nothing is normalised
        ("yes", ["yes"] * 10, 1.0),
        ("Yes", ["yes"] * 9 + ["no"], 1.0),
        ("2", ["two"] * 4 + ["3"] * 6, 1.0),  # human answers get the number-word pass too
        ("red!", ["red"] * 3 + ["blue"] * 7, 0.9),  # '!' is in the current list
        ("the cat", ["cat"] * 3 + ["dog"] * 7, 0.9),
    ],
)
def test_worked_values_of_the_current_script(
    prediction: str, answers: list[str], expected: float
) -> None:
    """FACTS-data.md's values, taken by running the current official script."""
    assert vqa_accuracy(prediction, answers) == pytest.approx(expected)


@pytest.mark.parametrize(("mark", "kept"), [(":", True), ("'", True), ("-", False), ("{", False)])
def test_punctuation_list_is_the_current_one(mark: str, kept: bool) -> None:
    assert (mark in normalize_answer(f"a{mark}b")) is kept


def test_single_answer_is_exact_match_after_normalisation() -> None:
    assert vqa_accuracy("square", ["square"]) == 1.0
    assert vqa_accuracy("Two", ["2"]) == 1.0
    assert vqa_accuracy("circle", ["square"]) == 0.0


def test_answer_outside_anything_humans_said_scores_zero() -> None:
    assert vqa_accuracy("giraffe", humans("red", 10)) == 0.0


def test_no_answers_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one human answer"):
        vqa_accuracy("yes", [])


def test_mean_accuracy_is_percent() -> None:
    assert mean_accuracy([1.0, 0.3, 0.9, 0.0]) == pytest.approx(55.0)
    assert mean_accuracy([]) == 0.0


# Pieces the random answers are glued from: case, number words, articles, contractions, every
# mark of the old and the current punctuation lists, periods beside digits, commas in numbers,
# tabs and newlines.
# fmt: off
PIECES = [
    "yes", "Yes", "no", "NO", "two", "Two", "2", "3", "three", "none", "0", "the", "a", "An",
    "red", "cat", "dont", "don't", "isnt", "1,000", "3.5", "5.", " ", "  ", "\t", "\n", "Im",
    "yall", "oclock", *";/[]\"{}()=+\\_-><@`?!.,:'",
]
# fmt: on


def _random_answer(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 4)))


def test_seeded_random_cases_match_a_port_of_the_official_script() -> None:
    rng = random.Random(31)
    differences = []
    for case in range(3000):
        pool = [_random_answer(rng) for _ in range(rng.randint(1, 4))]
        answers = [rng.choice(pool) for _ in range(10 if case % 4 else rng.randint(2, 10))]
        prediction = rng.choice([*pool, _random_answer(rng)])
        ours = vqa_accuracy(prediction, answers)
        theirs = vqa_reference.evaluate_question(prediction, answers)
        if abs(ours - theirs) > 1e-12:
            differences.append((prediction, answers, ours, theirs))
    assert differences == []


def test_port_gives_the_worked_values() -> None:
    # The reference itself is held to the script's published behaviour.
    assert vqa_reference.evaluate_question("Yes", ["yes"] * 10) == 0.0
    assert vqa_reference.evaluate_question("red", humans("red", 3)) == pytest.approx(0.9)


def test_many_periods_stop_at_the_scripts_count() -> None:
    # The script's sub(..., re.UNICODE) removes at most 32 periods.
    text = "." * 40 + "x"
    assert process_punctuation(text) == "." * 8 + "x"
