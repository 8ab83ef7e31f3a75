"""An external VQA test set read as the checkpoint sees data: test-only, never re-split.

Every question of the source (all its splits, in order) becomes the ``test`` split; images are
resized to the checkpoint's image size; questions are encoded with the checkpoint's own
SentencePiece model and answers indexed in its own answer list. Words the tokenizer does not
know and answers outside the list are counted (``manifest["external"]``), never remapped: a
question whose answer the model cannot give stays in the score as a miss.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from seqbench.config import SourceSpec
from seqbench.data.tokenize import UNK_ID, SentencePieceTokenizer
from seqbench.errors import SeqbenchError
from seqbench.families.vqa import store as vqa_store
from seqbench.families.vqa.readers import open_reader
from seqbench.families.vqa.store import OUT_OF_VOCABULARY
from seqbench.progress import make_progress


def identity(source: SourceSpec, model_manifest: dict[str, Any], tokenizer_sha: str) -> dict:
    """What the cache fingerprint of this (test set, checkpoint data) pair hashes."""
    return {
        "family": "vqa",
        "external_test_set": open_reader(source).identity(),
        "tokenizer_sha256": tokenizer_sha,
        "answers": model_manifest["answers"],
        "image_shape": model_manifest["image_shape"],
        "image_norm": model_manifest.get("image_norm", "signed"),
        "question_vector_size": model_manifest.get("question_vector_size", 0),
    }


def build(
    tmp: Path, source: SourceSpec, model_data: Path, model_manifest: dict[str, Any]
) -> dict[str, Any]:
    """Read, encode and write the ``test`` split into ``tmp``; returns the manifest."""
    reader = open_reader(source)
    where = source.describe()
    size = int(model_manifest["image_shape"][0])
    vector_size = int(model_manifest.get("question_vector_size", 0))
    tokenizer_file = str(model_manifest["tokenizer"]["file"])
    with make_progress() as progress:
        task = progress.add_task(f"read test set {where}", total=None, info="")
        examples = [ex for name in reader.splits() for ex in reader.examples(name)]
        split, skipped = vqa_store.assemble(examples, size, where)
        vectors = split.vector.shape[1]
        if vectors and vectors != vector_size:
            raise SeqbenchError(
                f"{where}: questions carry {vectors}-number vectors, the checkpoint reads "
                f"{vector_size}",
                "drop the `vector` field or use a set encoded like the checkpoint's task",
            )
        if not vectors:  # the model's vector input stays zero; models that read it are told
            split.vector = np.zeros((len(split), vector_size), dtype=np.float32)
        shutil.copyfile(model_data / tokenizer_file, tmp / tokenizer_file)
        tok = SentencePieceTokenizer(tmp / tokenizer_file)
        split.question_ids = tok.encode_batch(split.question)
        split.answer = vqa_store.answer_indices(split, model_manifest["answers"])
        unknown_words = sorted(
            {
                piece
                for text, ids in zip(split.question, split.question_ids, strict=True)
                if UNK_ID in ids
                for piece, pid in zip(tok.pieces(text), ids, strict=False)
                if pid == UNK_ID
            }
        )
        oov = split.answer == OUT_OF_VOCABULARY
        vqa_store.write_split(tmp, "test", split)
        progress.update(task, total=1, completed=1)
    external = {
        "source": where,
        "questions": len(split),
        "images": int(len(split.images)),
        "vector": "read" if vectors else ("absent: zeros" if vector_size else "none"),
        "questions_with_unknown_words": int(sum(UNK_ID in ids for ids in split.question_ids)),
        "unknown_words": unknown_words[:50],
        "unknown_answers": int(oov.sum()),
        "unknown_answer_values": sorted(
            {vqa_store.target_answer(split.answers[i]) for i in np.flatnonzero(oov)}
        )[:50],
        "skipped": skipped,
    }
    return {
        "family": "vqa",
        "source": where,
        "splits": {
            "test": {
                "size": len(split),
                "images": int(len(split.images)),
                "out_of_vocabulary": int(oov.sum()),
            }
        },
        "answers": list(model_manifest["answers"]),
        "image_shape": list(model_manifest["image_shape"]),
        "image_norm": model_manifest.get("image_norm", "signed"),
        "question_vector_size": vector_size,
        "max_question_len": max((len(ids) for ids in split.question_ids), default=0),
        "tokenizer": dict(model_manifest["tokenizer"]),
        "external": external,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
