"""The ``retrieval`` family: image-text retrieval with a dual encoder, Recall@K both ways.

``prepare`` generates (shapes-captions) or reads (Flickr30k, COCO Karpathy, local JSONL or
parquet) images with their captions, trains a SentencePiece model on the train captions and
writes a cache folder::

    train.arrow dev.arrow test.arrow   images and tokenized captions (store.py)
    caption.model                      SentencePiece (pad=0 unk=1 bos=2 eos=3)
    manifest.json                      sizes, image size, tokenizer, fingerprint

Preset data options: ``seed``, ``images: {train, dev, test}`` (generated counts; for real
sources the sizes of carved splits, and caps of train and dev: a source's own test split is
read whole), ``max_train``/``max_eval`` (train/dev image caps),
``image_size`` (px). Training batches keep a generated scene's foils together (hard
negatives); evaluation embeds every image and caption once, then searches both ways with
:class:`seqbench.search.VectorIndex`, so a trace holds the ``similarity_search`` records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from seqbench.config import SourceSpec, TaskSpec
from seqbench.data.cache import file_sha256
from seqbench.data.images import to_tensor
from seqbench.data.tokenize import PAD_ID
from seqbench.families.base import (
    FAMILY_REGISTRY,
    EvalOutcome,
    Prepared,
    TaskFamily,
    pad_ids,
)
from seqbench.families.retrieval import prepare, store, test_set
from seqbench.families.retrieval.store import RetrievalSplit
from seqbench.families.runspec import RunSpec
from seqbench.families.scoring import scored_count
from seqbench.metrics.retrieval import KS, recall_metrics
from seqbench.metrics.signature import Signature
from seqbench.models.dual_encoder import symmetric_info_nce
from seqbench.progress import make_progress
from seqbench.search import VectorIndex


class RetrievalBatch(NamedTuple):
    """``images`` float [B,3,H,W] in [-1,1]; ``captions`` Long [B,L] (pad 0), pair i matches i."""

    images: Tensor
    captions: Tensor


# --- batches and loss ------------------------------------------------------------------------


def training_order(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows shuffled group by group, so a scene and its foils share a batch."""
    _, group_index = np.unique(groups, return_inverse=True)
    keys = rng.permutation(int(group_index.max()) + 1)[group_index]
    return np.lexsort((rng.random(len(groups)), keys))


def loss(model: nn.Module, batch: RetrievalBatch) -> Tensor:
    """Symmetric InfoNCE over the batch's image x caption logits."""
    image_emb, text_emb = model(batch.images, batch.captions)
    return symmetric_info_nce(model.logits(image_emb, text_emb))


# --- evaluation ------------------------------------------------------------------------------


def embed(
    encode: Callable[[Any], Tensor],
    items: list[Any],
    batch_size: int,
    collate: Callable[[list[Any]], Any],
    advance: Callable[[int], None],
) -> Tensor:
    """``encode(collate(batch))`` over ``items`` in batches, concatenated [N, D]."""
    out = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        out.append(encode(collate(chunk)))
        advance(len(chunk))
    return torch.cat(out)


def search_both_ways(
    image_emb: Tensor, text_emb: Tensor, image_ids: list[str], caption_keys: list[str], k: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Top-``k`` captions per image and images per caption, with the search's facts."""
    started = time.perf_counter()
    images = VectorIndex(image_ids, image_emb, name="images")
    captions = VectorIndex(caption_keys, text_emb, name="captions")
    t2i = images.search(text_emb, k).indices.numpy()
    i2t = captions.search(image_emb, k).indices.numpy()
    facts = {
        "search_s": time.perf_counter() - started,
        "dim": images.dim,
        "k": k,
        "t2i": {"gallery": images.size, "queries": captions.size},
        "i2t": {"gallery": captions.size, "queries": images.size},
    }
    return i2t, t2i, facts


@dataclass(frozen=True)
class Captions:
    """The captions of the first ``n`` images of a split, flattened in image order."""

    ids: list[list[int]]
    text: list[str]
    keys: list[str]  # "<image id>#<j>": unique gallery ids
    image: np.ndarray  # int64 [C]: the row of the image each caption describes

    @classmethod
    def of(cls, data: RetrievalSplit, n: int) -> Captions:
        rows = [(i, j) for i in range(n) for j in range(len(data.captions[i]))]
        return cls(
            ids=[data.caption_ids[i][j] for i, j in rows],
            text=[data.captions[i][j] for i, j in rows],
            keys=[f"{data.image_ids[i]}#{j}" for i, j in rows],
            image=np.asarray([i for i, _ in rows], dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.ids)


def examples(data: RetrievalSplit, captions: Captions, t2i: np.ndarray) -> list[dict[str, Any]]:
    """The first few text->image queries with their top-5 images, for the result record."""
    return [
        {
            "caption": captions.text[q],
            "image_id": data.image_ids[captions.image[q]],
            "top5": [data.image_ids[j] for j in t2i[q][:5]],
            "hit@1": bool(t2i[q][0] == captions.image[q]),
        }
        for q in range(min(5, len(captions)))
    ]


class RetrievalFamily(TaskFamily):
    """Image-text retrieval: contrastive dual encoders scored by Recall@K both ways."""

    name = "retrieval"
    # The cost of a search depends on the gallery's size: trace the whole split, not a
    # sample, so `--accel ice` prices the protocol's gallery (1K images, 5K captions).
    trace_limit: int | None = None

    data_option_keys = prepare.DATA_OPTIONS
    # The spec's split mapping names hub splits; a local override names its own by file.
    source_override_keeps = ("fields", "options")
    source_fields = prepare.SOURCE_FIELDS
    steps, store, test_sets = prepare, store, test_set

    def data_options(self, spec: TaskSpec, preset: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        out = super().data_options(spec, preset, raw)
        out["images"] = dict(out["images"] or {})
        out["image_size"] = int(
            out["image_size"] or spec.source.options.get("image_size", prepare.DEFAULT_IMAGE_SIZE)
        )
        return out

    def test_set_identity(
        self, source: SourceSpec, model_data: Path, model_manifest: dict[str, Any]
    ) -> dict[str, Any]:
        tokenizer = file_sha256(model_data / prepare.TOKENIZER_FILE)
        return test_set.identity(source, model_manifest, tokenizer)

    def model_inputs(self, prepared: Prepared) -> dict[str, Any]:
        manifest = prepared.manifest
        return {
            "vocab_size": int(manifest["tokenizer"]["actual_vocab_size"]),
            "pad_id": PAD_ID,
            "image_size": int(manifest["image_size"]),
            "max_len": int(manifest["tokenizer"]["max_tokens"]),
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
    ) -> Iterator[RetrievalBatch]:
        """Every image once with one of its captions (drawn afresh from ``seed``)."""
        data = self.split_data(prepared, split)
        rng = np.random.default_rng(seed)
        order = training_order(data.groups, rng) if shuffle else np.arange(len(data))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            ids = [data.caption_ids[r][rng.integers(len(data.caption_ids[r]))] for r in rows]
            yield RetrievalBatch(to_tensor(data.images[rows]), pad_ids(ids))

    def loss(self, model: nn.Module, batch: RetrievalBatch) -> Tensor:
        return loss(model, batch)

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
        """Recall@1/5/10 both ways over the first ``limit`` images and all their captions.

        Both galleries are embedded once; every image and every caption is then a query
        (``units`` counts them). ``beam`` does not apply to retrieval.
        """
        data = self.split_data(prepared, split)
        n = scored_count(prepared.key, split, len(data), limit)
        captions = Captions.of(data, n)
        was_training = model.training
        model.eval()
        started = time.perf_counter()
        with torch.no_grad(), make_progress() as bars:
            bar = bars.add_task(f"eval {split}", total=n + len(captions), info="", visible=progress)

            def advance(count: int) -> None:
                bars.update(bar, advance=count)

            t0 = time.perf_counter()
            image_emb = embed(
                model.encode_image,
                list(range(n)),
                batch_size,
                lambda rows: to_tensor(data.images[rows]),
                advance,
            )
            t1 = time.perf_counter()
            # Batches of similar length waste little compute on padding; order restored after.
            by_length = np.argsort([len(ids) for ids in captions.ids], kind="stable")
            sorted_emb = embed(
                model.encode_text,
                [captions.ids[i] for i in by_length],
                batch_size,
                pad_ids,
                advance,
            )
            text_emb = torch.empty_like(sorted_emb)
            text_emb[torch.from_numpy(by_length)] = sorted_emb
            t2 = time.perf_counter()
            i2t, t2i, search = search_both_ways(
                image_emb, text_emb, data.image_ids[:n], captions.keys, max(KS)
            )
        wall_s = time.perf_counter() - started
        model.train(was_training)
        return EvalOutcome(
            metrics=recall_metrics(i2t, t2i, captions.image, KS),
            primary="rsum",
            signature=Signature.of(
                {
                    "recall@k": "vse++",
                    "captions": prepared.manifest["captions_per_image"],
                    "images": n,
                    "data": prepared.fingerprint,
                }
            ),
            samples=n,
            units=n + len(captions),
            unit="query",
            wall_s=wall_s,
            breakdown={
                "encode_images_s": t1 - t0,
                "encode_captions_s": t2 - t1,
                **search,
                "images": n,
                "captions": len(captions),
            },
            examples=examples(data, captions, t2i),
        )


FAMILY_REGISTRY.add("retrieval", RetrievalFamily())
