"""Preparing VQA data: generated or read splits -> capped, tokenized, cached Arrow files.

Generated sources (Sort-of-CLEVR) come with their images and answer vocabulary; dev is carved
from train's first images (they are iid). Real sources (:mod:`seqbench.families.vqa.sources`)
are collected per split, their images decoded and resized once, answers normalised, and the
answer vocabulary taken from train. Questions are tokenized with a SentencePiece model
trained on the train questions.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from seqbench.config import SourceSpec
from seqbench.data.generators import generator_version, get_generator
from seqbench.data.images import NORMALISATIONS
from seqbench.data.splits import SPLITS
from seqbench.data.tokenize import SentencePieceTokenizer, train_sentencepiece
from seqbench.errors import SeqbenchError
from seqbench.families.base import split_caps
from seqbench.families.vqa import sources, store
from seqbench.families.vqa.readers import open_reader
from seqbench.families.vqa.store import OUT_OF_VOCABULARY, VQASplit
from seqbench.progress import make_progress

DATA_OPTIONS = (
    "max_train",
    "max_eval",
    "seed",
    "images",
    "questions",
    "dev_fraction",
    "image_size",
    "answers",
    "carve",
)
DEFAULT_IMAGE_SIZE = 64  # px, for real images (generated ones keep their own size)
DEFAULT_DEV_FRACTION = 0.05
FAMILY_SOURCE_OPTIONS = ("image_norm",)  # source options the family reads, not the generator


def image_norm(source: SourceSpec) -> str:
    """How pixels become model inputs (``source.options.image_norm``, default signed)."""
    norm = str(source.options.get("image_norm", "signed"))
    if norm not in NORMALISATIONS:
        raise SeqbenchError(
            f"unknown image_norm {norm!r}", f"choose one of: {', '.join(NORMALISATIONS)}"
        )
    return norm


def _generated(source: SourceSpec, data: dict[str, Any]) -> tuple[dict[str, VQASplit], list[str]]:
    """Splits of an embedded generator, dev carved from train's first images (they are iid)."""
    generate = get_generator(str(source.generator))
    options = {k: v for k, v in source.options.items() if k not in FAMILY_SOURCE_OPTIONS}
    options["seed"] = data["seed"]
    for key in ("images", "questions"):
        if data[key]:
            options[key] = data[key]
    raw = generate(**options)
    splits = {name: _from_columns(s.images, s.columns(), name) for name, s in raw.items()}
    vocabulary = list(next(iter(raw.values())).vocabulary)
    if "dev" not in splits:
        train = splits["train"]
        n_dev = max(1, round(len(train.images) * data["dev_fraction"]))
        splits["dev"] = store.take_images(train, np.arange(n_dev))
        splits["train"] = store.take_images(train, np.arange(n_dev, len(train.images)))
    return splits, vocabulary


def _from_columns(images: np.ndarray, columns: dict[str, Any], name: str) -> VQASplit:
    n = len(columns["question"])
    return VQASplit(
        images=images,
        image_ids=[f"{name}/{i}" for i in range(len(images))],
        image=np.asarray(columns["image"], dtype=np.int64),
        question=list(columns["question"]),
        answers=[[a] for a in columns["answer"]],
        qtype=list(columns["type"]),
        subtype=list(columns["subtype"]),
        question_id=[f"{name}/{i}" for i in range(n)],
        vector=np.asarray(columns["vector"], dtype=np.float32),
    )


def _real(
    reader: sources.Reader, data: dict[str, Any]
) -> tuple[dict[str, VQASplit], list[str], dict[str, Any]]:
    examples, plan = sources.collect(reader, split_caps(data), data["seed"], data["carve"])
    size = int(data["image_size"] or DEFAULT_IMAGE_SIZE)
    splits, skipped = {}, {}
    for split in SPLITS:
        where = f"{reader.source.describe()} {split}"
        splits[split], skipped[split] = store.assemble(examples[split], size, where)
    vocabulary = store.answer_vocabulary([splits["train"]], data["answers"])
    return (
        splits,
        vocabulary,
        {"source_splits": plan.source_of, "carved": plan.shares, "skipped": skipped},
    )


def build_cache(
    tmp: Path, source: SourceSpec, data: dict[str, Any], tokenizer: dict[str, Any]
) -> dict[str, Any]:
    """Make, cap, tokenize and write every split; returns the manifest."""
    with make_progress() as progress:
        task = progress.add_task(f"prepare {source.describe()}", total=None, info="")
        notes: dict[str, Any] = {}
        if source.kind == "generator":
            splits, vocabulary = _generated(source, data)
        else:
            splits, vocabulary, notes = _real(open_reader(source), data)
        caps = split_caps(data)
        splits = {s: store.cap_questions(splits[s], caps[s]) for s in SPLITS}
        model_path = tmp / "question.model"
        train_sentencepiece(
            splits["train"].question, model_path, tokenizer["vocab_size"], tokenizer["model_type"]
        )
        tok = SentencePieceTokenizer(model_path)
        for name, split in splits.items():
            split.question_ids = tok.encode_batch(split.question)
            split.answer = store.answer_indices(split, vocabulary)
            store.write_split(tmp, name, split)
        progress.update(task, total=1, completed=1)
    image_shape = list(splits["train"].images.shape[1:])
    return {
        "family": "vqa",
        "source": source.describe(),
        "splits": {
            s: {
                "size": len(d),
                "images": int(len(d.images)),
                "out_of_vocabulary": int((d.answer == OUT_OF_VOCABULARY).sum()),
            }
            for s, d in splits.items()
        },
        "answers": vocabulary,
        "image_shape": image_shape,
        "image_norm": image_norm(source),
        "question_vector_size": int(splits["train"].vector.shape[1]),
        "max_question_len": max(len(ids) for d in splits.values() for ids in d.question_ids),
        "tokenizer": {**tokenizer, "file": "question.model", "actual_vocab_size": tok.vocab_size},
        "data_options": data,
        "notes": notes,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def source_identity(source: SourceSpec) -> dict[str, Any]:
    """What the fingerprint hashes about the source (a generator's version included)."""
    if source.kind == "generator":
        version = generator_version(str(source.generator))
        return {"generator": source.generator, "options": source.options, "version": version}
    return {**open_reader(source).identity(), "splits": source.splits}
