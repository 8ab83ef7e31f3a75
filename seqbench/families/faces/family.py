"""The ``faces`` family: face verification (LFW protocol) and identification by gallery search.

Training batches are (faces, identity) pairs for the model's margin softmax. Evaluation
embeds every image of the split once, then:

- verification: the cosine similarity of each protocol pair; accuracy by 10-fold
  cross-validation (threshold chosen on the other nine folds), TAR at FAR = 1e-3, ROC points;
  raw-pixel cosine similarity scored on the same pairs as the floor a model must beat;
- identification: the first image of each identity is enrolled in a gallery, every other
  image probes it with :class:`seqbench.search.VectorIndex` (a traced ``similarity_search``,
  the op ICE runs in NAND), rank-1 accuracy;
- :meth:`FacesFamily.extra_workloads`: the same search at 1K..1M and ICE's data-set sizes
  (``scaling.py``), each a trace the eval stage prices on every ``--accel`` profile.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbench.config import SourceSpec, TaskSpec
from seqbench.data.images import to_tensor
from seqbench.families.base import FAMILY_REGISTRY, EvalOutcome, Prepared, TaskFamily
from seqbench.families.faces import prepare, scaling, store
from seqbench.families.faces.protocol import gallery_and_probes
from seqbench.families.faces.store import FaceSplit
from seqbench.families.runspec import RunSpec
from seqbench.metrics.signature import Signature
from seqbench.metrics.verification import rank1, roc_points, tar_at_far, ten_fold_accuracy
from seqbench.progress import make_progress
from seqbench.search import VectorIndex
from seqbench.trace import Trace

# Bump when what training produces changes (batching, loss).
VERSION = 1
FAR = 1e-3


class FaceBatch(NamedTuple):
    """``images`` float [B,3,H,W] in [-1,1]; ``labels`` Long [B] train identities."""

    images: Tensor
    labels: Tensor


def verification_metrics(emb: np.ndarray, split: FaceSplit) -> dict[str, Any]:
    """10-fold accuracy, TAR@FAR=1e-3 and ROC points of cosine scores on the split's pairs."""
    pairs = split.pairs
    assert pairs is not None
    scores = np.einsum("nd,nd->n", emb[pairs.a], emb[pairs.b])
    accuracy, std, thresholds = ten_fold_accuracy(scores, pairs.same, pairs.fold)
    return {
        "accuracy": 100 * accuracy,
        "accuracy_std": 100 * std,
        "tar_at_far_1e-3": 100 * tar_at_far(scores, pairs.same, FAR),
        "thresholds": thresholds,
        "roc": roc_points(scores, pairs.same),
    }


def raw_pixel_embeddings(images: np.ndarray) -> np.ndarray:
    """Each image's pixels, mean-removed and L2-normalised (the raw-pixel cosine baseline)."""
    x = images.reshape(len(images), -1).astype(np.float64)
    x -= x.mean(1, keepdims=True)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


class FacesFamily(TaskFamily):
    """Face verification and identification with L2-normalised embeddings."""

    name = "faces"
    # The gallery search's cost depends on the gallery size: trace the whole split.
    trace_limit: int | None = None
    data_option_keys = prepare.DATA_OPTIONS
    preset_option_keys = ("scaling",)  # the gallery-size scaling table
    source_override_keeps = ("options",)
    marks_whole_test = False  # its test split was never cut
    store = store

    def data_options(self, spec: TaskSpec, preset: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        return prepare.normalise(super().data_options(spec, preset, raw))

    def tokenizer_settings(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {}  # faces have no text

    def local_files(self, path: Path) -> Any:
        return prepare.relative_files(path)

    def build_cache(
        self,
        tmp: Path,
        source: SourceSpec,
        subset: str | None,
        data: dict[str, Any],
        tokenizer: dict[str, Any],
    ) -> dict[str, Any]:
        return prepare.build_cache(tmp, source, data)

    def model_inputs(self, prepared: Prepared) -> dict[str, Any]:
        return {
            "num_classes": int(prepared.manifest["num_classes"]),
            "image_size": int(prepared.manifest["image_size"]),
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
    ) -> Iterator[FaceBatch]:
        data = self.split_data(prepared, split)
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(data)) if shuffle else np.arange(len(data))
        for start in range(0, len(order), batch_size):
            rows = np.sort(order[start : start + batch_size])
            images = data.images[rows]
            if shuffle:  # horizontal flips: a face's identity does not change in a mirror
                flip = rng.random(len(rows)) < 0.5
                images = np.where(flip[:, None, None, None], images[:, :, ::-1], images)
            yield FaceBatch(to_tensor(images), torch.from_numpy(data.labels[rows]))

    def loss(self, model: nn.Module, batch: FaceBatch) -> Tensor:
        """Cross-entropy over ArcFace's margin logits."""
        return F.cross_entropy(
            model.arcface_logits(model(batch.images), batch.labels), batch.labels
        )

    def embed_split(
        self, model: nn.Module, data: FaceSplit, batch_size: int, progress: bool, label: str
    ) -> Tensor:
        """Unit embeddings [N, D] of every image of ``data``."""
        out = []
        with make_progress() as bars:
            bar = bars.add_task(label, total=len(data), info="faces", visible=progress)
            for start in range(0, len(data), batch_size):
                out.append(model.embed(to_tensor(data.images[start : start + batch_size])))
                bars.update(bar, advance=min(batch_size, len(data) - start))
        return torch.cat(out)

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
        """Verification on the split's pairs and rank-1 identification against its gallery.

        ``limit`` does not apply: the protocol's pairs and folds are scored whole."""
        data = self.split_data(prepared, split)
        was_training = model.training
        model.eval()
        started = time.perf_counter()
        with torch.no_grad():
            t0 = time.perf_counter()
            emb = self.embed_split(model, data, batch_size, progress, f"eval {split}")
            t1 = time.perf_counter()
            gallery, probes = gallery_and_probes(data.labels)
            index = VectorIndex([data.image_ids[i] for i in gallery], emb[gallery], name="faces")
            top = index.search(emb[probes], 10).indices.numpy()
            t2 = time.perf_counter()
        model.train(was_training)
        wall_s = time.perf_counter() - started
        verification = verification_metrics(emb.numpy(), data)
        raw = verification_metrics(raw_pixel_embeddings(data.images), data)
        identification = rank1(top[:, 0], data.labels[probes], data.labels[gallery])
        return EvalOutcome(
            metrics={
                "accuracy": verification["accuracy"],
                "accuracy_std": verification["accuracy_std"],
                "tar_at_far_1e-3": verification["tar_at_far_1e-3"],
                "rank1": 100 * identification,
                "raw_pixel_accuracy": raw["accuracy"],
            },
            primary="accuracy",
            signature=Signature.of(
                {
                    "verification": f"{len(data.pairs or [])}pairs/10fold",
                    "gallery": len(gallery),
                    "data": prepared.fingerprint,
                }
            ),
            samples=len(probes),
            units=len(probes),
            unit="query",
            wall_s=wall_s,
            breakdown={
                "embed_s": t1 - t0,
                "search_s": t2 - t1,
                "images": len(data),
                "gallery": len(gallery),
                "probes": len(probes),
                "dim": int(emb.shape[1]),
                "thresholds": verification["thresholds"],
                "roc": verification["roc"],
                "raw_pixel_tar_at_far_1e-3": raw["tar_at_far_1e-3"],
            },
        )

    def extra_workloads(
        self, model: nn.Module, prepared: Prepared, split: str
    ) -> list[tuple[dict[str, Any], Trace]]:
        """The gallery search at 1K..1M and ICE's data-set sizes, up to the preset's
        ``scaling: {max_vectors, queries}`` (sizes above the cap are listed as skipped)."""
        options = prepared.run.eval_options.get("scaling", {})
        data = self.split_data(prepared, split)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            emb = self.embed_split(model, data, 64, False, "embed")
        model.train(was_training)
        gallery, probes = gallery_and_probes(data.labels)
        ran, skipped = scaling.scaling_table(
            emb[gallery],
            data.labels[gallery],
            emb[probes],
            data.labels[probes],
            max_vectors=int(options.get("max_vectors", 1_000_000)),
            queries=int(options.get("queries", 16)),
        )
        out: list[tuple[dict[str, Any], Trace]] = [(row.info(), row.trace) for row in ran]
        out += [({**s, "skipped": True}, None) for s in skipped]  # type: ignore[misc]
        return out


FAMILY_REGISTRY.add("faces", FacesFamily())
