"""synth-faces: seeded cartoon identities drawn with Pillow, many images per identity.

An identity is a set of drawn parameters (:class:`Identity`): face outline (ellipse aspect),
skin tone, eye spacing, size and colour, brows (thickness, tilt), nose length, mouth width,
hair (colour, style), glasses. Each image of an identity varies what a camera and a mood
vary (:class:`Variation`): pose offset, scale, in-plane rotation, lighting (brightness,
a side gradient, background grey), expression (mouth curve, eye opening) and pixel noise.
The nuisance is large next to the identity cues, so raw-pixel similarity is weak: the
family's eval states what raw-pixel cosine similarity scores (issue 15 asks for <= 75%).

:func:`generate` returns ``{split: [(identity, image_id, uint8 [S,S,3]), ...]}`` with
disjoint identities per split (no test identity is seen in training).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from seqbench.data.generators import GENERATORS

# Bump when identities, variations or rendering change: prepared caches then miss.
VERSION = 1

CANVAS = 96  # px: drawn large, then resized to the task's image size (anti-aliasing)
HAIR_STYLES = ("short", "long", "bald", "fringe")
# Split seeds are offset so that identities never coincide across splits.
SPLIT_OFFSET = {"train": 0, "dev": 1_000_003, "test": 2_000_029}


@dataclass(frozen=True)
class Identity:
    """What stays the same across every image of one person."""

    aspect: float  # face height / width
    skin: tuple[int, int, int]
    eye_gap: float  # fraction of face width between eye centres
    eye_size: float
    eye_colour: tuple[int, int, int]
    eye_height: float  # fraction of face height from the top
    brow_thick: int
    brow_tilt: float
    nose_len: float
    mouth_width: float
    hair_colour: tuple[int, int, int]
    hair_style: str
    glasses: bool


@dataclass(frozen=True)
class Variation:
    """What changes between two images of the same person."""

    dx: float
    dy: float
    scale: float
    angle: float  # degrees
    brightness: float
    gradient: float  # left-right lighting slope
    background: int
    smile: float  # mouth curve, -1 (frown) .. 1 (smile)
    eye_open: float
    noise: float


def draw_identity(rng: np.random.Generator) -> Identity:
    """One person's parameters."""
    tone = rng.uniform(0.25, 1.0)
    skin = (int(120 + 125 * tone), int(80 + 110 * tone), int(60 + 90 * tone))
    return Identity(
        aspect=float(rng.uniform(1.05, 1.5)),
        skin=skin,
        eye_gap=float(rng.uniform(0.3, 0.55)),
        eye_size=float(rng.uniform(0.06, 0.13)),
        eye_colour=tuple(int(v) for v in rng.integers(0, 160, 3)),  # type: ignore[arg-type]
        eye_height=float(rng.uniform(0.35, 0.48)),
        brow_thick=int(rng.integers(1, 5)),
        brow_tilt=float(rng.uniform(-0.08, 0.08)),
        nose_len=float(rng.uniform(0.1, 0.25)),
        mouth_width=float(rng.uniform(0.2, 0.5)),
        hair_colour=tuple(int(v) for v in rng.integers(0, 200, 3)),  # type: ignore[arg-type]
        hair_style=str(HAIR_STYLES[int(rng.integers(len(HAIR_STYLES)))]),
        glasses=bool(rng.random() < 0.3),
    )


def draw_variation(rng: np.random.Generator, strength: float = 1.0) -> Variation:
    """One image's nuisance; ``strength`` scales every offset (0: a frontal studio shot)."""
    s = strength
    return Variation(
        dx=float(rng.uniform(-0.12, 0.12) * s),
        dy=float(rng.uniform(-0.1, 0.1) * s),
        scale=float(1.0 + rng.uniform(-0.18, 0.18) * s),
        angle=float(rng.uniform(-20, 20) * s),
        brightness=float(1.0 + rng.uniform(-0.4, 0.3) * s),
        gradient=float(rng.uniform(-0.6, 0.6) * s),
        background=int(rng.integers(30, 220)),
        smile=float(rng.uniform(-1, 1)),
        eye_open=float(rng.uniform(0.35, 1.0)),
        noise=float(rng.uniform(4, 18) * s),
    )


def render(person: Identity, view: Variation, size: int, rng: np.random.Generator) -> np.ndarray:
    """One image of ``person`` under ``view``: uint8 [size, size, 3]."""
    c = CANVAS
    image = Image.new("RGB", (c, c), (view.background,) * 3)
    d = ImageDraw.Draw(image)
    w = 0.52 * c * view.scale
    h = w * person.aspect
    cx, cy = c / 2 + view.dx * c, c / 2 + view.dy * c + 0.04 * c
    left, top = cx - w / 2, cy - h / 2
    if person.hair_style in ("long", "fringe", "short"):
        grow = 0.35 if person.hair_style == "long" else 0.1
        d.ellipse(
            (left - 0.08 * w, top - 0.1 * h, left + 1.08 * w, top + (0.55 + grow) * h),
            fill=person.hair_colour,
        )
    d.ellipse((left, top, left + w, top + h), fill=person.skin)
    if person.hair_style == "fringe":
        d.chord((left, top - 0.05 * h, left + w, top + 0.45 * h), 180, 360, fill=person.hair_colour)
    eye_y = top + person.eye_height * h
    r = person.eye_size * w
    for side in (-1, 1):
        ex = cx + side * person.eye_gap * w / 2
        open_r = max(1.0, r * view.eye_open)
        d.ellipse((ex - r, eye_y - open_r, ex + r, eye_y + open_r), fill=(245, 245, 245))
        d.ellipse((ex - r / 2, eye_y - r / 2, ex + r / 2, eye_y + r / 2), fill=person.eye_colour)
        brow_y = eye_y - 1.8 * r
        tilt = side * person.brow_tilt * w
        d.line(
            (ex - 1.2 * r, brow_y + tilt, ex + 1.2 * r, brow_y - tilt),
            fill=person.hair_colour,
            width=max(1, int(person.brow_thick * c / 64)),
        )
        if person.glasses:
            d.ellipse(
                (ex - 1.6 * r, eye_y - 1.6 * r, ex + 1.6 * r, eye_y + 1.6 * r),
                outline=(20, 20, 20),
                width=2,
            )
    nose_top = eye_y + r
    nose_bottom = nose_top + person.nose_len * h
    d.line((cx, nose_top, cx - 0.04 * w, nose_bottom), fill=(90, 60, 50), width=2)
    mouth_y = (nose_bottom + top + h) / 2
    mw = person.mouth_width * w
    bend = view.smile * 0.08 * h
    box = (cx - mw / 2, mouth_y - abs(bend) - 1, cx + mw / 2, mouth_y + abs(bend) + 1)
    d.arc(box, 0 if bend >= 0 else 180, 180 if bend >= 0 else 360, fill=(150, 40, 50), width=3)
    image = image.rotate(view.angle, resample=Image.BILINEAR, fillcolor=(view.background,) * 3)
    image = image.resize((size, size), Image.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32)
    ramp = 1.0 + view.gradient * np.linspace(-0.5, 0.5, size, dtype=np.float32)
    pixels = pixels * view.brightness * ramp[None, :, None]
    pixels += rng.normal(0.0, view.noise, pixels.shape).astype(np.float32)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def generate(
    options: dict[str, Any], identities: dict[str, int], seed: int
) -> dict[str, list[tuple[int, str, np.ndarray]]]:
    """Per split, ``images_per_identity`` images of each of ``identities[split]`` people.

    Options: ``image_size`` (px, default 48), ``images_per_identity`` (default 8),
    ``strength`` (nuisance scale, default 1.0).
    """
    size = int(options.get("image_size", 48))
    per_id = int(options.get("images_per_identity", 8))
    strength = float(options.get("strength", 1.0))
    out: dict[str, list[tuple[int, str, np.ndarray]]] = {}
    for split, count in identities.items():
        rows = []
        for person_index in range(count):
            rng = np.random.default_rng([seed, SPLIT_OFFSET[split], person_index])
            person = draw_identity(rng)
            for j in range(per_id):
                view = draw_variation(rng, strength)
                rows.append(
                    (
                        person_index,
                        f"{split}-{person_index:05d}-{j:02d}",
                        render(person, view, size, rng),
                    )
                )
        out[split] = rows
    return out


GENERATORS.add("synth_faces", generate)
