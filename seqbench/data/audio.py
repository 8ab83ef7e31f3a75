"""Audio features: decoding a clip and its log-mel spectrogram (the ImageBind recipe).

The spectrogram comes from librosa (``librosa.feature.melspectrogram``), not a hand-written
filterbank: 16 kHz audio, a 25 ms window (400 samples) every 10 ms (160), 128 mel bins, as
ImageBind's audio preprocessing (which follows AST); log-compressed (``power_to_db``).
torchaudio would be the other kept library, but no torchaudio release matches torch 2.13.0
(PyPI's newest is 2.11.1), so librosa it is.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np

from seqbench.errors import SeqbenchError

SAMPLE_RATE = 16_000
N_MELS = 128
WIN_LENGTH = 400  # 25 ms
HOP_LENGTH = 160  # 10 ms
N_FFT = 512


def log_mel(wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """float32 [N_MELS, frames] log-mel power (dB, top 80 dB kept) of a mono clip."""
    import librosa  # imported here: it is slow to import and only audio tasks need it

    # librosa.feature.melspectrogram's own two steps (power spectrogram, then the mel
    # filterbank by einsum) with the filterbank built once: melspectrogram rebuilds it for
    # every clip, ~27 of the ~220 s a full shapes-sounds prepare took. The same values
    # (tests/test_scene_sounds.py compares with melspectrogram bit for bit).
    spectrum = librosa.stft(
        np.asarray(wave, dtype=np.float32),
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        win_length=WIN_LENGTH,
        center=True,
        window="hann",
        pad_mode="constant",
    )
    power = np.abs(spectrum) ** 2.0
    mel = np.einsum("...ft,mf->...mt", power, _mel_filterbank(sample_rate), optimize=True)
    return librosa.power_to_db(mel, ref=1.0, top_db=80.0).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _mel_filterbank(sample_rate: int) -> np.ndarray:
    """librosa's mel filterbank for N_FFT and N_MELS at ``sample_rate`` (read-only)."""
    import librosa

    basis = librosa.filters.mel(sr=sample_rate, n_fft=N_FFT, n_mels=N_MELS)
    basis.flags.writeable = False
    return basis


def frames(seconds: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Spectrogram frames of a clip of ``seconds`` (librosa centres frames: 1 + n // hop)."""
    return 1 + int(seconds * sample_rate) // HOP_LENGTH


def load_clip(path: Path, seconds: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A local audio file as mono float32 at ``sample_rate``, cut or zero-padded to
    ``seconds``; a file that fails to decode raises one line naming it."""
    import librosa

    if not Path(path).is_file():
        raise SeqbenchError(f"audio file {path} not found", "restore it or drop its pair")
    try:
        # librosa warns (soundfile failed, trying audioread; audioread is deprecated) before
        # it fails: the one-line error below says it all.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wave, _ = librosa.load(str(path), sr=sample_rate, mono=True)
    except Exception as err:  # librosa raises what its backends raise (soundfile, audioread)
        detail = str(err).strip() or "no decoder reads it"
        raise SeqbenchError(
            f"cannot decode audio file {path} ({type(err).__name__}: {detail})",
            "replace it with a valid WAV/FLAC/OGG file or drop its pair from the JSONL",
        ) from err
    n = int(seconds * sample_rate)
    return np.pad(wave[:n], (0, max(0, n - len(wave)))).astype(np.float32)
