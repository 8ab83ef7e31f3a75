"""The ``vqa`` family: image + question in, an answer class out, official VQA accuracy.

``prepare`` generates (Sort-of-CLEVR) or reads (VQAv2, CLEVR, JSONL) the data, carves a dev
split from train by image, caps sizes, normalises answers, builds the answer vocabulary from
train, trains a SentencePiece model on the train questions and writes a cache folder::

    train.images.arrow train.questions.arrow   (likewise dev, test; see store.py)
    question.model                              SentencePiece (pad=0 unk=1 bos=2 eos=3)
    manifest.json                               sizes, answer vocabulary, image size, hashes

Preset data options: ``max_train``/``max_eval`` (train/dev questions; a test split is never
capped), ``seed``, ``images`` (generated images per split), ``questions`` (generated
questions per image and type), ``dev_fraction``, ``image_size`` (px, real images are resized
to it), ``answers`` (answer-vocabulary size), ``carve`` (dev/test shares of a shared source
split), ``tokenizer`` (overrides the spec's);
the source option ``image_norm`` (``signed`` or ``ink``) says how pixels become inputs.
``train.questions_per_image`` groups that many questions of one image in a training batch,
so the CNN runs once for them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbench.config import SourceSpec, TaskSpec
from seqbench.data.cache import file_sha256
from seqbench.data.images import NORMALISATIONS
from seqbench.data.tokenize import PAD_ID, sentencepiece_settings
from seqbench.errors import SeqbenchError
from seqbench.families.base import (
    FAMILY_REGISTRY,
    EvalOutcome,
    Prepared,
    TaskFamily,
    mark_whole_test,
    pad_ids,
)
from seqbench.families.runspec import RunSpec, TrainOptions
from seqbench.families.scoring import Stopwatch, eval_bar, scored_count
from seqbench.families.vqa import prepare, store, test_set
from seqbench.families.vqa.store import OUT_OF_VOCABULARY, VQASplit
from seqbench.metrics.signature import Signature
from seqbench.metrics.vqa import mean_accuracy, vqa_accuracy

MAX_SUBTYPE_METRICS = 12  # more sub-types than this (VQAv2's 65) go to the breakdown only
QUESTIONS_PER_IMAGE = 4  # default training-batch grouping


@dataclass
class VQABatch:
    """``images`` [N, 3, H, W] normalised (each distinct image once); per question (B of
    them): ``image_index`` [B] (row in ``images``), ``question_ids`` [B, L] (pad 0),
    ``question_vectors`` [B, V], ``answers`` [B] (answer index, -1 outside the vocabulary),
    the question ``types`` ("type.subtype") and the split ``rows``."""

    images: Tensor
    image_index: Tensor
    question_ids: Tensor
    question_vectors: Tensor
    answers: Tensor
    types: list[str]
    rows: list[int]

    def to(self, device: torch.device | str) -> VQABatch:
        return VQABatch(
            self.images.to(device),
            self.image_index.to(device),
            self.question_ids.to(device),
            self.question_vectors.to(device),
            self.answers.to(device),
            self.types,
            self.rows,
        )


def make_batch(split: VQASplit, rows: list[int], image_norm: str = "signed") -> VQABatch:
    """Collate questions ``rows`` of ``split``; each distinct image appears once."""
    image_rows, image_index = np.unique(split.image[rows], return_inverse=True)
    ids = [split.question_ids[r] for r in rows]  # type: ignore[index]
    return VQABatch(
        images=NORMALISATIONS[image_norm](split.images[image_rows]),
        image_index=torch.from_numpy(image_index.reshape(-1).astype(np.int64)),
        question_ids=pad_ids(ids),
        question_vectors=torch.from_numpy(split.vector[rows]),
        answers=torch.from_numpy(split.answer[rows]),  # type: ignore[index]
        types=[f"{split.qtype[r]}.{split.subtype[r]}" for r in rows],
        rows=list(rows),
    )


def forward(model: nn.Module, batch: VQABatch) -> Tensor:
    """Answer logits [B, num_answers]: the one call signature every VQA model implements."""
    return model(batch.images, batch.question_ids, batch.question_vectors, batch.image_index)


def training_order(
    split: VQASplit,
    batch_size: int,
    per_image: int,
    seed: int,
    types: Collection[str] | None = None,
) -> list[list[int]]:
    """Shuffled batches made of groups of ``per_image`` questions sharing an image.

    With ``types``, only questions of those types, drawn again (fresh shuffles) until the epoch
    has as many questions as a full one: the step count, so the learning-rate schedule and the
    progress bar, stay as planned.
    """
    rng = np.random.default_rng(seed)
    rows_of = (
        range(len(split.image))
        if types is None
        else [row for row, qtype in enumerate(split.qtype) if qtype in types]
    )
    if types is not None and not rows_of:
        raise SeqbenchError(
            f"the curriculum's question types {sorted(types or [])} match no training question",
            f"use types from: {', '.join(sorted(set(split.qtype)))}",
        )
    by_image: dict[int, list[int]] = defaultdict(list)
    for row in rows_of:
        by_image[int(split.image[row])].append(row)
    flat: list[int] = []
    while len(flat) < len(split.image):
        groups = []
        for rows in by_image.values():
            rows = list(rng.permutation(rows))
            groups += [rows[i : i + per_image] for i in range(0, len(rows), per_image)]
        flat += [int(r) for g in rng.permutation(len(groups)) for r in groups[g]]
    flat = flat[: len(split.image)]
    return [flat[i : i + batch_size] for i in range(0, len(flat), batch_size)]


def curriculum_types(options: TrainOptions, epoch: int) -> list[str] | None:
    """Question types allowed in ``epoch`` by the ``curriculum`` train option, or None (all).

    ``curriculum: {types: [non_relational], epochs: 1}`` trains the first epoch on the
    non-relational questions only: on Sort-of-CLEVR a model first learns to find the queried
    object, which the relational questions need too, instead of settling on answer priors.
    """
    plan = options.get("curriculum")
    if not plan or epoch >= int(plan.get("epochs", 0)):
        return None
    return [str(t) for t in plan["types"]]


# --- scoring ------------------------------------------------------------------------------


def score(
    predictions: list[str], split: VQASplit, rows: list[int]
) -> tuple[dict[str, float], dict[str, Any]]:
    """Official VQA accuracy (percent) overall, per type and per sub-type."""
    per_q = [vqa_accuracy(p, split.answers[r]) for p, r in zip(predictions, rows, strict=True)]
    by_type: dict[str, list[float]] = defaultdict(list)
    by_subtype: dict[str, list[float]] = defaultdict(list)
    for acc, r in zip(per_q, rows, strict=True):
        by_type[split.qtype[r]].append(acc)
        by_subtype[f"{split.qtype[r]}.{split.subtype[r]}"].append(acc)
    metrics = {"vqa_accuracy": mean_accuracy(per_q)}
    metrics.update({t: mean_accuracy(v) for t, v in sorted(by_type.items()) if len(by_type) > 1})
    if 1 < len(by_subtype) <= MAX_SUBTYPE_METRICS:
        metrics.update({s: mean_accuracy(v) for s, v in sorted(by_subtype.items())})
    breakdown = {
        "by_type": {t: {"accuracy": mean_accuracy(v), "count": len(v)} for t, v in by_type.items()},
        "by_subtype": {
            s: {"accuracy": mean_accuracy(v), "count": len(v)} for s, v in by_subtype.items()
        },
        "out_of_vocabulary": int(sum(split.answer[r] == OUT_OF_VOCABULARY for r in rows)),
    }
    return metrics, breakdown


class VQAFamily(TaskFamily):
    """Visual question answering as classification over an answer vocabulary."""

    name = "vqa"
    evaluates_on_device = True

    data_option_keys = prepare.DATA_OPTIONS
    steps, store, test_sets = prepare, store, test_set
    train_option_rules = {
        "questions_per_image": (int, 1, None),  # questions of one image grouped in a batch
        "curriculum": None,  # {types, epochs}: see curriculum_types
    }

    def test_set_identity(
        self, source: SourceSpec, model_data: Path, model_manifest: dict[str, Any]
    ) -> dict[str, Any]:
        tokenizer = file_sha256(model_data / str(model_manifest["tokenizer"]["file"]))
        return test_set.identity(source, model_manifest, tokenizer)

    def data_options(self, spec: TaskSpec, preset: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        out = super().data_options(spec, preset, raw)
        out["dev_fraction"] = float(out["dev_fraction"] or prepare.DEFAULT_DEV_FRACTION)
        return mark_whole_test(out)

    def tokenizer_settings(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The question tokenizer: one SentencePiece model (4,000 pieces unless the spec says)."""
        return sentencepiece_settings(raw, default_vocab_size=4000)

    def source_identity(
        self, source: SourceSpec, subset: str | None, data: dict[str, Any]
    ) -> dict[str, Any]:
        return prepare.source_identity(source)

    def model_inputs(self, prepared: Prepared) -> dict[str, Any]:
        manifest = prepared.manifest
        return {
            "num_answers": len(manifest["answers"]),
            "question_vocab_size": int(manifest["tokenizer"]["actual_vocab_size"]),
            "question_vector_size": int(manifest["question_vector_size"]),
            "image_size": int(manifest["image_shape"][0]),
            "max_question_len": int(manifest["max_question_len"]),
            "pad_id": PAD_ID,
        }

    def batches(
        self,
        prepared: Prepared,
        split: str,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        epoch: int = 0,
        run: RunSpec | None = None,
    ) -> Iterator[VQABatch]:
        data = self.split_data(prepared, split)
        if shuffle:
            train = (run or prepared.run).train
            per_image = int(train.get("questions_per_image", QUESTIONS_PER_IMAGE))
            types = curriculum_types(train, epoch)
            order = training_order(data, batch_size, per_image, seed, types)
        else:
            order = [
                list(range(i, min(i + batch_size, len(data))))
                for i in range(0, len(data), batch_size)
            ]
        for rows in order:
            yield make_batch(data, rows, prepared.manifest.get("image_norm", "signed"))

    def loss(self, model: nn.Module, batch: VQABatch) -> Tensor:
        device = next(model.parameters()).device
        batch = batch.to(device)
        logits = forward(model, batch)
        if not bool((batch.answers != OUT_OF_VOCABULARY).any()):
            return logits.sum() * 0.0  # every answer unknown: nothing to learn, no NaN
        return F.cross_entropy(logits, batch.answers, ignore_index=OUT_OF_VOCABULARY)

    def evaluate(
        self,
        model: nn.Module,
        prepared: Prepared,
        split: str,
        *,
        limit: int | None = None,
        beam: int = 1,
        batch_size: int = 64,
        progress: bool = True,
    ) -> EvalOutcome:
        data = self.split_data(prepared, split)
        n = scored_count(prepared.key, split, len(data), limit)
        vocabulary = prepared.manifest["answers"]
        norm = prepared.manifest.get("image_norm", "signed")
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        predictions: list[str] = []
        watch = Stopwatch()
        with eval_bar(progress) as bar, torch.no_grad():
            task = bar.add_task(f"answer {prepared.key} {split}", total=n, info="")
            for start in range(0, n, batch_size):
                rows = list(range(start, min(start + batch_size, n)))
                batch = make_batch(data, rows, norm).to(device)
                with watch:
                    logits = forward(model, batch)
                predictions += [vocabulary[i] for i in logits.argmax(-1).tolist()]
                bar.update(task, advance=len(batch.rows))
        model.train(was_training)
        rows = list(range(n))
        metrics, breakdown = score(predictions, data, rows)
        return EvalOutcome(
            metrics=metrics,
            primary="vqa_accuracy",
            signature=Signature.of(
                {"vqa-acc": "official", "answers": len(vocabulary), "data": prepared.fingerprint}
            ),
            samples=n,
            units=n,
            unit="sample",
            wall_s=watch.seconds,
            breakdown=breakdown,
            examples=[
                {
                    "question": data.question[r],
                    "prediction": predictions[r],
                    "answers": data.answers[r][:3],
                    "type": data.subtype[r],
                }
                for r in rows[:3]
            ],
        )


# The registry holds family *instances* (``family_for`` returns it and calls its methods).
FAMILY_REGISTRY.add("vqa", VQAFamily())
