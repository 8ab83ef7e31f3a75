"""From a ``source:`` to prepared face splits: the synth-faces generator or a local LFW folder.

Generated: ``identities: {train, dev, test}`` people, ``images_per_identity`` images each;
dev and test get :func:`~seqbench.families.faces.protocol.make_pairs` pairs.

Local LFW (``source: {local: path/to/lfw}``): the folder holds one sub-folder per person
(``Name/Name_0001.jpg``, as the LFW tarball unpacks) and the official ``pairs.txt`` (in the
folder or beside it). Test = every image ``pairs.txt`` references, with its pairs and folds;
train = all images of the people ``pairs.txt`` never names (so no identity is in both), and
dev = a seeded tenth of those people, held out of train, with generated pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from seqbench.config import SourceSpec
from seqbench.data.generators import get_generator
from seqbench.data.images import open_image
from seqbench.data.inside import inside
from seqbench.errors import SeqbenchError
from seqbench.families.faces.protocol import make_pairs, read_pairs_file
from seqbench.families.faces.store import FaceSplit, Pairs

EVAL_SPLITS = ("dev", "test")


def _relabel(people: list[Any]) -> np.ndarray:
    """Identities numbered 0.. in order of first appearance."""
    order: dict[Any, int] = {}
    return np.asarray([order.setdefault(p, len(order)) for p in people], dtype=np.int64)


def generated(
    source: SourceSpec, data: dict[str, Any], advance: Callable[[int], None]
) -> dict[str, FaceSplit]:
    """The generator's splits, with pairs for dev and test."""
    options = {**source.options, "image_size": data["image_size"]}
    identities = {s: int(n) for s, n in data["identities"].items()}
    rows = get_generator(str(source.generator))(options, identities, data["seed"])
    out = {}
    for split, items in rows.items():
        labels = np.asarray([person for person, _, _ in items], dtype=np.int64)
        images = np.stack([pixels for _, _, pixels in items])
        out[split] = FaceSplit([i for _, i, _ in items], images, labels)
        if split in EVAL_SPLITS:
            out[split].pairs = make_pairs(
                labels, int(data["pairs"][split]), data["folds"], data["seed"]
            )
        advance(len(items))
    return out


def face_array(path: Path, size: int, crop: float) -> np.ndarray:
    """A face image decoded (one-line error if it cannot be), centre-cropped and resized."""
    image = open_image(path, used_by="the pairs.txt lines that name it (or the person's folder)")
    side = int(min(image.size) * crop)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def lfw_image(root: Path, name: str, number: int) -> Path:
    """LFW's file for image ``number`` of ``name``; a missing one fails naming the pair."""
    path = inside(root, f"{name}/{name}_{number:04d}.jpg", f"pairs.txt of {root}")
    if not path.is_file():
        raise SeqbenchError(
            f"image {path} named by pairs.txt is missing",
            "unpack the full LFW folder (lfw/NAME/NAME_NNNN.jpg) beside pairs.txt",
        )
    return path


def from_lfw(
    source: SourceSpec, data: dict[str, Any], advance: Callable[[int], None]
) -> dict[str, FaceSplit]:
    """Test from ``pairs.txt``, train/dev from the people it never names."""
    root = Path(str(source.local)).expanduser()
    pairs_file = next(
        (p for p in (root / "pairs.txt", root.parent / "pairs.txt") if p.is_file()), None
    )
    if not root.is_dir() or pairs_file is None:
        raise SeqbenchError(
            f"{root} is not an LFW folder with pairs.txt",
            "point --source local:PATH at the unpacked lfw/ folder with pairs.txt in or beside it",
        )
    size, crop = data["image_size"], float(source.options.get("crop", 0.5))
    named = read_pairs_file(pairs_file)
    row_of: dict[Path, int] = {}
    paths: list[Path] = []
    a, b = [], []
    for pair in named:
        for ref, out in ((pair.first, a), (pair.second, b)):
            path = lfw_image(root, *ref)
            if path not in row_of:
                row_of[path] = len(paths)
                paths.append(path)
            out.append(row_of[path])
    test_people = [p.parent.name for p in paths]
    test = FaceSplit(
        [p.stem for p in paths],
        np.stack([face_array(p, size, crop) for p in paths]),
        _relabel(test_people),
        Pairs(
            np.asarray(a),
            np.asarray(b),
            np.asarray([p.same for p in named]),
            np.asarray([p.fold for p in named], dtype=np.int64),
        ),
    )
    advance(len(paths))
    excluded = {pair.first[0] for pair in named} | {pair.second[0] for pair in named}
    people = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name not in excluded)
    rng = np.random.default_rng(data["seed"])
    dev_people = set(rng.permutation(people)[: max(2, len(people) // 10)].tolist())
    out = {"test": test}
    for split, chosen in (
        ("train", [p for p in people if p not in dev_people]),
        ("dev", sorted(dev_people)),
    ):
        files = [f for p in chosen for f in sorted((root / p).glob("*.jpg"))]
        if not files:
            raise SeqbenchError(
                f"{root} has no training people outside pairs.txt",
                "use the full LFW folder, not only the test people",
            )
        out[split] = FaceSplit(
            [f.stem for f in files],
            np.stack([face_array(f, size, crop) for f in files]),
            _relabel([f.parent.name for f in files]),
        )
        advance(len(files))
    dev = out["dev"]
    dev.pairs = make_pairs(dev.labels, int(data["pairs"]["dev"]), data["folds"], data["seed"])
    return out


LOADERS = {"generator": generated, "local": from_lfw}


def load_splits(
    source: SourceSpec, data: dict[str, Any], advance: Callable[[int], None]
) -> dict[str, FaceSplit]:
    """Every split of ``source`` (generated, or a local LFW folder)."""
    if source.kind not in LOADERS:
        raise SeqbenchError(
            f"the faces family cannot read {source.describe()}",
            "use the synth_faces generator or --source local:PATH/TO/lfw",
        )
    return LOADERS[source.kind](source, data, advance)
