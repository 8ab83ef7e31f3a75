"""The ``binding`` family: a new modality (audio) bound to a frozen image-text space.

``prepare`` generates (shapes-captions scenes with their sounds) or reads (a local folder of
image/audio pairs) the data, tokenizes the captions with the teacher's tokenizer and writes a
cache folder::

    train.arrow dev.arrow test.arrow   images, log-mel codes, captions and their ids
    caption.model                      the teacher task's SentencePiece model (a copy)
    arithmetic.json                    test (image, audio) pairs and their combined scene's
                                       captions (generated scenes only; arithmetic.py)
    manifest.json                      sizes, log-mel shape and statistics, fingerprint

Preset data options: ``seed``, ``images: {train, dev, test}`` (a local test file is read
whole), ``max_train``/``max_eval`` (train/dev),
``image_size`` (px), ``arithmetic`` (combined scenes in the arithmetic set). The spec's
``teacher: {task, model}`` names the clip checkpoint whose frozen towers the audio encoder
is bound to; the train stage trains or reuses it (``train.teacher_checkpoint``).

Evaluation embeds every image and caption (frozen teacher) and every clip (audio tower)
once, then searches with :class:`seqbench.search.VectorIndex`: audio<->image (what
``bind-audio`` was trained on), audio<->text (emergent for ``bind-audio``: it never saw an
audio-text pair; supervised for ``bind-audio-text``) and image + audio -> caption of the
combined scene (``arith_*``; the image alone and the audio alone as baselines).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from seqbench.config import SourceSpec, TaskSpec, load_task
from seqbench.data.cache import file_sha256
from seqbench.data.images import to_tensor
from seqbench.data.scene_sounds import VERSION as SOUNDS_VERSION
from seqbench.errors import SeqbenchError
from seqbench.families.base import (
    FAMILY_REGISTRY,
    EvalOutcome,
    Prepared,
    TaskFamily,
    family_named,
    pad_ids,
)
from seqbench.families.binding import prepare, store
from seqbench.families.binding.store import BindingSplit, codes_to_db
from seqbench.families.retrieval.family import Captions, embed, training_order
from seqbench.families.runspec import RunSpec
from seqbench.families.scoring import scored_count
from seqbench.metrics.retrieval import KS, image_to_text_recall, text_to_image_recall
from seqbench.metrics.signature import Signature
from seqbench.models.dual_encoder import l2_normalize, symmetric_info_nce
from seqbench.progress import make_progress
from seqbench.registry import Registry
from seqbench.search import VectorIndex

# Bump when what training produces changes (batches, loss).
VERSION = 1


class BindingBatch(NamedTuple):
    """Pair i of each field belongs together: ``audio`` float [B, n_mels, frames] (normalised
    log-mel), ``images`` float [B,3,H,W] in [-1,1], ``captions`` Long [B,L] (one per scene)."""

    audio: Tensor
    images: Tensor
    captions: Tensor


# What the audio embedding is pulled towards, by the model's ``target``: the frozen
# teacher's image embedding (ImageBind) or its text embedding (the supervised upper bound).
TARGETS: Registry[Callable[[nn.Module, BindingBatch], Tensor]] = Registry("binding target")
TARGETS.add("image", lambda model, batch: model.encode_image(batch.images))
TARGETS.add("text", lambda model, batch: model.encode_text(batch.captions))
# The dev score training keeps the best epoch by: the retrieval the model was trained for.
PRIMARY = {"image": "audio_image_rsum", "text": "audio_text_rsum"}


def mel_tensor(codes: np.ndarray, mel: dict[str, Any]) -> Tensor:
    """uint8 log-mel codes [B, n_mels, frames] -> float32, standardised by the train split's
    dB mean and deviation (``mel`` of the manifest), as AST/ImageBind normalise."""
    db = codes_to_db(codes)
    return torch.from_numpy((db - float(mel["mean_db"])) / float(mel["std_db"]))


def loss(model: nn.Module, batch: BindingBatch) -> Tensor:
    """Symmetric InfoNCE between the audio embeddings and the frozen target embeddings."""
    audio = model.encode_audio(batch.audio)
    with torch.no_grad():  # the teacher is frozen: no graph through it
        target = TARGETS.get(model.target)(model, batch)
    return symmetric_info_nce(model.logits(audio, target))


def recall(prefix: str, values: dict[int, float]) -> dict[str, float]:
    return {f"{prefix}_r{k}": v for k, v in values.items()}


def retrieval_metrics(
    audio: Tensor,
    image: Tensor,
    text: Tensor,
    caption_scene: np.ndarray,
    ids: list[str],
    caption_keys: list[str],
) -> tuple[dict[str, float], dict[str, Any], np.ndarray]:
    """Recall@K audio<->image and audio<->text (percent), the searches' sizes and the
    audio->text ranking (for the record's examples)."""
    k = max(KS)
    audios = VectorIndex(ids, audio, name="audio")
    images = VectorIndex(ids, image, name="images")
    captions = VectorIndex(caption_keys, text, name="captions")
    own = np.arange(len(ids))
    a2i = images.search(audio, k).indices.numpy()
    i2a = audios.search(image, k).indices.numpy()
    a2t = captions.search(audio, k).indices.numpy()
    t2a = audios.search(text, k).indices.numpy()
    metrics = (
        recall("a2i", text_to_image_recall(a2i, own, KS))
        | recall("i2a", text_to_image_recall(i2a, own, KS))
        | recall("a2t", image_to_text_recall(a2t, caption_scene, KS))
        | recall("t2a", text_to_image_recall(t2a, caption_scene, KS))
    )
    metrics["audio_image_rsum"] = sum(metrics[f"{d}_r{k}"] for d in ("a2i", "i2a") for k in KS)
    metrics["audio_text_rsum"] = sum(metrics[f"{d}_r{k}"] for d in ("a2t", "t2a") for k in KS)
    facts = {
        "a2i": {"gallery": images.size, "queries": len(ids)},
        "i2a": {"gallery": audios.size, "queries": len(ids)},
        "a2t": {"gallery": captions.size, "queries": len(ids)},
        "t2a": {"gallery": audios.size, "queries": captions.size},
    }
    return metrics, facts, a2t


def arithmetic_metrics(
    combos: list[dict[str, Any]], image: Tensor, audio: Tensor, combo_text: Tensor
) -> dict[str, float]:
    """``arith_r{k}``: norm(image(A)) + norm(audio(B)) -> a caption of the combined scene;
    ``arith_image_only_r1`` and ``arith_audio_only_r1``: each half alone, as baselines."""
    rows = [(m, j) for m, c in enumerate(combos) for j in range(len(c["caption_ids"]))]
    scene_of = np.asarray([m for m, _ in rows], dtype=np.int64)
    gallery = VectorIndex([f"{m}#{j}" for m, j in rows], combo_text, name="combined_captions")
    a_rows = torch.tensor([c["image"] for c in combos])
    b_rows = torch.tensor([c["audio"] for c in combos])
    seen, heard = image[a_rows], audio[b_rows]
    both = l2_normalize(seen + heard, name="arithmetic_query")
    k = max(KS)
    out = recall("arith", image_to_text_recall(gallery.search(both, k).indices.numpy(), scene_of))
    for name, query in (("image_only", seen), ("audio_only", heard)):
        ranked = gallery.search(query, k).indices.numpy()
        out[f"arith_{name}_r1"] = image_to_text_recall(ranked, scene_of, (1,))[1]
    return out


def examples(data: BindingSplit, a2t: np.ndarray, captions: Captions) -> list[dict[str, Any]]:
    """The first few audio queries with the captions they retrieve, for the record."""
    return [
        {
            "pair_id": data.pair_ids[q],
            "caption": data.captions[q][0],
            "top3_captions": [captions.text[j] for j in a2t[q][:3]],
        }
        for q in range(min(5, len(data)))
    ]


class BindingFamily(TaskFamily):
    """Audio bound to a frozen clip: Recall@K audio<->image, audio<->text, arithmetic."""

    name = "binding"
    # A search is priced on the gallery it really searched: trace the whole split.
    trace_limit: int | None = None
    data_option_keys = prepare.DATA_OPTIONS
    # The generator's options (foils, captions) mean nothing to a local folder.
    source_override_keeps: tuple[str, ...] = ()
    generator_versions = {"sounds_version": SOUNDS_VERSION}  # the clips' synthesiser
    store = store

    def data_options(self, spec: TaskSpec, preset: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        out = super().data_options(spec, preset, raw)
        out["images"] = dict(out["images"] or {})
        out["image_size"] = int(
            out["image_size"] or spec.source.options.get("image_size", prepare.DEFAULT_IMAGE_SIZE)
        )
        out["arithmetic"] = int(out["arithmetic"] or 0)
        if not spec.teacher:
            raise SeqbenchError(
                f"binding task {spec.name!r} names no teacher",
                "add `teacher: {task: shapes-captions, model: clip}` to its spec",
            )
        tokenizer, max_tokens = self.teacher_tokenizer(spec.teacher["task"], preset)
        out["teacher"] = {
            "task": spec.teacher["task"],
            "preset": preset,
            "tokenizer_sha256": file_sha256(tokenizer),
            "max_tokens": max_tokens,
        }
        return out

    @staticmethod
    def teacher_tokenizer(task: str, preset: str) -> tuple[Path, int]:
        """The teacher task's tokenizer file (its data prepared, or found cached) and its
        caption length cap."""
        teacher_spec, subset = load_task(task)
        prepared, _ = family_named(teacher_spec.family).prepare(teacher_spec, subset, preset)
        tok = prepared.manifest["tokenizer"]
        path = prepared.directory / str(tok["file"])
        return prepare.check_teacher_tokenizer(path, teacher_spec.name), int(tok["max_tokens"])

    def tokenizer_settings(self, raw: dict[str, Any]) -> dict[str, Any]:
        # The captions are the teacher's to read: its tokenizer (in data["teacher"]) decides.
        return {"from": "teacher"}

    def build_cache(
        self,
        tmp: Path,
        source: SourceSpec,
        subset: str | None,
        data: dict[str, Any],
        tokenizer: dict[str, Any],
    ) -> dict[str, Any]:
        teacher = data["teacher"]
        tokenizer_file, _ = self.teacher_tokenizer(str(teacher["task"]), str(teacher["preset"]))
        return prepare.build_cache(tmp, source, data, tokenizer_file)

    def model_inputs(self, prepared: Prepared) -> dict[str, Any]:
        mel = prepared.manifest["mel"]
        return {"n_mels": int(mel["n_mels"]), "frames": int(mel["frames"])}

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
    ) -> Iterator[BindingBatch]:
        """Every pair once, a scene's foils in the same batch (hard negatives: the same
        notes in another order or pitch), with one of its captions drawn from ``seed``."""
        data = self.split_data(prepared, split)
        rng = np.random.default_rng(seed)
        order = training_order(data.groups, rng) if shuffle else np.arange(len(data))
        mel = prepared.manifest["mel"]
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            ids = [data.caption_ids[r][rng.integers(len(data.caption_ids[r]))] for r in rows]
            yield BindingBatch(
                mel_tensor(data.mels[rows], mel), to_tensor(data.images[rows]), pad_ids(ids)
            )

    def loss(self, model: nn.Module, batch: BindingBatch) -> Tensor:
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
        """Recall@1/5/10 audio<->image and audio<->text over the first ``limit`` pairs and
        all their captions, and (test split, whole) the arithmetic set. ``beam`` does not
        apply."""
        data = self.split_data(prepared, split)
        n = scored_count(prepared.key, split, len(data), limit)
        captions = Captions.of(_as_retrieval(data), n)
        combos = prepare.read_arithmetic(prepared.directory, prepared.manifest)
        combos = combos if split == "test" and n == len(data) else []
        mel = prepared.manifest["mel"]
        was_training = model.training
        model.eval()
        started = time.perf_counter()
        combo_ids = [ids for c in combos for ids in c["caption_ids"]]
        total = 2 * n + len(captions) + len(combo_ids)
        with torch.no_grad(), make_progress() as bars:
            bar = bars.add_task(f"eval {split}", total=total, info="", visible=progress)

            def advance(count: int) -> None:
                bars.update(bar, advance=count)

            rows = list(range(n))
            t0 = time.perf_counter()
            image = embed(
                model.encode_image, rows, batch_size, lambda r: to_tensor(data.images[r]), advance
            )
            t1 = time.perf_counter()
            audio = embed(
                model.encode_audio,
                rows,
                batch_size,
                lambda r: mel_tensor(data.mels[r], mel),
                advance,
            )
            t2 = time.perf_counter()
            text = self._embed_text(model, captions.ids, batch_size, advance)
            t3 = time.perf_counter()
            metrics, search, a2t = retrieval_metrics(
                audio, image, text, captions.image, data.pair_ids[:n], captions.keys
            )
            if combos:
                combo_text = self._embed_text(model, combo_ids, batch_size, advance)
                metrics |= arithmetic_metrics(combos, image, audio, combo_text)
                search["arithmetic"] = {"gallery": len(combo_ids), "queries": 3 * len(combos)}
            t4 = time.perf_counter()
        model.train(was_training)
        return EvalOutcome(
            metrics=metrics,
            primary=PRIMARY[model.target],
            signature=Signature.of(
                {
                    "recall@k": "audio-image-text",
                    "captions": prepared.manifest["captions_per_image"],
                    "pairs": n,
                    "arithmetic": len(combos),
                    "data": prepared.fingerprint,
                }
            ),
            samples=n,
            # Search queries: each clip twice (images, captions), each image and caption once,
            # and three per combination (image + audio, image alone, audio alone).
            units=3 * n + len(captions) + 3 * len(combos),
            unit="query",
            wall_s=time.perf_counter() - started,
            breakdown={
                "encode_images_s": t1 - t0,
                "encode_audio_s": t2 - t1,
                "encode_captions_s": t3 - t2,
                "search_and_arithmetic_s": t4 - t3,
                "searches": search,
                "pairs": n,
                "captions": len(captions),
                "target": model.target,
            },
            examples=examples(data, a2t, captions),
        )

    @staticmethod
    def _embed_text(
        model: nn.Module, ids: list[list[int]], batch_size: int, advance: Callable[[int], None]
    ) -> Tensor:
        """Caption embeddings in the given order (batched by length: little padding)."""
        by_length = np.argsort([len(x) for x in ids], kind="stable")
        sorted_emb = embed(
            model.encode_text, [ids[i] for i in by_length], batch_size, pad_ids, advance
        )
        out = torch.empty_like(sorted_emb)
        out[torch.from_numpy(by_length)] = sorted_emb
        return out


class _RetrievalView(NamedTuple):
    """The fields :class:`Captions` reads, under retrieval's names."""

    image_ids: list[str]
    captions: list[list[str]]
    caption_ids: list[list[list[int]]]


def _as_retrieval(data: BindingSplit) -> Any:
    return _RetrievalView(data.pair_ids, data.captions, data.caption_ids)


FAMILY_REGISTRY.add("binding", BindingFamily())
