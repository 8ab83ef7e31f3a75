"""shapes-captions: scenes of 1-4 coloured shapes on a 3x3 grid, each with 5 true captions.

A scene is a set of objects (shape, colour, size, grid cell). Every caption names *every*
object with all three attributes, in one of several noun-phrase templates, and ties them
together with relations ("to the left of", "above", ...) or absolute locations ("in the top
right corner"). Scenes come in *foil groups*: a base scene plus foils that reuse the same
attribute words bound differently (two objects' colours, shapes or sizes swapped, or their
cells swapped). A bag-of-words text encoder cannot tell a scene from its foils; each caption
is checked to be true of its scene and false of its foils, so composition is needed and
sufficient. Every scene signature is unique across all splits (no test scene is in train).

Captions are lower case without punctuation other than commas and semicolons between
clauses. :func:`parse_caption` reads one back into a :class:`Meaning`, and :func:`holds`
checks a meaning against a scene (the tests re-parse every caption).
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from seqbench.data.generators import GENERATORS
from seqbench.errors import SeqbenchError

# Bump when scenes, captions or rendering change: prepared caches then miss.
VERSION = 1

SHAPES = ("circle", "square", "triangle", "diamond")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 185, 60),
    "blue": (50, 90, 245),
    "yellow": (240, 225, 40),
    "purple": (165, 60, 215),
    "cyan": (40, 220, 230),
    "orange": (250, 140, 20),
    "white": (245, 245, 245),
}
SIZES = ("small", "large")
GRID = 3  # cells per side
BACKGROUND = (20, 20, 20)

# Surface words -> attribute; the synonyms are part of the paraphrasing.
SIZE_WORDS = {
    "small": "small",
    "little": "small",
    "tiny": "small",
    "large": "large",
    "big": "large",
}
SIZE_SYNONYMS = {s: [w for w, a in SIZE_WORDS.items() if a == s] for s in SIZES}
NP_TEMPLATES = (
    "{size} {colour} {shape}",
    "{colour} {shape} that is {size}",
    "{size} {shape} that is {colour}",
    "{size} {shape} coloured {colour}",
)
RELATION_PHRASES = {
    "left": ("to the left of", "left of", "on the left of"),
    "right": ("to the right of", "right of", "on the right of"),
    "above": ("above", "over", "higher than"),
    "below": ("below", "under", "beneath", "lower than"),
}
RELATION_CLAUSES = (
    "{a} is {rel} {b}",
    "{a} {rel} {b}",
    "there is {a} {rel} {b}",
    "{rel} {b} there is {a}",
)
LOCATION_CLAUSES = ("{a} {loc}", "{a} is {loc}", "there is {a} {loc}", "{loc} there is {a}")
JOINERS = (", and ", " and ", "; ", ", ")
ROW_WORDS = {0: ("top", "upper"), 2: ("bottom", "lower")}
COL_WORDS = {0: "left", 2: "right"}


def location_phrases(row: int, col: int) -> tuple[str, ...]:
    """Every phrase naming grid cell (row, col), e.g. ``in the top left corner``."""
    if row != 1 and col != 1:
        return tuple(
            p
            for w in ROW_WORDS[row]
            for p in (f"in the {w} {COL_WORDS[col]} corner", f"at the {w} {COL_WORDS[col]}")
        )
    if row != 1:
        top, upper = ROW_WORDS[row]
        return (f"at the {top}", f"in the {top} middle", f"in the {upper} middle")
    if col != 1:
        side = COL_WORDS[col]
        return (f"on the {side}", f"at the {side} side", f"in the middle {side}")
    return ("in the centre", "in the middle")


LOCATIONS: dict[str, tuple[int, int]] = {
    p: (r, c) for r in range(GRID) for c in range(GRID) for p in location_phrases(r, c)
}
_REL_OF_PHRASE = {p: rel for rel, ps in RELATION_PHRASES.items() for p in ps}
_REL_PATTERN = re.compile(
    r"(?:^| )(" + "|".join(sorted(map(re.escape, _REL_OF_PHRASE), key=len, reverse=True)) + r") "
)
_JOIN_PATTERN = re.compile(r", and |, | and |; ")


@dataclass(frozen=True)
class ShapeObject:
    """One object; ``jitter`` (each in [-1, 1]) moves it inside its cell when rendered."""

    shape: str
    colour: str
    size: str
    row: int
    col: int
    jitter: tuple[float, float] = (0.0, 0.0)

    @property
    def attributes(self) -> tuple[str, str, str]:
        return (self.shape, self.colour, self.size)


@dataclass(frozen=True)
class Scene:
    objects: tuple[ShapeObject, ...]

    def signature(self) -> frozenset[tuple[str, str, str, int, int]]:
        """What captions can tell apart: attributes and cells (not the jitter)."""
        return frozenset((*o.attributes, o.row, o.col) for o in self.objects)


@dataclass(frozen=True)
class Meaning:
    """A parsed caption: noun phrases (shape, colour, size) and clauses over their indices.

    ``relations``: (i, relation, j) meaning object i is <relation> object j;
    ``locations``: (i, (row, col)).
    """

    objects: tuple[tuple[str, str, str], ...]
    relations: tuple[tuple[int, str, int], ...]
    locations: tuple[tuple[int, tuple[int, int]], ...]


# --- captions ------------------------------------------------------------------------------


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(obj: ShapeObject, rng: random.Random) -> str:
    """``a small red circle`` or one of its paraphrases."""
    text = rng.choice(NP_TEMPLATES).format(
        size=rng.choice(SIZE_SYNONYMS[obj.size]), colour=obj.colour, shape=obj.shape
    )
    return f"{_article(text)} {text}"


def true_relations(a: ShapeObject, b: ShapeObject) -> list[str]:
    """The relations ``a <rel> b`` that hold (at least one for objects in different cells)."""
    rels = []
    if a.col != b.col:
        rels.append("left" if a.col < b.col else "right")
    if a.row != b.row:
        rels.append("above" if a.row < b.row else "below")
    return rels


def describe(scene: Scene, rng: random.Random, pair_probability: float = 0.7) -> str:
    """One caption naming every object of ``scene``: relation clauses and location clauses."""
    objects = list(scene.objects)
    rng.shuffle(objects)
    clauses = []
    i = 0
    while i < len(objects):
        if i + 1 < len(objects) and rng.random() < pair_probability:
            a, b = objects[i], objects[i + 1]
            phrase = rng.choice(RELATION_PHRASES[rng.choice(true_relations(a, b))])
            template = rng.choice(RELATION_CLAUSES)
            a_np, b_np = noun_phrase(a, rng), noun_phrase(b, rng)
            clauses.append(template.format(a=a_np, rel=phrase, b=b_np))
            i += 2
        else:
            a = objects[i]
            loc = rng.choice(location_phrases(a.row, a.col))
            clauses.append(rng.choice(LOCATION_CLAUSES).format(a=noun_phrase(a, rng), loc=loc))
            i += 1
    text = clauses[0]
    for clause in clauses[1:]:
        text += rng.choice(JOINERS) + clause
    return text


# --- parsing ---------------------------------------------------------------------------------


def _parse_np(text: str) -> tuple[str, str, str]:
    words = [w for w in text.split() if w not in {"a", "an", "that", "is", "coloured"}]
    shapes = [w for w in words if w in SHAPES]
    colours = [w for w in words if w in COLOURS]
    sizes = [SIZE_WORDS[w] for w in words if w in SIZE_WORDS]
    if len(shapes) != 1 or len(colours) != 1 or len(sizes) != 1 or len(words) != 3:
        raise ValueError(f"cannot read noun phrase {text!r}")
    return (shapes[0], colours[0], sizes[0])


def _strip(text: str, prefix: str = "", suffix: str = "") -> str:
    if prefix and text.startswith(prefix):
        text = text[len(prefix) :]
    if suffix and text.endswith(suffix):
        text = text[: -len(suffix)]
    return text.strip()


def parse_caption(text: str) -> Meaning:
    """Read a caption back into its meaning; raises ``ValueError`` on text outside the grammar."""
    objects: list[tuple[str, str, str]] = []
    relations: list[tuple[int, str, int]] = []
    locations: list[tuple[int, tuple[int, int]]] = []
    for clause in _JOIN_PATTERN.split(text.strip()):
        match = _REL_PATTERN.search(clause)
        if match:
            rel = _REL_OF_PHRASE[match.group(1)]
            before, after = clause[: match.start(1)].strip(), clause[match.end(1) :].strip()
            if not before:  # "{rel} {b} there is {a}"
                b_text, _, a_text = after.partition(" there is ")
            else:
                a_text, b_text = _strip(before, "there is ", " is"), after
            objects += [_parse_np(a_text), _parse_np(b_text)]
            relations.append((len(objects) - 2, rel, len(objects) - 1))
            continue
        for phrase in sorted(LOCATIONS, key=len, reverse=True):
            if clause.endswith(" " + phrase):
                np_text = _strip(clause[: -len(phrase)].strip(), "there is ", " is")
                break
            if clause.startswith(phrase + " there is "):
                np_text = clause[len(phrase + " there is ") :]
                break
        else:
            raise ValueError(f"cannot read clause {clause!r}")
        objects.append(_parse_np(np_text))
        locations.append((len(objects) - 1, LOCATIONS[phrase]))
    return Meaning(tuple(objects), tuple(relations), tuple(locations))


def holds(meaning: Meaning, scene: Scene) -> bool:
    """True when the caption names exactly the scene's objects and every clause is true."""
    objs = scene.objects
    if len(meaning.objects) != len(objs):
        return False
    # Only assignments that match every named object's attributes can make the caption true:
    # enumerate those instead of all n! orders (generating the full preset checks ~475k).
    candidates = [[k for k, o in enumerate(objs) if o.attributes == m] for m in meaning.objects]
    for perm in itertools.product(*candidates):
        if len(set(perm)) != len(perm):
            continue
        if clauses_hold(meaning, [objs[p] for p in perm]):
            return True
    return False


def clauses_hold(meaning: Meaning, assigned: list[ShapeObject]) -> bool:
    """Every relation and location clause of ``meaning`` is true with its i-th object being
    ``assigned[i]``."""
    related = all(
        rel in true_relations(assigned[i], assigned[j]) for i, rel, j in meaning.relations
    )
    return related and all(
        (assigned[i].row, assigned[i].col) == cell for i, cell in meaning.locations
    )


# --- scenes and foils ------------------------------------------------------------------------


def random_scene(rng: random.Random, count_weights: list[float]) -> Scene:
    """A scene of 1..len(count_weights) distinct objects in distinct cells."""
    n = rng.choices(range(1, len(count_weights) + 1), weights=count_weights)[0]
    cells = rng.sample([(r, c) for r in range(GRID) for c in range(GRID)], n)
    kinds = rng.sample([(s, c, z) for s in SHAPES for c in COLOURS for z in SIZES], n)
    objects = tuple(
        ShapeObject(s, c, z, r, col, (rng.uniform(-1, 1), rng.uniform(-1, 1)))
        for (s, c, z), (r, col) in zip(kinds, cells, strict=True)
    )
    return Scene(objects)


def _swap(scene: Scene, i: int, j: int, fields: tuple[str, ...]) -> Scene:
    objs = list(scene.objects)
    a, b = objs[i], objs[j]
    objs[i] = replace(a, **{f: getattr(b, f) for f in fields})
    objs[j] = replace(b, **{f: getattr(a, f) for f in fields})
    return Scene(tuple(objs))


FOIL_SWAPS = {
    "colour": ("colour",),
    "shape": ("shape",),
    "size": ("size",),
    "position": ("row", "col"),
}


def make_foil(scene: Scene, rng: random.Random) -> Scene:
    """The same attribute words bound differently: one swap between two objects.

    A one-object scene has nothing to swap; its foil moves the object to another cell.
    """
    if len(scene.objects) == 1:
        (obj,) = scene.objects
        cells = [(r, c) for r in range(GRID) for c in range(GRID) if (r, c) != (obj.row, obj.col)]
        r, c = rng.choice(cells)
        return Scene((replace(obj, row=r, col=c),))
    i, j = rng.sample(range(len(scene.objects)), 2)
    return _swap(scene, i, j, FOIL_SWAPS[rng.choice(sorted(FOIL_SWAPS))])


def discriminative_captions(
    scene: Scene, others: list[Scene], count: int, rng: random.Random, tries: int = 200
) -> list[str] | None:
    """``count`` different captions true of ``scene`` and false of every scene in ``others``."""
    found: list[str] = []
    for _ in range(tries):
        text = describe(scene, rng)
        if text in found:
            continue
        meaning = parse_caption(text)
        if not holds(meaning, scene):  # a generator bug, never data noise
            raise AssertionError(f"caption {text!r} is false of its own scene")
        if not any(holds(meaning, other) for other in others):
            found.append(text)
            if len(found) == count:
                return found
    return None


@dataclass
class Example:
    """One generated image's scene, captions and foil group."""

    scene: Scene
    captions: list[str]
    group: int


def foil_group(rng: random.Random, seen: set, options: dict[str, Any], group: int) -> list[Example]:
    """A base scene and up to ``foils`` foils, each with captions that tell them apart."""
    for _ in range(100):
        base = random_scene(rng, options["count_weights"])
        if base.signature() not in seen:
            break
    else:
        raise SeqbenchError("shapes-captions ran out of distinct scenes", "ask for fewer images")
    scenes = [base]
    for _ in range(4 * options["foils"]):
        if len(scenes) > options["foils"]:
            break
        foil = make_foil(base, rng)
        signature = foil.signature()
        # two membership tests, not `seen | {...}`: that copied the whole of `seen` per foil
        if signature not in seen and all(signature != s.signature() for s in scenes):
            scenes.append(foil)
    examples = []
    for scene in scenes:
        others = [s for s in scenes if s is not scene]
        captions = discriminative_captions(scene, others, options["captions"], rng)
        if captions is None:
            continue
        examples.append(Example(scene, captions, group))
    seen.update(e.scene.signature() for e in examples)
    return examples


DEFAULTS: dict[str, Any] = {
    "image_size": 64,
    "captions": 5,
    "foils": 2,
    "count_weights": [1, 3, 3, 3],  # relative frequency of 1, 2, 3, 4 objects
}


@GENERATORS.register("shapes_captions")
def generate(sizes: dict[str, int], seed: int = 0, **options: Any) -> dict[str, list[Example]]:
    """``{split: [Example, ...]}`` with ``sizes[split]`` images each.

    Splits are drawn in the order test, dev, train from one stream, so the test set does not
    depend on the train size, and no scene signature repeats anywhere.
    """
    opts = {**DEFAULTS, **options}
    unknown = set(opts) - set(DEFAULTS)
    if unknown:
        raise SeqbenchError(
            f"unknown shapes_captions option(s) {sorted(unknown)}", f"known: {sorted(DEFAULTS)}"
        )
    rng = random.Random(seed)
    seen: set = set()
    order = sorted(sizes, key=lambda s: ({"test": 0, "dev": 1, "train": 2}.get(s, 3), s))
    out: dict[str, list[Example]] = {}
    group = 0
    for split in order:
        examples: list[Example] = []
        while len(examples) < sizes[split]:
            examples += foil_group(rng, seen, opts, group)
            group += 1
        out[split] = examples[: sizes[split]]
    return out


# --- rendering ---------------------------------------------------------------------------------

_SUPERSAMPLE = 4  # draw large, then downsample: anti-aliased edges keep small shapes legible
_RADIUS = {"small": 0.20, "large": 0.36}  # fraction of a cell
_JITTER = {"small": 0.18, "large": 0.07}  # fraction of a cell; objects never leave their cell


def _circle(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, fill: tuple) -> None:
    draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _square(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, fill: tuple) -> None:
    s = 0.85 * r  # equal area to the eye beside a circle of radius r
    draw.rectangle((x - s, y - s, x + s, y + s), fill=fill)


def _triangle(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, fill: tuple) -> None:
    draw.polygon([(x, y - r), (x + r, y + 0.8 * r), (x - r, y + 0.8 * r)], fill=fill)


def _diamond(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, fill: tuple) -> None:
    draw.polygon([(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=fill)


_DRAW = {"circle": _circle, "square": _square, "triangle": _triangle, "diamond": _diamond}


def render(scene: Scene, image_size: int = 64) -> np.ndarray:
    """The scene as a uint8 array (image_size, image_size, 3)."""
    big = image_size * _SUPERSAMPLE
    cell = big / GRID
    canvas = Image.new("RGB", (big, big), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for o in scene.objects:
        x = (o.col + 0.5 + _JITTER[o.size] * o.jitter[0]) * cell
        y = (o.row + 0.5 + _JITTER[o.size] * o.jitter[1]) * cell
        r = _RADIUS[o.size] * cell
        _DRAW[o.shape](draw, x, y, r, COLOURS[o.colour])
    small = canvas.resize((image_size, image_size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8)
