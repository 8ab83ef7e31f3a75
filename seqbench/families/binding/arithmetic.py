"""Embedding arithmetic: an image plus a sound retrieving the caption of the combined scene.

The *combined scene* of test scenes A (seen) and B (heard) is the scene holding A's objects
and B's objects together, each object where it is in its own scene: defined only when their
objects occupy disjoint grid cells and the union has at most ``MAX_OBJECTS`` (the
generator's largest scene). The query is ``norm(image(A)) + norm(audio(B))``; the gallery
holds the captions of every combined scene (written like the generator's, ``describe``),
and a query hits at K when one of its own combined scene's captions ranks in the top K.
The image alone and the audio alone query the same gallery as the baselines the sum must beat.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from seqbench.data.generators.shapes_captions import Scene, describe

MAX_OBJECTS = 4


@dataclass(frozen=True)
class Combination:
    """Test rows ``image`` (A) and ``audio`` (B) and the captions of their combined scene."""

    image: int
    audio: int
    captions: tuple[str, ...]


def combined(a: Scene, b: Scene) -> Scene | None:
    """A's and B's objects in one scene, or None when they share a cell or are too many."""
    cells_a = {(o.row, o.col) for o in a.objects}
    cells_b = {(o.row, o.col) for o in b.objects}
    if cells_a & cells_b or len(a.objects) + len(b.objects) > MAX_OBJECTS:
        return None
    return Scene(a.objects + b.objects)


def combinations(scenes: list[Scene], count: int, captions: int, seed: int) -> list[Combination]:
    """Up to ``count`` (A, B) pairs of distinct scenes drawn with ``seed``, each scene used
    at most once as A and once as B, with ``captions`` captions of the combined scene."""
    rng = random.Random(seed)
    order = list(range(len(scenes)))
    rng.shuffle(order)
    used_b: set[int] = set()
    seen: set = set()
    out: list[Combination] = []
    for i in order:
        if len(out) >= count:
            break
        for j in order:
            if j == i or j in used_b:
                continue
            scene = combined(scenes[i], scenes[j])
            if scene is None or scene.signature() in seen:
                continue
            texts = tuple(describe(scene, rng) for _ in range(captions))
            out.append(Combination(i, j, texts))
            used_b.add(j)
            seen.add(scene.signature())
            break
    return out
