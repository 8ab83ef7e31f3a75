"""shapes-captions: every caption is true of its scene, false of its foils, and deterministic."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from seqbench.data.generators.shapes_captions import (
    Scene,
    ShapeObject,
    clauses_hold,
    describe,
    generate,
    holds,
    make_foil,
    parse_caption,
    random_scene,
    render,
)
from seqbench.errors import SeqbenchError

RED_CIRCLE = ShapeObject("circle", "red", "small", 1, 0)
BLUE_SQUARE = ShapeObject("square", "blue", "large", 1, 2)


@pytest.fixture(scope="module")
def splits() -> dict:
    return generate({"test": 60, "dev": 15, "train": 90}, seed=3)


def test_every_caption_reparsed_matches_its_scene_and_not_its_foils(splits: dict) -> None:
    for examples in splits.values():
        by_group: dict[int, list] = {}
        for example in examples:
            by_group.setdefault(example.group, []).append(example)
        for example in examples:
            assert len(example.captions) == 5
            assert len(set(example.captions)) == 5, "the 5 captions must differ"
            foils = [e.scene for e in by_group[example.group] if e is not example]
            for caption in example.captions:
                meaning = parse_caption(caption)
                assert holds(meaning, example.scene), caption
                assert len(meaning.objects) == len(example.scene.objects), "names every object"
                assert not any(holds(meaning, foil) for foil in foils), caption


def _holds_by_every_order(meaning, scene) -> bool:  # noqa: ANN001
    """The definition ``holds`` prunes: some order of the scene's objects satisfies it all."""
    objs = scene.objects
    if len(meaning.objects) != len(objs):
        return False
    for perm in itertools.permutations(range(len(objs))):
        assigned = [objs[p] for p in perm]
        if any(o.attributes != m for o, m in zip(assigned, meaning.objects, strict=True)):
            continue
        if clauses_hold(meaning, assigned):
            return True
    return False


def test_holds_agrees_with_trying_every_order_of_the_objects() -> None:
    # holds enumerates only attribute-matching assignments; foils (swapped colours, shapes,
    # sizes, cells) are where the two could part.
    rng = random.Random(7)
    checked = true_count = 0
    for _ in range(300):
        scene = random_scene(rng, [1, 3, 3, 3])
        others = [make_foil(scene, rng) for _ in range(3)]
        for _ in range(3):
            meaning = parse_caption(describe(scene, rng))
            for candidate in [scene, *others]:
                expected = _holds_by_every_order(meaning, candidate)
                assert holds(meaning, candidate) == expected
                checked, true_count = checked + 1, true_count + expected
    assert checked == 3600 and 900 <= true_count < checked


def test_hand_made_scene_and_its_colour_swapped_foil() -> None:
    scene = Scene((RED_CIRCLE, BLUE_SQUARE))
    swapped = Scene(
        (
            ShapeObject("circle", "blue", "small", 1, 0),
            ShapeObject("square", "red", "large", 1, 2),
        )
    )
    caption = "a small red circle to the left of a big square that is blue"
    meaning = parse_caption(caption)
    assert meaning.objects == (("circle", "red", "small"), ("square", "blue", "large"))
    assert meaning.relations == ((0, "left", 1),)
    assert holds(meaning, scene) and not holds(meaning, swapped)
    # The same words with the relation reversed describe the mirrored scene, not this one.
    assert not holds(
        parse_caption("a small red circle to the right of a big square that is blue"), scene
    )
    assert holds(
        parse_caption(
            "in the middle left there is a tiny circle coloured red and "
            "a large blue square on the right"
        ),
        scene,
    )
    # Naming only one of two objects is not a caption of the scene.
    assert not holds(parse_caption("a small red circle on the left"), scene)


def test_parser_rejects_text_outside_the_grammar() -> None:
    for text in ("a red circle on the left", "a small red blob on the left", "hello world"):
        with pytest.raises(ValueError):
            parse_caption(text)


def test_captions_vary_templates_synonyms_and_attribute_order() -> None:
    rng = random.Random(0)
    scene = Scene((RED_CIRCLE, BLUE_SQUARE))
    texts = {describe(scene, rng) for _ in range(200)}
    assert len(texts) > 100
    joined = " ".join(texts)
    for phrase in ("that is red", "coloured blue", "little", "big", "there is", "right of"):
        assert phrase in joined, phrase
    assert all(holds(parse_caption(t), scene) for t in texts)


def test_deterministic_disjoint_and_test_independent_of_train_size(splits: dict) -> None:
    again = generate({"test": 60, "dev": 15, "train": 90}, seed=3)
    assert [e.captions for e in again["train"]] == [e.captions for e in splits["train"]]
    bigger = generate({"test": 60, "dev": 15, "train": 200}, seed=3)
    assert [e.captions for e in bigger["test"]] == [e.captions for e in splits["test"]]
    assert {len(v) for v in splits.values()} == {60, 15, 90}
    signatures = [e.scene.signature() for v in splits.values() for e in v]
    assert len(set(signatures)) == len(signatures), "no scene appears twice, in any split"
    counts = {len(e.scene.objects) for v in splits.values() for e in v}
    assert counts == {1, 2, 3, 4}


def test_render_is_deterministic_uint8_and_shows_the_colours() -> None:
    scene = Scene((RED_CIRCLE, BLUE_SQUARE))
    image = render(scene, 48)
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    assert np.array_equal(image, render(scene, 48))
    left, right = image[:, :16].reshape(-1, 3), image[:, 32:].reshape(-1, 3)
    assert (left[:, 0] > 200).any() and not (left[:, 2] > 200).any()  # red on the left only
    assert (right[:, 2] > 200).any() and not (right[:, 0] > 200).any()  # blue on the right


def test_unknown_option_is_a_clear_error() -> None:
    with pytest.raises(SeqbenchError, match="unknown shapes_captions option"):
        generate({"test": 2}, seed=0, colours=3)
