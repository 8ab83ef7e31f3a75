"""Preparing binding data: (image, audio, captions) records -> Arrow splits + arithmetic set.

The captions are tokenized with the *teacher's* SentencePiece model (copied into the cache
folder, its hash in the fingerprint): the emergent audio->text search runs through the
frozen teacher's text encoder, which knows only its own ids. The log-mel features come from
librosa (:func:`seqbench.data.audio.log_mel`); their train-split mean and standard deviation
go into the manifest, so training and evaluation normalise the same way.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from seqbench.atomic import write_json
from seqbench.config import SourceSpec
from seqbench.data.splits import SPLITS
from seqbench.data.tokenize import SentencePieceTokenizer
from seqbench.errors import SeqbenchError
from seqbench.families.base import capped_split_sizes
from seqbench.families.binding.arithmetic import combinations
from seqbench.families.binding.sources import load_records
from seqbench.families.binding.store import codes_to_db, read_split, write_split
from seqbench.progress import make_progress

DATA_OPTIONS = ("seed", "images", "max_train", "max_eval", "image_size", "arithmetic")
DEFAULT_IMAGE_SIZE = 64  # px
TOKENIZER_FILE = "caption.model"
ARITHMETIC_FILE = "arithmetic.json"


def build_cache(
    tmp: Path, source: SourceSpec, data: dict[str, Any], teacher_tokenizer: Path
) -> dict[str, Any]:
    """Load, featurise, tokenize and write every split and the arithmetic set."""
    records = load_records(source, capped_split_sizes(data), data["seed"])
    shutil.copyfile(teacher_tokenizer, tmp / TOKENIZER_FILE)
    tok = SentencePieceTokenizer(tmp / TOKENIZER_FILE)
    max_tokens = int(data["teacher"]["max_tokens"])
    total = sum(len(r) for r in records.values())
    mel_shape: tuple[int, int] = (0, 0)
    with make_progress() as progress:
        bar = progress.add_task(f"prepare {source.describe()}", total=total, info="pairs")
        for name in SPLITS:
            mel_shape = write_split(
                tmp / f"{name}.arrow",
                records[name],
                tok,
                data["image_size"],
                max_tokens,
                lambda n: progress.update(bar, advance=n),
            )
    train_db = codes_to_db(read_split(tmp, "train").mels)
    manifest: dict[str, Any] = {
        "family": "binding",
        "source": source.describe(),
        "splits": {
            s: {"size": len(r), "captions": sum(len(x.captions) for x in r)}
            for s, r in records.items()
        },
        "image_size": data["image_size"],
        "mel": {
            "n_mels": mel_shape[0],
            "frames": mel_shape[1],
            "mean_db": float(train_db.mean()),
            "std_db": float(max(train_db.std(), 1e-3)),
        },
        "captions_per_image": max(len(x.captions) for r in records.values() for x in r),
        "tokenizer": {"file": TOKENIZER_FILE, "max_tokens": max_tokens, **data["teacher"]},
        "data_options": data,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    scenes = [r.scene for r in records["test"]]
    if data.get("arithmetic") and all(s is not None for s in scenes):
        combos = combinations(
            scenes, int(data["arithmetic"]), manifest["captions_per_image"], data["seed"]
        )
        write_json(
            tmp / ARITHMETIC_FILE,
            [
                {
                    "image": c.image,
                    "audio": c.audio,
                    "captions": list(c.captions),
                    "caption_ids": [ids[:max_tokens] for ids in tok.encode_batch(list(c.captions))],
                }
                for c in combos
            ],
        )
        manifest["arithmetic"] = {"file": ARITHMETIC_FILE, "size": len(combos)}
    return manifest


def read_arithmetic(directory: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The arithmetic set (empty for a source without scenes, e.g. a local folder)."""
    entry = manifest.get("arithmetic")
    if not entry:
        return []
    path = directory / entry["file"]
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SeqbenchError(
            f"prepared file {path} is unreadable ({err})", "run `seqbench prepare --force TASK`"
        ) from err
    return list(rows)


def check_teacher_tokenizer(path: Path, teacher: str) -> Path:
    """The teacher's tokenizer file, or a one-line error when its data has none."""
    if not path.is_file():
        raise SeqbenchError(
            f"the teacher task {teacher!r} has no tokenizer file {path}",
            f"run `seqbench prepare {teacher} --force`",
        )
    return path
