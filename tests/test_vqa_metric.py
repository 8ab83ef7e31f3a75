"""The official VQA accuracy and its answer normaliser, on hand-made cases.

Worked values follow the official script's 10-choose-9 averaging (FACTS-data.md): 1 of 10
humans -> 0.3, 2 -> 0.6, 3 -> 0.9 (not the shorthand's 1.0), 4 or more -> 1.0.
"""

from __future__ import annotations

import pytest

from seqbench.metrics.vqa import mean_accuracy, normalize_answer, vqa_accuracy


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


def test_human_answers_get_punctuation_pass_only_when_they_differ() -> None:
    # As in the script: differing human answers lose punctuation ("yes." -> "yes") ...
    assert vqa_accuracy("yes", ["yes."] * 5 + ["no"] * 5) == 1.0
    # ... identical ones are taken as already normalised, like the official annotations.
    assert vqa_accuracy("yes", ["yes."] * 10) == 0.0


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
