"""Scene waveforms (one note per object where the scene says) and the log-mel recipe."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from seqbench.data.audio import N_MELS, frames, load_clip, log_mel
from seqbench.data.generators.shapes_captions import Scene, ShapeObject
from seqbench.data.scene_sounds import (
    CLIP_SECONDS,
    PITCH,
    SAMPLE_RATE,
    TIMBRE,
    note,
    onset_s,
    waveform,
)
from seqbench.errors import SeqbenchError


def _scene(*objects: ShapeObject) -> Scene:
    return Scene(tuple(objects))


def _first_onset(wave_: np.ndarray) -> float:
    """Seconds at which the short-time energy first rises well above the noise floor."""
    hop = 80
    energy = np.array([np.mean(wave_[i : i + hop] ** 2) for i in range(0, len(wave_), hop)])
    return float(np.argmax(energy > 20 * np.median(energy)) * hop / SAMPLE_RATE)


def test_waveform_is_deterministic_in_its_seed() -> None:
    scene = _scene(ShapeObject("circle", "red", "large", 0, 0))
    assert np.array_equal(waveform(scene, 1), waveform(scene, 1))
    assert not np.array_equal(waveform(scene, 1), waveform(scene, 2))
    assert waveform(scene, 1).shape == (int(CLIP_SECONDS * SAMPLE_RATE),)


@pytest.mark.parametrize("col", [0, 1, 2])
@pytest.mark.parametrize("colour", ["red", "cyan", "white"])
def test_each_note_starts_where_the_object_is_and_sounds_its_colour(col: int, colour: str) -> None:
    obj = ShapeObject("circle", colour, "large", 1, col)
    clip = waveform(_scene(obj), 0)
    start = _first_onset(clip)
    assert start == pytest.approx(onset_s(obj), abs=0.01)
    segment = clip[int(start * SAMPLE_RATE) : int((start + 0.3) * SAMPLE_RATE)]
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(segment)
    assert peak_hz == pytest.approx(PITCH[colour], abs=5)


def test_left_object_plays_first_and_timbre_and_loudness_follow_shape_and_size() -> None:
    left = ShapeObject("circle", "red", "small", 0, 0)
    right = ShapeObject("square", "blue", "large", 0, 2)
    assert onset_s(left) < onset_s(right)
    clip = waveform(_scene(left, right), 0)
    seg = clip[int(onset_s(right) * SAMPLE_RATE) :][:4000]
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    bin_of = lambda hz: int(round(hz * len(seg) / SAMPLE_RATE))  # noqa: E731
    f0 = PITCH["blue"]
    # A square note has an odd third harmonic; a circle (sine) none.
    assert TIMBRE["square"][2] > 0 and spectrum[bin_of(3 * f0)] > 0.2 * spectrum[bin_of(f0)]
    loud = np.abs(waveform(_scene(ShapeObject("circle", "red", "large", 0, 0)), 0)).max()
    quiet = np.abs(waveform(_scene(left), 0)).max()
    assert loud > 2 * quiet


def test_log_mel_matches_the_deck_recipe() -> None:
    clip = waveform(_scene(ShapeObject("diamond", "green", "large", 2, 1)), 0)
    spec = log_mel(clip)
    assert spec.shape == (N_MELS, frames(CLIP_SECONDS)) == (128, 201)
    assert spec.dtype == np.float32 and np.isfinite(spec).all()
    # log_mel keeps librosa's filterbank between clips: the same values as its melspectrogram
    import librosa

    for samples in (clip, waveform(_scene(ShapeObject("circle", "red", "small", 0, 0)), 3)):
        mel = librosa.feature.melspectrogram(
            y=samples, sr=SAMPLE_RATE, n_fft=512, win_length=400, hop_length=160, n_mels=N_MELS
        )
        expected = librosa.power_to_db(mel, ref=1.0, top_db=80.0).astype(np.float32)
        assert np.array_equal(log_mel(samples), expected)


def test_a_note_is_made_once_per_colour_shape_and_size() -> None:
    a, b = (
        ShapeObject("square", "cyan", "small", 0, 0),
        ShapeObject("square", "cyan", "small", 2, 3),
    )
    assert note(a) is note(b) and not note(a).flags.writeable
    assert not np.array_equal(note(a), note(ShapeObject("square", "cyan", "large", 0, 0)))


def test_audio_file_that_fails_to_decode_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00not really a wave file")
    with pytest.raises(SeqbenchError, match="cannot decode audio file .*broken.wav"):
        load_clip(broken, 2.0)
    good = tmp_path / "tone.wav"
    with wave.open(str(good), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        samples = 0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / SAMPLE_RATE) * 32767
        out.writeframes(samples.astype("<i2").tobytes())
    clip = load_clip(good, 2.0)
    assert clip.shape == (32000,) and np.abs(clip[8000:]).max() == 0.0
