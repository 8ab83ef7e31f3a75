"""The prepared splits of an ``lm`` task: one token stream per split.

``{split}.npy`` (int32): every document's SentencePiece ids followed by ``eos``, documents in
source order, the stream starting with ``bos`` (so every real token is predicted). Titles and
character counts sit in the manifest (``documents``, ``characters``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from seqbench.errors import SeqbenchError


def write_split(path: Path, ids: list[int]) -> None:
    """Write one split's stream (the cache folder is published atomically by the caller)."""
    np.save(path, np.asarray(ids, dtype=np.int32), allow_pickle=False)


def read_split(path: Path) -> Tensor:
    """One split's stream as a LongTensor [N]."""
    try:
        return torch.from_numpy(np.load(path, allow_pickle=False).astype(np.int64))
    except (OSError, ValueError) as err:
        raise SeqbenchError(
            f"cannot read {path}: {err}", "run `seqbench prepare --force TASK`"
        ) from err
