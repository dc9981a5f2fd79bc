"""Audio folder -> dataset folder: layout, labels, skipped files, determinism, failures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from melvae.audio.features import log_mel_np
from melvae.config import DATASET_FORMAT_VERSION, AudioConfig
from melvae.data.dataset import read_audio_config
from melvae.data.preprocess import label_for, preprocess
from melvae.data.synth import synthesize
from melvae.errors import MelvaeError
from melvae.layout import AUDIO_CONFIG, MANIFEST, MELS, SUMMARY

from .conftest import TINY_AUDIO, tone_track, write_music_folder

RATE = TINY_AUDIO.sample_rate


def _manifest(data_dir: Path) -> list[dict[str, str]]:
    with open(data_dir / MANIFEST, newline="") as fh:
        return list(csv.DictReader(fh))


def _leftovers(data_dir: Path) -> list[str]:
    """Temporary files an interrupted or failed run must not leave behind."""
    return sorted(p.name for p in data_dir.iterdir() if p.name.endswith((".partial", ".tmp")))


# --------------------------------------------------------------------------- the happy path


def test_genre_folders_become_a_dataset(tmp_path, rng):
    audio = write_music_folder(
        tmp_path / "audio", rng, genres=("low", "high"), tracks=2, seconds=3.0
    )
    out = tmp_path / "data"

    summary = preprocess(audio, out, TINY_AUDIO, hop_seconds=0.5, workers=1, progress=False)

    mels = np.load(out / MELS, mmap_mode="r")
    assert isinstance(mels, np.memmap)
    assert mels.dtype == np.float16
    n = mels.shape[0]
    assert mels.shape == (n, TINY_AUDIO.n_mels, TINY_AUDIO.segment_frames)
    # 4 tracks of 3 s, 1 s segments every 0.5 s: 5 segments per track.
    assert n == 4 * 5
    values = np.asarray(mels, dtype=np.float32)
    assert np.all(np.isfinite(values))
    assert values.min() >= 0.0 and values.max() <= 1.0
    assert values.max() > 0.5  # real content, not an empty or all-floor image

    rows = _manifest(out)
    assert len(rows) == n == summary.segments
    assert [int(r["index"]) for r in rows] == list(range(n))
    hop = 0.5
    for r in rows:
        start = float(r["start_seconds"])
        assert start / hop == pytest.approx(round(start / hop), abs=1e-6)
        assert 0.0 <= start <= 3.0 - TINY_AUDIO.segment_seconds + 1e-9
        # The label is the name of the folder holding the file.
        assert r["label"] == Path(r["source"]).parent.name
        assert (audio / r["source"]).is_file()
    assert {r["label"] for r in rows} == {"low", "high"}
    assert {r["source"] for r in rows} == {f"{g}/t{i}.wav" for g in ("low", "high") for i in (0, 1)}
    assert summary.labels == {"high": 10, "low": 10}

    meta = json.loads((out / AUDIO_CONFIG).read_text())
    assert meta["format_version"] == DATASET_FORMAT_VERSION
    assert AudioConfig.from_dict(meta["audio_config"]) == TINY_AUDIO
    assert meta["hop_seconds"] == pytest.approx(hop)
    assert read_audio_config(out) == TINY_AUDIO

    saved = json.loads((out / SUMMARY).read_text())
    assert saved["segments"] == n and saved["files_read"] == 4
    assert _leftovers(out) == []


def test_segments_are_the_log_mel_of_the_audio_at_their_start(tmp_path, rng):
    audio = tmp_path / "audio"
    audio.mkdir()
    wave = tone_track(3.0, RATE, 220.0, rng)
    sf.write(str(audio / "song.wav"), wave, RATE, subtype="FLOAT")
    out = tmp_path / "data"

    preprocess(audio, out, TINY_AUDIO, hop_seconds=0.75, workers=1, progress=False)

    mels = np.load(out / MELS, mmap_mode="r")
    rows = _manifest(out)
    assert len(rows) == 3  # starts at 0, 0.75 and 1.5 s; 2.25 s + 1 s runs past the end
    for r, mel in zip(rows, mels, strict=True):
        start = int(round(float(r["start_seconds"]) * RATE))
        expected = log_mel_np(wave[start : start + TINY_AUDIO.segment_samples], TINY_AUDIO)
        np.testing.assert_allclose(np.asarray(mel, dtype=np.float32), expected, atol=2e-3)
        assert r["label"] == ""  # a file at the root has no label


def test_default_hop_is_the_segment_length(tmp_path, rng):
    audio = write_music_folder(tmp_path / "audio", rng, genres=("mid",), tracks=1, seconds=3.5)

    preprocess(audio, tmp_path / "data", TINY_AUDIO, workers=1, progress=False)

    starts = [float(r["start_seconds"]) for r in _manifest(tmp_path / "data")]
    assert starts == [0.0, 1.0, 2.0]


# ------------------------------------------------------------------------------ bad files


def test_summary_counts_and_explains_skipped_files(tmp_path, rng):
    audio = write_music_folder(
        tmp_path / "audio", rng, genres=("low", "high"), tracks=1, seconds=2.0
    )
    (audio / "low" / "corrupt.wav").write_bytes(rng.bytes(3000))
    sf.write(str(audio / "high" / "short.wav"), tone_track(0.5, RATE, 300.0, rng), RATE)
    sf.write(str(audio / "high" / "silent.wav"), np.zeros(2 * RATE, np.float32), RATE)
    quiet = (5e-4 * np.sin(2 * np.pi * 300 * np.arange(2 * RATE) / RATE)).astype(np.float32)
    sf.write(str(audio / "low" / "quiet.wav"), quiet, RATE)  # peak above, RMS below threshold
    out = tmp_path / "data"

    summary = preprocess(audio, out, TINY_AUDIO, hop_seconds=0.5, workers=1, progress=False)

    assert summary.files_read == 2
    skipped = summary.files_skipped
    assert set(skipped) == {"low/corrupt.wav", "high/short.wav", "high/silent.wav", "low/quiet.wav"}
    assert skipped["low/corrupt.wav"].startswith("unreadable")
    assert skipped["high/short.wav"].startswith("shorter than one segment")
    assert skipped["high/silent.wav"] == "silent"
    assert skipped["low/quiet.wav"] == "silent"
    assert summary.silent_segments_dropped >= 3  # the quiet file's 3 segments
    # Only the two good tracks make segments: 3 each (2 s, 1 s segments, 0.5 s hop).
    assert summary.segments == 6
    assert summary.labels == {"high": 3, "low": 3}
    assert {r["source"] for r in _manifest(out)} == {"low/t0.wav", "high/t0.wav"}
    # Hours of audio: at least the good tracks (4 s), at most everything decodable (8.5 s).
    assert 4.0 - 0.01 <= summary.hours * 3600 <= 8.5 + 0.01
    text = "\n".join(summary.lines())
    assert "skipped: 4" in text
    assert "unreadable" in text and "silent" in text and "shorter than one segment" in text
    saved = json.loads((out / SUMMARY).read_text())
    assert saved["files_skipped"] == skipped
    assert saved["files_read"] == 2


def test_workers_give_identical_output(tmp_path, rng):
    audio = write_music_folder(
        tmp_path / "audio", rng, genres=("low", "high"), tracks=2, seconds=2.0
    )
    one, two = tmp_path / "one", tmp_path / "two"

    s1 = preprocess(audio, one, TINY_AUDIO, hop_seconds=0.5, workers=1, progress=False)
    s2 = preprocess(audio, two, TINY_AUDIO, hop_seconds=0.5, workers=2, progress=False)

    assert s1.segments == s2.segments == 12
    assert (one / MELS).read_bytes() == (two / MELS).read_bytes()
    assert (one / MANIFEST).read_bytes() == (two / MANIFEST).read_bytes()
    assert (one / AUDIO_CONFIG).read_bytes() == (two / AUDIO_CONFIG).read_bytes()
    assert _leftovers(two) == []


def test_folder_without_audio_raises(tmp_path):
    audio = tmp_path / "audio"
    (audio / "sub").mkdir(parents=True)
    (audio / "sub" / "readme.txt").write_text("no music here")

    with pytest.raises(MelvaeError, match="no audio files"):
        preprocess(audio, tmp_path / "data", TINY_AUDIO, workers=1, progress=False)
    assert not (tmp_path / "data" / MELS).exists()


def test_missing_folder_raises(tmp_path):
    with pytest.raises(MelvaeError, match="nowhere"):
        preprocess(tmp_path / "nowhere", tmp_path / "data", TINY_AUDIO, workers=1, progress=False)


def test_all_bad_files_raise_and_leave_nothing_behind(tmp_path, rng):
    audio = tmp_path / "audio"
    audio.mkdir()
    (audio / "corrupt.wav").write_bytes(rng.bytes(2000))
    sf.write(str(audio / "silent.wav"), np.zeros(2 * RATE, np.float32), RATE)
    sf.write(str(audio / "short.wav"), tone_track(0.3, RATE, 300.0, rng), RATE)
    out = tmp_path / "data"

    with pytest.raises(MelvaeError) as info:
        preprocess(audio, out, TINY_AUDIO, workers=1, progress=False)

    message = str(info.value)
    assert "3 file(s)" in message
    assert "unreadable" in message and "silent" in message
    assert not (out / MELS).exists()
    assert not (out / (MELS + ".partial")).exists()
    # Nothing at all is left: no dataset files, no temporary ones.
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == []


def test_bad_hop_raises(tmp_path, rng):
    audio = write_music_folder(tmp_path / "audio", rng, genres=("low",), tracks=1, seconds=1.5)
    with pytest.raises(MelvaeError, match="hop_seconds"):
        preprocess(audio, tmp_path / "data", TINY_AUDIO, hop_seconds=0.0, workers=1, progress=False)


# ------------------------------------------------------------------------- config helpers


@pytest.mark.parametrize("sample_rate", [8000, 22050, 44100])
def test_segment_length_in_bars(sample_rate):
    cfg = AudioConfig(sample_rate=sample_rate).with_segment(bars=2, bpm=120)

    # 2 bars of 4 beats at 120 bpm = 8 beats of 0.5 s.
    assert cfg.segment_samples == 4 * sample_rate
    assert cfg.segment_seconds == 4.0
    assert cfg.segment_frames == 4 * sample_rate // cfg.hop_length + 1


def test_segment_length_in_bars_needs_both_and_not_seconds():
    cfg = AudioConfig()
    with pytest.raises(MelvaeError):
        cfg.with_segment(bars=2)
    with pytest.raises(MelvaeError):
        cfg.with_segment(3.0, bars=2, bpm=120)


@pytest.mark.parametrize(
    ("rel", "label"),
    [
        ("genres/disco/x.wav", "disco"),
        ("disco/x.wav", "disco"),
        ("x.wav", ""),
        ("a/b/c/deep.flac", "c"),
    ],
)
def test_label_for(tmp_path, rel, label):
    root = tmp_path / "music"
    assert label_for(root / rel, root) == label


# ------------------------------------------------------------------------------ loudness


def test_real_level_music_uses_most_of_the_range():
    """The fixed dB reference must not flatten loud music into the top (or bottom) of [0, 1].

    Measured at the default AudioConfig: 5th percentile 0.159, median 0.42, 99th 0.822.
    """
    wave = synthesize("techno", 10, 22050, seed=0)
    assert float(np.max(np.abs(wave))) > 0.8  # a loud, mastered-level track

    mel = log_mel_np(wave, AudioConfig())

    assert mel.shape == (AudioConfig().n_mels, AudioConfig().segment_frames)
    p5, p99 = np.percentile(mel, [5, 99])
    assert p99 > 0.7, p99
    assert p5 < 0.4, p5
    assert p99 - p5 > 0.4
