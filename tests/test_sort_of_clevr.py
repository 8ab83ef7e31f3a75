"""Sort-of-CLEVR generator: the published recipe, determinism, and every answer recomputed
from the object list by an independent (plain Python) implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqbench.data.generators import get_generator
from seqbench.data.generators import sort_of_clevr as soc


@pytest.fixture(scope="module")
def split() -> soc.Split:
    return soc.generate_split(300, seed=7, stream=0, counts=soc.DEFAULT_QUESTIONS)


def expected_answer(centres: np.ndarray, shapes: np.ndarray, colour: int, subtype: str) -> str:
    """The answer from the object list, written independently of the generator."""
    objects = [(int(x), int(y), soc.SHAPES[s]) for (x, y), s in zip(centres, shapes, strict=True)]
    x, y, shape = objects[colour]
    half = soc.IMAGE_SIZE / 2
    if subtype == "shape":
        return shape
    if subtype == "left":
        return "yes" if x < half else "no"
    if subtype == "top":
        return "yes" if y < half else "no"
    if subtype == "count":
        return str(sum(o[2] == shape for o in objects))
    others = [k for k in range(len(objects)) if k != colour]
    distance = {k: math.hypot(objects[k][0] - x, objects[k][1] - y) for k in others}
    # Ties go to the first object in colour order, as documented.
    if subtype == "closest":
        target = min(others, key=lambda k: (distance[k], k))
    else:
        target = min(others, key=lambda k: (-distance[k], k))
    return objects[target][2]


def test_registered_and_recipe_sizes() -> None:
    generate = get_generator("sort-of-clevr")
    splits = generate(images={"train": 20, "test": 5}, seed=0)
    assert set(splits) == {"train", "test"}
    train = splits["train"]
    assert train.images.shape == (20, 75, 75, 3) and train.images.dtype == np.uint8
    assert len(train.questions) == 20 * 20
    assert train.vocabulary == ("yes", "no", "square", "circle", "1", "2", "3", "4", "5", "6")


def test_deterministic_and_seed_dependent() -> None:
    a = soc.generate_split(50, seed=3, stream=0, counts=soc.DEFAULT_QUESTIONS)
    b = soc.generate_split(50, seed=3, stream=0, counts=soc.DEFAULT_QUESTIONS)
    c = soc.generate_split(50, seed=4, stream=0, counts=soc.DEFAULT_QUESTIONS)
    assert np.array_equal(a.images, b.images)
    assert a.columns()["question"] == b.columns()["question"]
    assert np.array_equal(a.questions.answer, b.questions.answer)
    assert not np.array_equal(a.images, c.images)


def test_train_and_test_streams_differ() -> None:
    splits = soc.generate(images={"train": 10, "test": 10}, seed=0)
    assert not np.array_equal(splits["train"].images, splits["test"].images)


def test_objects_are_spread_and_inside(split: soc.Split) -> None:
    centres = split.scenes.centres
    assert centres.min() >= soc.OBJECT_SIZE and centres.max() < soc.IMAGE_SIZE - soc.OBJECT_SIZE
    gaps = centres[:, :, None, :] - centres[:, None, :, :]
    dist = np.sqrt((gaps**2).sum(-1)) + np.eye(6) * 1e9
    assert dist.min() >= soc.MIN_DISTANCE


def test_each_object_drawn_in_its_colour(split: soc.Split) -> None:
    for i in range(20):
        for k, (x, y) in enumerate(split.scenes.centres[i]):
            assert tuple(split.images[i, y, x]) == tuple(soc.RGB[k])
    # Background is white, and shapes differ: a square fills its corner, a circle never does
    # (a later object may overlap an earlier square's corner, as in the reference generator).
    assert tuple(split.images[0, 0, 0]) == (255, 255, 255)
    square_corners = []
    for i in range(50):
        for k, ((x, y), s) in enumerate(
            zip(split.scenes.centres[i], split.scenes.shapes[i], strict=True)
        ):
            own = tuple(split.images[i, y - 5, x - 5]) == tuple(soc.RGB[k])
            if soc.SHAPES[s] == "square":
                square_corners.append(own)
                assert tuple(split.images[i, y + 5, x + 5]) != (255, 255, 255)
            else:
                assert not own
    assert np.mean(square_corners) > 0.9


def test_shapes_are_drawn_like_the_reference_code() -> None:
    """cv2.rectangle(c - 5, c + 5) fills 11x11 px; cv2.circle radius 5 filled covers 81 px."""
    centres = np.array([[[10, 10], [30, 10], [50, 10], [10, 40], [30, 40], [50, 40]]])
    shapes = np.array([[0, 1, 0, 1, 0, 1]])  # square, circle, ...
    image = soc.render(soc.Scenes(centres, shapes))[0]
    for k in range(6):
        area = int((image == soc.RGB[k]).all(-1).sum())
        assert area == (121 if shapes[0, k] == 0 else 81)  # OpenCV: 11x11 square, r-5 circle


def test_every_answer_matches_the_object_list(split: soc.Split) -> None:
    columns = split.columns()
    q = split.questions
    for row in range(len(q)):
        image = int(q.image[row])
        subtype = columns["subtype"][row]
        want = expected_answer(
            split.scenes.centres[image], split.scenes.shapes[image], int(q.colour[row]), subtype
        )
        assert columns["answer"][row] == want, (row, columns["question"][row])


def test_ten_plus_ten_questions_per_image_with_types(split: soc.Split) -> None:
    columns = split.columns()
    types = np.array(columns["type"]).reshape(300, 20)
    assert (types[:, :10] == "non_relational").all() and (types[:, 10:] == "relational").all()
    assert set(columns["subtype"]) == set(soc.TEMPLATES)
    # All six sub-types and all answers occur.
    assert set(columns["answer"]) >= {"yes", "no", "square", "circle", "1", "2", "3", "4"}


def test_words_and_vector_encode_the_same_question(split: soc.Split) -> None:
    columns = split.columns()
    vectors = columns["vector"]
    assert vectors.shape == (len(split.questions), 11)
    for row in range(0, len(split.questions), 37):
        colour = soc.COLOURS[int(vectors[row, :6].argmax())]
        qtype = soc.QUESTION_TYPES[int(vectors[row, 6:8].argmax())]
        subtype = soc.SUBTYPES[qtype][int(vectors[row, 8:].argmax())]
        assert vectors[row].sum() == 3
        assert columns["question"][row] == soc.TEMPLATES[subtype].format(colour=colour)
    assert columns["question"][0].endswith("?")


def test_question_counts_are_options() -> None:
    few = soc.generate_split(5, seed=0, stream=0, counts={"non_relational": 2, "relational": 30})
    assert len(few.questions) == 5 * 32


def test_unknown_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="no split"):
        soc.generate(images={"validation": 5})
