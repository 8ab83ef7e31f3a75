"""The ``retrieval`` family: image-text retrieval with a dual encoder, Recall@K both ways.

``prepare`` generates (shapes-captions) or reads (Flickr30k, COCO Karpathy, local JSONL or
parquet) images with their captions, trains a SentencePiece model on the train captions and
writes a cache folder::

    train.arrow dev.arrow test.arrow   images and tokenized captions (data/retrieval_store.py)
    caption.model                      SentencePiece (pad=0 unk=1 bos=2 eos=3)
    manifest.json                      sizes, image size, tokenizer, fingerprint

Preset data options: ``seed``, ``images: {train, dev, test}`` (generated counts; for real
sources the sizes of carved splits and caps), ``max_train``/``max_eval`` (image caps),
``image_size`` (px). Training batches keep a generated scene's foils together (hard
negatives); evaluation embeds every image and caption once, then searches both ways with
:class:`seqbench.search.VectorIndex`, so a trace holds the ``similarity_search`` records.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from seqbench.config import SourceSpec, TaskSpec
from seqbench.data.generators import get_generator
from seqbench.data.images import to_tensor
from seqbench.data.retrieval_sources import load_records
from seqbench.data.retrieval_store import RetrievalSplit, read_split, write_split
from seqbench.data.tokenize import (
    PAD_ID,
    SentencePieceTokenizer,
    sentencepiece_settings,
    train_sentencepiece,
)
from seqbench.errors import SeqbenchError
from seqbench.families.base import (
    FAMILY_REGISTRY,
    EvalOutcome,
    Prepared,
    TaskFamily,
    cached_prepare,
)
from seqbench.metrics.retrieval import KS, recall_metrics
from seqbench.models.dual_encoder import symmetric_info_nce
from seqbench.progress import make_progress
from seqbench.search import VectorIndex

SPLITS = ("train", "dev", "test")
DATA_OPTIONS = ("seed", "images", "max_train", "max_eval", "image_size")
DEFAULT_IMAGE_SIZE = 64  # px
TOKENIZER_FILE = "caption.model"


class RetrievalBatch(NamedTuple):
    """``images`` float [B,3,H,W] in [-1,1]; ``captions`` Long [B,L] (pad 0), pair i matches i."""

    images: Tensor
    captions: Tensor


# --- prepare ---------------------------------------------------------------------------------


def data_options(spec: TaskSpec, preset: str) -> dict[str, Any]:
    """The preset options that change the prepared data (part of the fingerprint)."""
    opts = spec.preset(preset)
    out = {k: opts.get(k) for k in DATA_OPTIONS}
    out["seed"] = int(out["seed"] or 0)
    out["images"] = dict(out["images"] or {})
    out["image_size"] = int(
        out["image_size"] or spec.source.options.get("image_size", DEFAULT_IMAGE_SIZE)
    )
    return out


def split_sizes(data: dict[str, Any]) -> dict[str, int | None]:
    """Images per split: the preset's ``images`` capped by ``max_train``/``max_eval``."""
    caps = {"train": data["max_train"], "dev": data["max_eval"], "test": data["max_eval"]}
    sizes = {}
    for split in SPLITS:
        given = [int(v) for v in (data["images"].get(split), caps[split]) if v is not None]
        sizes[split] = min(given) if given else None
    return sizes


def tokenizer_settings(spec: TaskSpec, preset: str) -> dict[str, Any]:
    """The caption tokenizer: one SentencePiece model and a caption length cap."""
    raw = {**spec.tokenizer, **spec.preset(preset).get("tokenizer", {})}
    return {
        **sentencepiece_settings(raw, default_vocab_size=8000),
        "max_tokens": int(raw.get("max_tokens", 64)),
    }


def effective_source(spec_source: SourceSpec, override: str | None) -> SourceSpec:
    """The spec's source, or ``--source`` keeping the spec's fields and options.

    The spec's split mapping names hub splits; a local override names its own by file.
    """
    if not override:
        return spec_source
    parsed = SourceSpec.from_cli(override)
    return replace(parsed, fields=dict(spec_source.fields), options=dict(spec_source.options))


def source_identity(source: SourceSpec) -> dict[str, Any]:
    """What the fingerprint hashes about the source (a generator's version, a file's mtime)."""
    identity: dict[str, Any] = {
        "kind": source.kind,
        "describe": source.describe(),
        "fields": source.fields,
        "splits": source.splits,
        "options": source.options,
    }
    if source.kind == "generator":
        generate = get_generator(str(source.generator))
        identity["version"] = getattr(importlib.import_module(generate.__module__), "VERSION", 0)
    elif source.kind == "local":
        path = Path(str(source.local)).expanduser()
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        identity["files"] = [
            (str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.is_file()
        ]
    return identity


def build_cache(
    tmp: Path, source: SourceSpec, data: dict[str, Any], tokenizer: dict[str, Any]
) -> dict[str, Any]:
    """Load, tokenize and write every split; returns the manifest."""
    splits = load_records(source, split_sizes(data), data["seed"])
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        raise SeqbenchError(f"{source.describe()} gave no {missing} split", "check the spec")
    model_path = tmp / TOKENIZER_FILE
    train_captions = [c for r in splits["train"] for c in r.captions]
    train_sentencepiece(
        train_captions, model_path, tokenizer["vocab_size"], tokenizer["model_type"]
    )
    tok = SentencePieceTokenizer(model_path)
    total = sum(len(records) for records in splits.values())
    with make_progress() as progress:
        bar = progress.add_task(f"prepare {source.describe()}", total=total, info="images")
        for name, records in splits.items():
            write_split(
                tmp / f"{name}.arrow",
                records,
                tok,
                data["image_size"],
                tokenizer["max_tokens"],
                lambda n: progress.update(bar, advance=n),
            )
    return {
        "family": "retrieval",
        "source": source.describe(),
        "splits": {
            s: {"size": len(r), "captions": sum(len(x.captions) for x in r)}
            for s, r in splits.items()
        },
        "image_size": data["image_size"],
        "captions_per_image": max(len(r.captions) for rs in splits.values() for r in rs),
        "tokenizer": {**tokenizer, "file": TOKENIZER_FILE, "actual_vocab_size": tok.vocab_size},
        "data_options": data,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def split_data(prepared: Prepared, split: str) -> RetrievalSplit:
    prepared.require_split(split)
    return read_split(prepared.directory, split)


# --- batches and loss ------------------------------------------------------------------------


def pad(sequences: list[list[int]]) -> Tensor:
    """Right-pad token id lists with ``PAD_ID`` into Long [B, max_len] (at least 1 column)."""
    out = torch.full((len(sequences), max(1, *map(len, sequences))), PAD_ID, dtype=torch.long)
    for i, ids in enumerate(sequences):
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


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

    def prepare(
        self,
        spec: TaskSpec,
        subset: str | None,
        preset: str,
        *,
        source_override: str | None = None,
        force: bool = False,
    ) -> tuple[Prepared, bool]:
        data = data_options(spec, preset)
        tokenizer = tokenizer_settings(spec, preset)
        source = effective_source(spec.source, source_override)
        parts = {
            "family": self.name,
            "source": source_identity(source),
            "tokenizer": tokenizer,
            "data": data,
        }
        prepared, cached = cached_prepare(
            spec,
            subset,
            preset,
            parts,
            lambda tmp: build_cache(tmp, source, data, tokenizer),
            force=force,
        )
        if not cached:
            read_split.cache_clear()  # a rebuild replaces the files behind cached splits
        return prepared, cached

    def model_config(self, prepared: Prepared, model: str, preset: str) -> dict[str, Any]:
        opts = prepared.spec.preset(preset)
        config = {**opts.get("model", {}), **opts.get("model_overrides", {}).get(model, {})}
        manifest = prepared.manifest
        config.update(
            vocab_size=int(manifest["tokenizer"]["actual_vocab_size"]),
            pad_id=PAD_ID,
            image_size=int(manifest["image_size"]),
            max_len=int(manifest["tokenizer"]["max_tokens"]),
        )
        return config

    def batches(
        self,
        prepared: Prepared,
        split: str,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        epoch: int = 0,
        options: dict[str, Any] | None = None,
    ) -> Iterator[RetrievalBatch]:
        """Every image once with one of its captions (drawn afresh from ``seed``)."""
        data = split_data(prepared, split)
        rng = np.random.default_rng(seed)
        order = training_order(data.groups, rng) if shuffle else np.arange(len(data))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            ids = [data.caption_ids[r][rng.integers(len(data.caption_ids[r]))] for r in rows]
            yield RetrievalBatch(to_tensor(data.images[rows]), pad(ids))

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
        data = split_data(prepared, split)
        n = len(data) if limit is None else min(limit, len(data))
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
                model.encode_text, [captions.ids[i] for i in by_length], batch_size, pad, advance
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
            signature=(
                f"recall@k:vse++|captions:{prepared.manifest['captions_per_image']}"
                f"|images:{n}|data:{prepared.fingerprint}"
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
