"""Audio file I/O: decoding every supported format to mono, resampling, writing, finding files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from melvae.audio.io import find_audio_files, load_audio, resample, write_audio
from melvae.errors import MelvaeError

FILE_RATE = 44100
TARGET_RATE = 8000
SECONDS = 1.0
EXPECTED_SAMPLES = int(SECONDS * TARGET_RATE)

# Lossless formats and Ogg/Vorbis keep the exact length (resampling may be off by a sample or
# two at the edges). MP3 encoders add a delay and pad the last frame (LAME: 576 + up to 1152
# samples). libsndfile removes them when the file carries a gapless header, but not every build
# or file does, so MP3 gets up to two MPEG frames (2 x 1152 samples at 44.1 kHz) of slack.
LENGTH_TOLERANCE = {
    "wav": 2,
    "flac": 2,
    "ogg": 2,
    "mp3": int(np.ceil(2 * 1152 * TARGET_RATE / FILE_RATE)),
}


def _sine(freq_hz: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _write_stereo(path: Path, left: np.ndarray, right: np.ndarray, rate: int = FILE_RATE) -> Path:
    sf.write(str(path), np.stack([left, right], axis=1), rate)
    return path


def _peak_hz(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1.0 / rate)[np.argmax(spectrum)])


# --------------------------------------------------------------------------------- load_audio


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_load_audio_reads_stereo_44k_as_mono_8k(tmp_path, ext):
    left = _sine(440.0, SECONDS, FILE_RATE, 0.5)
    right = _sine(660.0, SECONDS, FILE_RATE, 0.3)
    path = _write_stereo(tmp_path / f"tone.{ext}", left, right)
    assert sf.info(str(path)).channels == 2

    wave = load_audio(path, TARGET_RATE)

    assert wave.ndim == 1
    assert wave.dtype == np.float32
    assert np.all(np.isfinite(wave))
    assert abs(len(wave) - EXPECTED_SAMPLES) <= LENGTH_TOLERANCE[ext], len(wave)
    # Both tones survive the mix (a single picked channel would lose one of them).
    spectrum = np.abs(np.fft.rfft(wave[: EXPECTED_SAMPLES - 400]))
    freqs = np.fft.rfftfreq(EXPECTED_SAMPLES - 400, 1.0 / TARGET_RATE)
    top_two = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert abs(top_two[0] - 440.0) < 5 and abs(top_two[1] - 660.0) < 5, top_two


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_opposite_channels_mix_to_silence(tmp_path, ext):
    left = _sine(440.0, SECONDS, FILE_RATE, 0.5)
    path = _write_stereo(tmp_path / f"opposite.{ext}", left, -left)

    wave = load_audio(path, TARGET_RATE)

    # Each channel peaks at 0.5; their average cancels (PCM-16 rounding leaves ~1e-5).
    assert float(np.max(np.abs(wave))) < 1e-3


def test_identical_channels_are_averaged_not_summed(tmp_path):
    left = _sine(440.0, SECONDS, FILE_RATE, 0.5)
    path = _write_stereo(tmp_path / "same.flac", left, left)

    wave = load_audio(path, TARGET_RATE)

    # Average: peak stays at 0.5. A sum would give 1.0.
    assert float(np.max(np.abs(wave))) == pytest.approx(0.5, abs=0.02)


def test_load_audio_keeps_mono_files_and_rate(tmp_path):
    tone = _sine(300.0, SECONDS, TARGET_RATE, 0.4)
    path = tmp_path / "mono.flac"
    sf.write(str(path), tone, TARGET_RATE)

    wave = load_audio(path, TARGET_RATE)

    assert wave.shape == tone.shape
    np.testing.assert_allclose(wave, tone, atol=1e-4)


# ------------------------------------------------------------------------------------ resample


@pytest.mark.parametrize(
    ("from_rate", "to_rate", "freq_hz"),
    [(44100, 8000, 1000.0), (8000, 22050, 1234.0), (22050, 16000, 3000.0)],
)
def test_resample_preserves_frequency(from_rate, to_rate, freq_hz):
    tone = _sine(freq_hz, 1.0, from_rate)

    out = resample(tone, from_rate, to_rate)

    assert out.dtype == np.float32
    assert abs(len(out) - to_rate) <= 2
    # 1 s of audio: FFT bins are 1 Hz apart.
    assert abs(_peak_hz(out, to_rate) - freq_hz) <= 1.0
    assert float(np.max(np.abs(out))) == pytest.approx(0.5, abs=0.03)


def test_resample_is_a_noop_at_equal_rates(rng):
    wave = rng.standard_normal(1000).astype(np.float32)

    out = resample(wave, 8000, 8000)

    assert out.dtype == np.float32
    assert np.array_equal(out, wave)


# ---------------------------------------------------------------------------------- bad input


def test_corrupt_file_raises_naming_the_file(tmp_path, rng):
    path = tmp_path / "garbage_track.wav"
    path.write_bytes(rng.bytes(5000))

    with pytest.raises(MelvaeError) as info:
        load_audio(path, TARGET_RATE)
    assert "garbage_track.wav" in str(info.value)


def test_missing_file_raises_naming_the_file(tmp_path):
    path = tmp_path / "never_written.flac"

    with pytest.raises(MelvaeError) as info:
        load_audio(path, TARGET_RATE)
    assert "never_written.flac" in str(info.value)


def test_empty_file_raises_naming_the_file(tmp_path):
    path = tmp_path / "zero_bytes.wav"
    path.touch()

    with pytest.raises(MelvaeError) as info:
        load_audio(path, TARGET_RATE)
    assert "zero_bytes.wav" in str(info.value)


# --------------------------------------------------------------------------------- write_audio


@pytest.mark.parametrize(("ext", "atol"), [("wav", 1e-4), ("flac", 1e-4)])
def test_write_audio_round_trips(tmp_path, rng, ext, atol):
    wave = (0.3 * rng.standard_normal(4000)).clip(-0.9, 0.9).astype(np.float32)

    path = write_audio(tmp_path / f"out.{ext}", wave, 16000)

    assert path == tmp_path / f"out.{ext}"
    info = sf.info(str(path))
    assert info.samplerate == 16000
    assert info.channels == 1
    back, rate = sf.read(str(path), dtype="float32")
    assert rate == 16000
    assert back.shape == wave.shape
    np.testing.assert_allclose(back, wave, atol=atol)


def test_write_audio_scales_loud_audio_instead_of_clipping(tmp_path):
    t = np.arange(8000) / 8000
    loud = (2.5 * np.sin(2 * np.pi * 220 * t) + 1.0 * np.sin(2 * np.pi * 550 * t)).astype(
        np.float32
    )
    assert np.max(np.abs(loud)) > 3.0

    write_audio(tmp_path / "loud.wav", loud, 8000)
    back, _ = sf.read(str(tmp_path / "loud.wav"), dtype="float32")

    peak = float(np.max(np.abs(back)))
    assert peak <= 1.0
    assert peak > 0.9  # scaled to just below full scale, not to some arbitrary low level
    # Same shape: a clipped copy would flatten the tops and fail both checks.
    assert np.corrcoef(back, loud)[0, 1] > 0.9999
    np.testing.assert_allclose(back, loud * (peak / np.max(np.abs(loud))), atol=2e-4)
    # Many samples were above full scale; clipping would leave a plateau at the peak.
    assert np.sum(np.abs(back) > 0.98 * peak) < 0.05 * len(back)


def test_write_audio_leaves_no_temporary_file(tmp_path):
    folder = tmp_path / "nested" / "out"  # created on demand
    write_audio(folder / "clip.wav", _sine(440.0, 0.2, 8000), 8000)
    write_audio(folder / "clip.flac", _sine(440.0, 0.2, 8000), 8000)

    assert sorted(os.listdir(folder)) == ["clip.flac", "clip.wav"]


# ---------------------------------------------------------------------------- find_audio_files


def test_find_audio_files_finds_nested_files_of_each_extension(tmp_path):
    wanted = [
        "a.wav",
        "genre/b.flac",
        "genre/sub/c.ogg",
        "genre/sub/deeper/d.mp3",
        "other/e.opus",
        "other/f.oga",
        "other/g.aiff",
        "other/h.aif",
        "other/UPPER.WAV",
    ]
    ignored = [
        "notes.txt",
        "genre/cover.jpg",
        "genre/.hidden.wav",
        ".secret.flac",
        "genre/x.wav.txt",
    ]
    for rel in wanted + ignored:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "folder.wav").mkdir()  # a folder with an audio-like name is not a file

    found = find_audio_files(tmp_path)

    assert found == sorted(found)
    assert {p.relative_to(tmp_path).as_posix() for p in found} == set(wanted)


def test_find_audio_files_on_a_single_file(tmp_path):
    track = tmp_path / "one.wav"
    track.write_bytes(b"x")
    notes = tmp_path / "notes.txt"
    notes.write_text("x")

    assert find_audio_files(track) == [track]
    assert find_audio_files(notes) == []


def test_find_audio_files_on_missing_folder_raises(tmp_path):
    with pytest.raises(MelvaeError, match="no_such_folder"):
        find_audio_files(tmp_path / "no_such_folder")
