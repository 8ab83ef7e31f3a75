"""A shapes scene as sound: a 2-second 16 kHz waveform, one note per object (issue 15).

Each object of a :class:`~seqbench.data.generators.shapes_captions.Scene` plays one note:
pitch from its colour (:data:`PITCH`, eight notes of a pentatonic scale, two octaves apart at
the ends), timbre from its shape (:data:`TIMBRE`: the harmonic amplitudes), loudness from its
size (:data:`LOUDNESS`) and onset from its horizontal position (:func:`onset_s`: left plays
first). Seeded Gaussian noise is added. The ImageBind audio recipe reads it: 16 kHz, 2 s clips,
128 mel bins (:mod:`seqbench.data.audio`).
"""

from __future__ import annotations

import functools

import numpy as np

from seqbench.data.generators.shapes_captions import GRID, Scene, ShapeObject

# Bump when the waveform of a scene changes: prepared caches then miss.
VERSION = 1

SAMPLE_RATE = 16_000  # Hz
CLIP_SECONDS = 2.0
NOTE_SECONDS = 0.45
NOISE_STD = 0.01
# Colour -> fundamental (Hz): C major pentatonic from C4, far enough apart to resolve in 128
# mel bins; ordered as shapes_captions.COLOURS.
PITCH: dict[str, float] = {
    "red": 261.63,
    "green": 293.66,
    "blue": 329.63,
    "yellow": 392.00,
    "purple": 440.00,
    "cyan": 523.25,
    "orange": 587.33,
    "white": 659.25,
}
# Shape -> amplitudes of harmonics 1..6: sine, odd 1/n (square-like), odd 1/n^2
# (triangle-like), all 1/n (sawtooth-like).
TIMBRE: dict[str, tuple[float, ...]] = {
    "circle": (1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "square": (1.0, 0.0, 1 / 3, 0.0, 1 / 5, 0.0),
    "triangle": (1.0, 0.0, 1 / 9, 0.0, 1 / 25, 0.0),
    "diamond": (1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 6),
}
LOUDNESS = {"small": 0.3, "large": 0.8}
FIRST_ONSET_S, LAST_ONSET_S = 0.05, CLIP_SECONDS - NOTE_SECONDS - 0.05


def onset_s(obj: ShapeObject) -> float:
    """When the object's note starts: its horizontal position (column + jitter) in time."""
    x = (obj.col + 0.5 + 0.3 * obj.jitter[0]) / GRID  # 0 (left edge) .. 1 (right edge)
    return FIRST_ONSET_S + x * (LAST_ONSET_S - FIRST_ONSET_S)


def note(obj: ShapeObject) -> np.ndarray:
    """One object's note: float32 samples, NOTE_SECONDS long, with an attack and a decay
    (read-only: shared by every object of that colour, shape and size)."""
    return _note(obj.colour, obj.shape, obj.size)


@functools.cache
def _note(colour: str, shape: str, size: str) -> np.ndarray:
    # 64 distinct notes for ~94K objects of a full-preset prepare: synthesised once each
    t = np.arange(int(NOTE_SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = PITCH[colour]
    tone = sum(a * np.sin(2 * np.pi * f0 * (n + 1) * t) for n, a in enumerate(TIMBRE[shape]))
    tone = tone / sum(TIMBRE[shape])
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-t / (NOTE_SECONDS / 3))
    samples = (LOUDNESS[size] * envelope * tone).astype(np.float32)
    samples.flags.writeable = False
    return samples


def waveform(scene: Scene, seed: int) -> np.ndarray:
    """The scene's 2-second clip, float32 in [-1, 1], deterministic in ``seed``."""
    out = np.zeros(int(CLIP_SECONDS * SAMPLE_RATE), dtype=np.float32)
    for obj in scene.objects:
        start = int(round(onset_s(obj) * SAMPLE_RATE))
        samples = note(obj)
        out[start : start + len(samples)] += samples[: len(out) - start]
    out += np.random.default_rng(seed).normal(0, NOISE_STD, out.shape).astype(np.float32)
    return np.clip(out, -1.0, 1.0)
