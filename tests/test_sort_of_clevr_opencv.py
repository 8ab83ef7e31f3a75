"""Sort-of-CLEVR shapes drawn as the original generator's OpenCV calls draw them.

The masks below are OpenCV 5.0.0's own output (``cv2.circle(img, (r, r), r, 1, -1)`` and
``cv2.rectangle(img, (c-5, c-5), (c+5, c+5), 1, -1)``), stored as data: OpenCV is not a
dependency. The reference images in ``../shared/data/sort-of-clevr-ref`` (made by the original
generator) are re-drawn pixel for pixel from the scenes read off them, and their labels are
recomputed with the original's rules (its "closest" quirk included).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seqbench.data.generators import sort_of_clevr as soc

OPENCV_CIRCLES = {  # radius -> rows of the filled mask
    1: [".#.", "###", ".#."],
    2: ["..#..", ".###.", "#####", ".###.", "..#.."],
    3: ["...#...", ".#####.", ".#####.", "#######", ".#####.", ".#####.", "...#..."],
    4: [
        "....#....",
        "..#####..",
        ".#######.",
        ".#######.",
        "#########",
        ".#######.",
        ".#######.",
        "..#####..",
        "....#....",
    ],
    5: [
        ".....#.....",
        "..#######..",
        ".#########.",
        ".#########.",
        ".#########.",
        "###########",
        ".#########.",
        ".#########.",
        ".#########.",
        "..#######..",
        ".....#.....",
    ],
    6: [
        "......#......",
        "...#######...",
        "..#########..",
        ".###########.",
        ".###########.",
        ".###########.",
        "#############",
        ".###########.",
        ".###########.",
        ".###########.",
        "..#########..",
        "...#######...",
        "......#......",
    ],
    8: [
        "........#........",
        ".....#######.....",
        "...###########...",
        "..#############..",
        "..#############..",
        ".###############.",
        ".###############.",
        ".###############.",
        "#################",
        ".###############.",
        ".###############.",
        ".###############.",
        "..#############..",
        "..#############..",
        "...###########...",
        ".....#######.....",
        "........#........",
    ],
}
OPENCV_PIXELS = {1: 5, 2: 13, 3: 29, 4: 49, 5: 81, 6: 113, 8: 197}  # mask sums printed by cv2

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sort-of-clevr-ref"


def _mask(rows: list[str]) -> np.ndarray:
    return np.array([[c == "#" for c in row] for row in rows])


@pytest.mark.parametrize("radius", sorted(OPENCV_CIRCLES))
def test_disk_is_opencvs_filled_circle(radius: int) -> None:
    disk = soc.opencv_disk(radius)
    assert np.array_equal(disk, _mask(OPENCV_CIRCLES[radius]))
    assert int(disk.sum()) == OPENCV_PIXELS[radius]


def test_generator_draws_opencv_shapes_of_its_size() -> None:
    scenes = soc.Scenes(
        centres=np.array([[[10, 10], [30, 10], [50, 10], [10, 40], [30, 40], [50, 40]]]),
        shapes=np.array([[0, 1, 0, 1, 0, 1]]),
    )
    image = soc.render(scenes)[0]
    for k, ((x, y), shape) in enumerate(zip(scenes.centres[0], scenes.shapes[0], strict=True)):
        painted = (image == soc.RGB[k]).all(-1)
        window = painted[y - 5 : y + 6, x - 5 : x + 6]
        # cv2.rectangle((x-5, y-5), (x+5, y+5), filled): 11x11 = 121 px; cv2.circle radius 5: 81.
        expected = np.ones((11, 11), bool) if shape == 0 else _mask(OPENCV_CIRCLES[5])
        assert np.array_equal(window, expected)
        assert int(painted.sum()) == int(expected.sum())


def _recover_scene(image: np.ndarray) -> soc.Scenes:
    """Centres and shapes that re-draw ``image`` exactly (last colour first: it is unoccluded)."""
    s = soc.OBJECT_SIZE
    masks = {0: np.ones((2 * s + 1, 2 * s + 1), bool), 1: soc.opencv_disk(s)}
    covered = np.zeros(image.shape[:2], bool)
    centres, shapes = np.zeros((6, 2), np.int64), np.zeros(6, np.int64)
    for k in reversed(range(len(soc.COLOURS))):
        visible = (image == soc.RGB[k]).all(-1)
        ys, xs = np.nonzero(visible)
        found = None
        lo, hi = s, soc.IMAGE_SIZE - s - 1  # the generator's centre range
        for cy in range(max(lo, ys.max() - s), min(hi, ys.min() + s) + 1):
            for cx in range(max(lo, xs.max() - s), min(hi, xs.min() + s) + 1):
                for shape, mask in masks.items():
                    drawn = np.zeros_like(visible)
                    drawn[cy - s : cy + s + 1, cx - s : cx + s + 1] = mask
                    if np.array_equal(drawn & ~covered, visible):
                        found = (cx, cy, shape)
                        break
                if found:
                    break
            if found:
                break
        assert found is not None, f"colour {soc.COLOURS[k]} is not an OpenCV square or circle"
        centres[k], shapes[k] = found[:2], found[2]
        covered[visible] = True
        covered[found[1] - s : found[1] + s + 1, found[0] - s : found[0] + s + 1] |= masks[found[2]]
    return soc.Scenes(centres[None], shapes[None])


def _reference_answer(scene: soc.Scenes, colour: int, subtype: str) -> str:
    """The original generator's labelling, its "closest" quirk included (self-distance 999)."""
    centres, shapes = scene.centres[0], scene.shapes[0]
    if subtype in ("closest", "furthest"):
        dist = [int(((centres[colour] - c) ** 2).sum()) for c in centres]
        if subtype == "closest":
            dist[dist.index(0)] = 999
            target = dist.index(min(dist))
        else:
            target = dist.index(max(dist))
        return soc.SHAPES[shapes[target]]
    return soc.ANSWERS[int(soc.answer_table(scene)[0, colour, list(soc.TEMPLATES).index(subtype)])]


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/data/sort-of-clevr-ref is absent")
def test_reference_images_redrawn_pixel_for_pixel_and_labels_recomputed() -> None:
    from PIL import Image

    questions = [
        json.loads(line)
        for line in (REFERENCE / "ref-test.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    by_image: dict[str, list[dict]] = {}
    for q in questions:
        by_image.setdefault(q["image"], []).append(q)
    assert len(by_image) == 200 and len(questions) == 4000
    quirk_changed = circles = 0
    for name, asked in sorted(by_image.items()):
        image = np.asarray(Image.open(REFERENCE / name).convert("RGB"))
        scene = _recover_scene(image)
        assert np.array_equal(soc.render(scene)[0], image), name
        circles += int(scene.shapes.sum())
        table = soc.answer_table(scene)[0]
        for q in asked:
            colour = int(np.argmax(q["vector"][:6]))
            assert q["answers"] == [_reference_answer(scene, colour, q["subtype"])], q
            ours = soc.ANSWERS[int(table[colour, list(soc.TEMPLATES).index(q["subtype"])])]
            quirk_changed += ours != q["answers"][0]
    assert 0 < circles < 1200
    # Only "closest" can differ (when no other object is within sqrt(999) px): the README's 24.
    assert quirk_changed == 24
