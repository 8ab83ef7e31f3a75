"""Sort-of-CLEVR (Santoro et al., NeurIPS 2017): the published recipe, seeded and vectorised.

Each image is 75x75 px on white with 6 objects, one per colour (so the colour names the
object), each a square or a circle (p = 0.5) of "size" 5 drawn exactly as the reference code's
OpenCV calls draw them: ``cv2.rectangle`` from centre - 5 to centre + 5 filled (11x11 = 121 px)
and ``cv2.circle`` of radius 5 filled (OpenCV's integer midpoint circle: 81 px, a 1-pixel tip at
each pole and an 11-pixel middle row); later colours are drawn over earlier ones, as there.
Centres are resampled until no two are closer than 10 px.
Every image gets 10 non-relational and 10 relational questions:

=============== ========= =====================================================================
type            sub-type  question (words) -> answer
=============== ========= =====================================================================
non_relational  shape     what shape is the red object? -> square / circle
non_relational  left      is the red object on the left? -> yes / no (centre x < 37.5)
non_relational  top       is the red object on the top? -> yes / no (centre y < 37.5)
relational      closest   what shape is the object closest to the red object? -> square / circle
relational      furthest  what shape is the object furthest from the red object? -> ...
relational      count     how many objects have the same shape as the red object? -> 1..6
=============== ========= =====================================================================

Each question is also given as the paper's 11-number vector: colour one-hot (6), type one-hot
(non-relational, relational), sub-type one-hot (3). Distance ties (integer centres) go to the
object that comes first in colour order, like ``argmin``.

"closest" follows the question: the nearest *other* object. The reference generator instead
sets an object's squared distance to itself to 999, so when no other object is within
sqrt(999) = 31.6 px it answers with the queried object's own shape; on its 200-image test set
(``../shared/data/sort-of-clevr-ref``) that changes 24 of 663 "closest" labels (3.6% of them,
1.2% of the relational questions): points a model that answers by the rule loses there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqbench.data.generators import GENERATORS

# Bump when images, questions or answers change: prepared caches then miss.
# 2: squares 11x11 and radius-5 disks, as the reference code draws them (v1's fatter disks
#    were nearly the squares' area, so shape was barely visible to a stride-2 CNN).
# 3: circles as OpenCV's cv2.circle fills them (81 px with 1-pixel tips; v2 drew 89 px with
#    3-pixel caps, and a model trained on those lost 3 points on the original's images).
VERSION = 3

IMAGE_SIZE = 75  # px
OBJECT_SIZE = 5  # px: the square's half-side (centre +- 5, inclusive), the circle's radius
MIN_DISTANCE = 2 * OBJECT_SIZE  # px between centres
COLOURS = ("red", "green", "blue", "orange", "gray", "yellow")
RGB = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 156, 0], [128, 128, 128], [255, 255, 0]],
    dtype=np.uint8,
)
SHAPES = ("square", "circle")
ANSWERS = ("yes", "no", "square", "circle", "1", "2", "3", "4", "5", "6")
QUESTION_TYPES = ("non_relational", "relational")
SUBTYPES = {
    "non_relational": ("shape", "left", "top"),
    "relational": ("closest", "furthest", "count"),
}
TEMPLATES = {
    "shape": "what shape is the {colour} object?",
    "left": "is the {colour} object on the left?",
    "top": "is the {colour} object on the top?",
    "closest": "what shape is the object closest to the {colour} object?",
    "furthest": "what shape is the object furthest from the {colour} object?",
    "count": "how many objects have the same shape as the {colour} object?",
}
VECTOR_SIZE = len(COLOURS) + len(QUESTION_TYPES) + 3
DEFAULT_QUESTIONS = {"non_relational": 10, "relational": 10}
_SPLIT_STREAM = {"train": 0, "test": 1}  # independent random streams per split

_YES, _NO = ANSWERS.index("yes"), ANSWERS.index("no")
_SHAPE_ANSWER = np.array([ANSWERS.index(s) for s in SHAPES])


@dataclass
class Scenes:
    """Object layout of ``N`` images: centres ``[N, 6, 2]`` as (x, y) px, shapes ``[N, 6]``."""

    centres: np.ndarray
    shapes: np.ndarray

    def __len__(self) -> int:
        return int(self.centres.shape[0])


@dataclass
class Questions:
    """``Q`` questions as columns: image row, colour, type, sub-type (indices) and answer."""

    image: np.ndarray
    colour: np.ndarray
    qtype: np.ndarray  # index into QUESTION_TYPES
    subtype: np.ndarray  # 0..2 within the type
    answer: np.ndarray  # index into ANSWERS

    def __len__(self) -> int:
        return int(self.image.shape[0])

    def subtype_name(self, i: int) -> str:
        return SUBTYPES[QUESTION_TYPES[self.qtype[i]]][self.subtype[i]]

    def words(self, i: int) -> str:
        return TEMPLATES[self.subtype_name(i)].format(colour=COLOURS[self.colour[i]])

    def vectors(self) -> np.ndarray:
        """The paper's compact encoding, ``[Q, 11]`` float32."""
        q = len(self)
        out = np.zeros((q, VECTOR_SIZE), dtype=np.float32)
        rows = np.arange(q)
        out[rows, self.colour] = 1.0
        out[rows, len(COLOURS) + self.qtype] = 1.0
        out[rows, len(COLOURS) + len(QUESTION_TYPES) + self.subtype] = 1.0
        return out


@dataclass
class Split:
    """One generated split: uint8 images ``[N, 75, 75, 3]``, their scenes and questions."""

    images: np.ndarray
    scenes: Scenes
    questions: Questions
    vocabulary: tuple[str, ...] = ANSWERS

    def columns(self) -> dict[str, Any]:
        """Per-question columns: image row, words, answer, type and sub-type names, vector."""
        q = self.questions
        names = list(TEMPLATES)
        sentences = np.array(
            [[TEMPLATES[name].format(colour=c) for c in COLOURS] for name in names], dtype=object
        )
        flat_subtype = 3 * q.qtype + q.subtype  # index into TEMPLATES order
        return {
            "image": q.image,
            "question": sentences[flat_subtype, q.colour].tolist(),
            "answer": np.array(ANSWERS, dtype=object)[q.answer].tolist(),
            "type": np.array(QUESTION_TYPES, dtype=object)[q.qtype].tolist(),
            "subtype": np.array(names, dtype=object)[flat_subtype].tolist(),
            "vector": q.vectors(),
        }


def sample_scenes(rng: np.random.Generator, n: int) -> Scenes:
    """Place 6 objects per image, resampling a centre while it is too close to an earlier one."""
    lo, hi = OBJECT_SIZE, IMAGE_SIZE - OBJECT_SIZE
    centres = np.zeros((n, len(COLOURS), 2), dtype=np.int64)
    for k in range(len(COLOURS)):
        todo = np.arange(n)
        while todo.size:
            centres[todo, k] = rng.integers(lo, hi, size=(todo.size, 2))
            if k == 0:
                break
            gap = centres[todo, :k] - centres[todo, k : k + 1]
            too_close = ((gap**2).sum(-1) < MIN_DISTANCE**2).any(axis=1)
            todo = todo[too_close]
    shapes = rng.integers(0, len(SHAPES), size=(n, len(COLOURS)))
    return Scenes(centres, shapes)


def opencv_disk(radius: int) -> np.ndarray:
    """The mask ``cv2.circle(img, c, radius, colour, thickness=-1)`` fills (8-connected, no
    sub-pixel shift), ``[2r+1, 2r+1]`` bool centred on the middle pixel.

    OpenCV walks one octant with an integer midpoint error term and fills, per step, the rows
    ``+-dy`` out to ``+-dx`` and the rows ``+-dx`` out to ``+-dy``; this replays that walk.
    """
    half = np.full(2 * radius + 1, -1, dtype=np.int64)  # filled half-width of each row
    err, dx, dy, plus, minus = 0, radius, 0, 1, 2 * radius - 1
    while dx >= dy:
        for row, span in ((dy, dx), (dx, dy)):
            for r in (radius - row, radius + row):
                half[r] = max(half[r], span)
        dy += 1
        err += plus
        plus += 2
        if err > 0:  # the error left the circle: step one pixel inwards
            err -= minus
            dx -= 1
            minus -= 2
    offsets = np.abs(np.arange(-radius, radius + 1))
    return offsets[None, :] <= half[:, None]


_DISK = opencv_disk(OBJECT_SIZE)


def render(scenes: Scenes) -> np.ndarray:
    """Draw the scenes: uint8 ``[N, 75, 75, 3]``, white background, colours in order (a later
    object covers an earlier one where they touch, as the reference's successive cv2 calls)."""
    n = len(scenes)
    images = np.full((n, IMAGE_SIZE, IMAGE_SIZE, 3), 255, dtype=np.uint8)
    s = OBJECT_SIZE
    for i in range(n):
        image = images[i]
        for k, ((x, y), shape) in enumerate(zip(scenes.centres[i], scenes.shapes[i], strict=True)):
            patch = image[y - s : y + s + 1, x - s : x + s + 1]
            if SHAPES[shape] == "square":
                patch[:] = RGB[k]
            else:
                patch[_DISK] = RGB[k]
    return images


# --- answers: one function per sub-type, each over every (image, colour) at once ------------


def _shape(scenes: Scenes, dist2: np.ndarray) -> np.ndarray:
    return _SHAPE_ANSWER[scenes.shapes]


def _left(scenes: Scenes, dist2: np.ndarray) -> np.ndarray:
    return np.where(scenes.centres[..., 0] < IMAGE_SIZE / 2, _YES, _NO)


def _top(scenes: Scenes, dist2: np.ndarray) -> np.ndarray:
    return np.where(scenes.centres[..., 1] < IMAGE_SIZE / 2, _YES, _NO)


def _closest(scenes: Scenes, dist2: np.ndarray) -> np.ndarray:
    eye = np.eye(len(COLOURS), dtype=bool)
    nearest = np.where(eye, np.iinfo(np.int64).max, dist2).argmin(axis=-1)
    return _SHAPE_ANSWER[np.take_along_axis(scenes.shapes, nearest, axis=1)]


def _furthest(scenes: Scenes, dist2: np.ndarray) -> np.ndarray:
    farthest = dist2.argmax(axis=-1)  # the object itself is at distance 0, never the max
    return _SHAPE_ANSWER[np.take_along_axis(scenes.shapes, farthest, axis=1)]


def _count(scenes: Scenes, dist2: np.ndarray) -> np.ndarray:
    same = (scenes.shapes[:, :, None] == scenes.shapes[:, None, :]).sum(-1)  # includes itself
    return ANSWERS.index("1") + same - 1


ANSWER_RULES: dict[str, Callable[[Scenes, np.ndarray], np.ndarray]] = {
    "shape": _shape,
    "left": _left,
    "top": _top,
    "closest": _closest,
    "furthest": _furthest,
    "count": _count,
}


def answer_table(scenes: Scenes) -> np.ndarray:
    """Answer index for every image, colour and sub-type: ``[N, 6, 6]`` in TEMPLATES order."""
    gap = scenes.centres[:, :, None, :] - scenes.centres[:, None, :, :]
    dist2 = (gap**2).sum(-1)
    return np.stack([ANSWER_RULES[name](scenes, dist2) for name in TEMPLATES], axis=-1)


def ask(rng: np.random.Generator, scenes: Scenes, counts: dict[str, int]) -> Questions:
    """Draw ``counts[type]`` questions of each type per image (random colour and sub-type)."""
    n = len(scenes)
    table = answer_table(scenes)
    columns: list[tuple[np.ndarray, ...]] = []
    for t, qtype in enumerate(QUESTION_TYPES):
        per_image = int(counts.get(qtype, 0))
        colour = rng.integers(0, len(COLOURS), size=(n, per_image))
        subtype = rng.integers(0, 3, size=(n, per_image))
        image = np.repeat(np.arange(n)[:, None], per_image, axis=1)
        answer = table[image, colour, 3 * t + subtype]
        columns.append((image, colour, np.full_like(image, t), subtype, answer))
    # Image-major order: an image's questions are contiguous (non-relational first).
    stacked = [np.concatenate([c[j] for c in columns], axis=1).reshape(-1) for j in range(5)]
    return Questions(*stacked)


def generate_split(n_images: int, seed: int, stream: int, counts: dict[str, int]) -> Split:
    """One split of ``n_images`` images; ``stream`` keeps splits independent under one seed."""
    rng = np.random.default_rng([seed, stream])
    scenes = sample_scenes(rng, n_images)
    questions = ask(rng, scenes, counts)
    return Split(render(scenes), scenes, questions)


@GENERATORS.register("sort-of-clevr")
def generate(
    images: dict[str, int] | None = None,
    seed: int = 0,
    questions: dict[str, int] | None = None,
    **_: Any,
) -> dict[str, Split]:
    """Train and test splits (9,800 + 200 images by default), deterministic under ``seed``."""
    sizes = {"train": 9800, "test": 200, **(images or {})}
    counts = {**DEFAULT_QUESTIONS, **(questions or {})}
    unknown = sorted(set(sizes) - set(_SPLIT_STREAM))
    if unknown:
        raise ValueError(f"sort-of-clevr has no split(s) {unknown}; known: {sorted(_SPLIT_STREAM)}")
    return {
        name: generate_split(int(size), seed, _SPLIT_STREAM[name], counts)
        for name, size in sizes.items()
    }
