"""Image decoding, resizing and normalisation, with one-line errors for broken images.

Prepared images are uint8 ``[H, W, 3]`` arrays (RGB); models get float tensors
``[B, 3, H, W]``: ``signed`` scales to [-1, 1]; ``ink`` maps white to 0 and black to 1, for
drawings on a white background (Sort-of-CLEVR), so empty space and the CNN's zero padding
agree and only the objects drive the first layer.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from seqbench.errors import SeqbenchError

ImageInput = bytes | str | Path | Image.Image


def open_image(
    source: ImageInput, *, where: str = "", used_by: str = "the questions that use it"
) -> Image.Image:
    """Decode ``source`` (bytes, a file path or a PIL image) fully into an RGB image.

    Raises :class:`SeqbenchError` naming the file for a missing, unreadable or truncated image;
    its fix says to drop ``used_by`` (what refers to the image in the family's source).
    """
    label = where or (str(source) if isinstance(source, (str, Path)) else "image bytes")
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, (str, Path)) and not Path(source).is_file():
            raise SeqbenchError(
                f"image file {label} not found",
                f"restore the file or drop {used_by} from the source",
            )
        try:
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise SeqbenchError(
                f"cannot read image {label}: {err}",
                f"replace it with a valid PNG/JPEG or drop {used_by}",
            ) from err
    try:
        # Decoding now, not lazily, is what catches a truncated file here rather than later.
        image.load()
        return image.convert("RGB")
    except (OSError, ValueError, SyntaxError) as err:
        raise SeqbenchError(
            f"image {label} is truncated or corrupt: {err}",
            f"re-download or replace the file, or drop {used_by}",
        ) from err


def to_array(image: Image.Image, size: int) -> np.ndarray:
    """Resize to ``size`` x ``size`` px (bilinear) and return uint8 ``[size, size, 3]``."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8).reshape(size, size, 3)


def load_array(
    source: ImageInput, size: int, *, where: str = "", used_by: str = "the questions that use it"
) -> np.ndarray:
    """Decode and resize in one step: uint8 ``[size, size, 3]``."""
    return to_array(open_image(source, where=where, used_by=used_by), size)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[B, H, W, 3]`` -> float32 ``[B, 3, H, W]`` in [-1, 1]."""
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return pixels.float().div_(127.5).sub_(1.0)


def to_ink_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[B, H, W, 3]`` -> float32 ``[B, 3, H, W]`` in [0, 1], white -> 0."""
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return pixels.float().div_(-255.0).add_(1.0)


NORMALISATIONS = {"signed": to_tensor, "ink": to_ink_tensor}
