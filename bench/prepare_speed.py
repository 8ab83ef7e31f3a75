"""Data preparation speed: SentencePiece encoding, the whole SCAN prepare, Sort-of-CLEVR images.

* tokenize: seqbench's ``SentencePieceTokenizer.encode_batch`` (in the chunks the translation
  prepare uses) against one raw ``SentencePieceProcessor.encode`` call on the same list;
* prepare: ``TranslationFamily.prepare`` end to end (generate SCAN, split, train both
  SentencePiece models, tokenize, write parquet) into a throw-away ``$SEQBENCH_HOME``;
* images: :func:`~seqbench.data.generators.sort_of_clevr.generate_split` (scenes, render,
  20 questions per image).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import sentencepiece as spm

from bench.common import Measurement, best_seconds, environment, scan
from seqbench import paths
from seqbench.config import load_task_spec
from seqbench.data.generators import sort_of_clevr
from seqbench.data.tokenize import SentencePieceTokenizer
from seqbench.families.translation.family import TranslationFamily
from seqbench.families.translation.prepare import TOKENIZE_CHUNK


@dataclass(frozen=True)
class PrepareSettings:
    preset: str = "full"
    images: int = 500
    rounds: int = 3
    tokenize_rounds: int = 7  # a pass takes tens of ms: more rounds against noise


FULL = PrepareSettings()
QUICK = PrepareSettings(preset="tiny", images=10, rounds=1, tokenize_rounds=1)


@contextlib.contextmanager
def scratch_home() -> Iterator[None]:
    """A temporary, quiet ``$SEQBENCH_HOME`` for the block: nothing cached is reused or kept."""
    with tempfile.TemporaryDirectory(prefix="seqbench-bench-") as home:
        with environment(SEQBENCH_HOME=home, SEQBENCH_QUIET="1"):
            yield


def tokenize(settings: PrepareSettings) -> Measurement:
    """Both sides of SCAN's train split, each with its own model; each side counts."""
    family, prepared = scan(settings.preset)
    data = family.split_data(prepared, "train")
    sides = [
        (prepared.directory / "src.model", data.src),
        (prepared.directory / "tgt.model", data.tgt),
    ]
    ours = [(SentencePieceTokenizer(path), texts) for path, texts in sides]
    raw = [(spm.SentencePieceProcessor(model_file=str(path)), texts) for path, texts in sides]

    def seqbench_encode() -> None:
        for tok, texts in ours:
            for start in range(0, len(texts), TOKENIZE_CHUNK):
                tok.encode_batch(texts[start : start + TOKENIZE_CHUNK])

    def raw_encode() -> None:
        for sp, texts in raw:
            sp.encode(texts)

    seconds = best_seconds(
        {"seqbench": seqbench_encode, "raw": raw_encode}, settings.tokenize_rounds
    )
    n = len(data.src) + len(data.tgt)
    return Measurement(
        "tokenize SCAN train",
        n / seconds["seqbench"],
        n / seconds["raw"],
        "sentences/s",
        "reference: one raw SentencePieceProcessor.encode call per side; "
        f"{n:,} sentences (src and tgt sides each count); SentencePiece batch encode uses its own "
        "thread pool (all cores), whatever --threads says",
    )


def prepare(settings: PrepareSettings) -> Measurement:
    """The whole translation prepare of SCAN ``simple``, from nothing, in a scratch home."""
    spec = load_task_spec(paths.tasks_dir() / "scan.yaml")
    family = TranslationFamily()
    sizes: dict[str, int] = {}

    def run() -> None:
        with scratch_home():
            prepared, reused = family.prepare(spec, "simple", settings.preset)
            assert not reused
            sizes.update(prepared.manifest["splits"])

    seconds = best_seconds({"prepare": run}, settings.rounds)["prepare"]
    n = sum(sizes.values())
    return Measurement(
        "prepare SCAN (end to end)",
        n / seconds,
        None,
        "pairs/s",
        f"{n:,} pairs: generate, split, train 2 SentencePiece models, tokenize, write parquet",
    )


def images(settings: PrepareSettings) -> Measurement:
    """Sort-of-CLEVR train images with their default 20 questions each."""
    n = settings.images
    counts = sort_of_clevr.DEFAULT_QUESTIONS

    def run() -> None:
        sort_of_clevr.generate_split(n, seed=0, stream=0, counts=counts)

    seconds = best_seconds({"generate": run}, settings.rounds)["generate"]
    return Measurement(
        "generate Sort-of-CLEVR",
        n / seconds,
        None,
        "images/s",
        f"{n} images of 75x75 px, 6 objects, {sum(counts.values())} questions each",
    )


def measure(settings: PrepareSettings = FULL) -> list[Measurement]:
    return [tokenize(settings), prepare(settings), images(settings)]
