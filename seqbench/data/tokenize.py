"""SentencePiece tokenizers: trained on a task's train split, stored in its cache folder.

Ids are fixed across every tokenizer seqbench trains: pad=0, unk=1, bos=2, eos=3.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sentencepiece as spm

from seqbench.errors import SeqbenchError

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
_THREADED_BATCH = 64  # texts from which SentencePiece's threaded list call pays off


def train_sentencepiece(
    texts: Iterable[str],
    model_path: Path,
    vocab_size: int,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    seed_sentencepiece_size: int = 100_000,
) -> None:
    """Train a SentencePiece model on ``texts`` and write it to ``model_path``.

    ``vocab_size`` is an upper bound: small corpora (SCAN has 13 source words) get the
    vocabulary they have rather than an error.
    """
    sentences = [t for t in texts if t.strip()]
    if not sentences:
        raise SeqbenchError("cannot train a tokenizer on an empty corpus", "check the train split")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            hard_vocab_limit=False,
            seed_sentencepiece_size=seed_sentencepiece_size,
            num_threads=1,
            minloglevel=2,
            split_digits=True,
            # Deterministic across runs: no sentence sampling.
            input_sentence_size=0,
            shuffle_input_sentence=False,
        )
    except RuntimeError as err:
        raise SeqbenchError(
            f"SentencePiece training failed: {err}", "check tokenizer settings"
        ) from err
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_bytes(model.getvalue())


class SentencePieceTokenizer:
    """Encode/decode with a trained SentencePiece model."""

    pad_id = PAD_ID
    unk_id = UNK_ID
    bos_id = BOS_ID
    eos_id = EOS_ID

    def __init__(self, model_path: Path) -> None:
        try:
            self._sp = spm.SentencePieceProcessor(model_file=str(model_path))
        except (OSError, RuntimeError) as err:
            raise SeqbenchError(
                f"cannot load tokenizer {model_path}: {err}",
                "run `seqbench prepare --force TASK` to rebuild the cache",
            ) from err
        self.path = model_path

    @property
    def vocab_size(self) -> int:
        return int(self._sp.get_piece_size())

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        ids = list(self._sp.encode(text))
        return ([BOS_ID] if bos else []) + ids + ([EOS_ID] if eos else [])

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        # SentencePiece's list call starts a thread pool each time (~140 us, against ~10 us to
        # encode one caption): a handful of texts encode faster one by one, same ids.
        if len(texts) < _THREADED_BATCH:
            return [self._sp.encode(text) for text in texts]
        return self._sp.encode(list(texts))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._sp.decode([i for i in ids if i not in (PAD_ID, BOS_ID, EOS_ID)]))

    def pieces(self, text: str) -> list[str]:
        return list(self._sp.encode(text, out_type=str))


def sentencepiece_settings(raw: dict[str, Any], default_vocab_size: int) -> dict[str, Any]:
    """One shared SentencePiece model's settings from a task's merged ``tokenizer:`` spec."""
    if raw.get("type", "sentencepiece") != "sentencepiece":
        raise SeqbenchError(f"unknown tokenizer type {raw['type']!r}", "use `type: sentencepiece`")
    return {
        "type": "sentencepiece",
        "model_type": str(raw.get("model_type", "unigram")),
        "vocab_size": int(raw.get("vocab_size", default_vocab_size)),
    }
