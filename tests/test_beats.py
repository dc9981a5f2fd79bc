"""melvae.audio.beats (the beat tracker and beat phase) and the beats in a dataset."""

import numpy as np
import pytest
import soundfile as sf

from melvae.audio.beats import beat_position, phase_at, track_beats, tracker_config
from melvae.data.dataset import MelDataset
from melvae.data.preprocess import preprocess
from melvae.errors import MelvaeError
from melvae.layout import BEATS

from .conftest import TINY_AUDIO, tone_track
from .test_descriptors import click_track


def _noisy_clicks(seconds: float, bpm: float, sample_rate: int) -> np.ndarray:
    noise = 0.01 * np.random.default_rng(1).standard_normal(int(seconds * sample_rate))
    return click_track(seconds, bpm, sample_rate=sample_rate) + noise.astype(np.float32)


@pytest.mark.parametrize("sample_rate", [8000, 22050])
@pytest.mark.parametrize("bpm", [90.0, 128.0, 174.0])
def test_click_track_gives_its_tempo_and_beats(bpm, sample_rate):
    seconds = 10.0  # the length of a start clip
    found = track_beats(_noisy_clicks(seconds, bpm, sample_rate), sample_rate)
    assert found.clear and found.pulse_clarity > 0.7
    assert found.bpm == pytest.approx(bpm, rel=0.01)
    cfg = tracker_config(sample_rate)
    frame = cfg.hop_length / sample_rate
    clicks = np.arange(0.0, seconds, 60.0 / bpm)
    # Every click but the first (the envelope has no rise at frame 0) has a beat within two
    # frames, and no beat is further than that from a click.
    nearest_beat = np.abs(clicks[1:, None] - found.times[None, :]).min(1)
    assert nearest_beat.max() <= 2 * frame
    nearest_click = np.abs(found.times[:, None] - clicks[None, :]).min(1)
    assert nearest_click.max() <= 2 * frame
    assert np.all(np.diff(found.times) > 0)


def test_no_clear_beat_in_a_tone_noise_or_silence():
    sr = 8000
    t = np.arange(20 * sr) / sr
    chord = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63))
    noise = 0.1 * np.random.default_rng(0).standard_normal(20 * sr)
    for wave in (chord, noise):
        assert not track_beats(wave.astype(np.float32), sr).clear
    silent = track_beats(np.zeros(10 * sr, np.float32), sr)
    assert not silent.clear and np.isnan(silent.bpm) and len(silent.times) == 0
    short = track_beats(np.zeros(100, np.float32), sr)  # shorter than one STFT window
    assert not short.clear and len(short.times) == 0


def test_phase_is_linear_between_beats_and_extrapolated_outside():
    times = np.array([1.0, 1.5, 2.0, 2.6])
    t = np.array([1.0, 1.25, 1.5, 1.95, 2.3, 2.6, 2.9, 0.75, 0.0])
    expected = np.array([0.0, 0.5, 0.0, 0.9, 0.5, 0.0, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(phase_at(times, t), expected, atol=1e-9)
    # Before the first beat at the first interval's tempo, after the last at the last's.
    np.testing.assert_allclose(beat_position(times, [0.0, 3.2]), [-2.0, 4.0], atol=1e-9)
    dense = phase_at(times, np.linspace(-5, 9, 2001))
    assert dense.min() >= 0.0 and dense.max() < 1.0
    assert np.all(np.isnan(phase_at(np.zeros(0), t)))
    assert np.all(np.isnan(phase_at(np.array([1.0]), t)))  # one beat, no tempo
    np.testing.assert_allclose(phase_at([1.0], [1.25, 0.5], bpm=120.0), [0.5, 0.0], atol=1e-9)
    assert phase_at(times, np.zeros((2, 3))).shape == (2, 3)


def test_preprocess_writes_beats_and_the_dataset_reads_them(tmp_path):
    sr, bpm = TINY_AUDIO.sample_rate, 120.0
    audio = tmp_path / "audio"
    (audio / "beat").mkdir(parents=True)
    (audio / "drone").mkdir()
    sf.write(audio / "beat" / "clicks.wav", _noisy_clicks(8.0, bpm, sr), sr)
    t = np.arange(8 * sr) / sr
    drone = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63))
    sf.write(audio / "drone" / "chord.wav", drone.astype(np.float32), sr)
    summary = preprocess(audio, tmp_path / "data", TINY_AUDIO, 0.5, workers=1, progress=False)
    assert (tmp_path / "data" / BEATS).is_file()
    assert not list((tmp_path / "data").glob("*.tmp"))
    assert summary.files_with_beat == 1

    data = MelDataset(tmp_path / "data")
    n, frames = len(data), TINY_AUDIO.segment_frames
    assert data.beat_phase.shape == (n, frames) and data.beat_phase.dtype == np.float32
    assert data.bpm.shape == (n,) and data.bpm.dtype == np.float32
    clicks = np.array([s.source == "beat/clicks.wav" for s in data.segments])
    assert clicks.any() and (~clicks).any()
    assert np.all(np.isnan(data.beat_phase[~clicks])) and np.all(np.isnan(data.bpm[~clicks]))
    phase = data.beat_phase[clicks]
    assert np.all((phase >= 0) & (phase < 1))
    np.testing.assert_allclose(data.bpm[clicks], bpm, rtol=0.01)
    # Frame f of a segment starting at s is at (s + f hop) / sr: its phase is that time's
    # place between the clicks (0.5 s apart from 0), within the tracker's two frames.
    for row, seg in zip(phase, [s for s in data.segments if s.source == "beat/clicks.wav"]):
        seconds = (seg.start_sample + TINY_AUDIO.hop_length * np.arange(frames)) / sr
        expected = np.mod(seconds * bpm / 60.0, 1.0)
        error = np.abs(np.angle(np.exp(2j * np.pi * (row - expected)))) / (2 * np.pi)
        assert error.max() < 0.1


def test_a_dataset_without_beats_loads_and_a_stale_one_is_refused(tiny_data, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(tiny_data, old)
    (old / BEATS).unlink()
    data = MelDataset(old)
    assert data.beat_phase is None and data.bpm is None
    assert len(data) == len(MelDataset(tiny_data))
    with open(old / BEATS, "wb") as fh:  # another run's beats: one segment short
        np.savez(
            fh,
            phase=np.zeros((len(data) - 1, TINY_AUDIO.segment_frames), np.float32),
            bpm=np.zeros(len(data) - 1, np.float32),
            start_sample=np.zeros(len(data) - 1, np.int64),
        )
    with pytest.raises(MelvaeError, match="does not match"):
        MelDataset(old)


def test_tone_tracks_of_the_shared_fixture_have_a_clock(tiny_data):
    # tone_track plucks every beat at 120 BPM: the fixture's tracks all get a clock.
    data = MelDataset(tiny_data)
    assert np.all(np.isfinite(data.bpm))
    np.testing.assert_allclose(data.bpm, 120.0, rtol=0.02)
    wave = tone_track(4.0, 8000, 110.0, np.random.default_rng(0))
    assert track_beats(wave, 8000).clear
