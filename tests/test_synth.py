"""Tests for melvae.data.synth: the procedural techno / breakbeat / ambient synthesizer."""

import numpy as np
import pytest
import soundfile as sf

from melvae.data import synth

SR = 22050


def onset_envelope(audio: np.ndarray, hop: int = 256) -> np.ndarray:
    """Positive frame-to-frame rise of log RMS energy (a simple onset-strength curve)."""
    n = len(audio) // hop
    rms = np.sqrt((audio[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(axis=1))
    return np.maximum(np.diff(np.log(rms + 1e-4)), 0.0)


def dominant_period_seconds(audio, lo_seconds, hi_seconds, hop: int = 256) -> float:
    """Lag in [lo, hi] seconds where the onset envelope's autocorrelation peaks."""
    env = onset_envelope(audio, hop)
    env = env - env.mean()
    ac = np.correlate(env, env, "full")[len(env) - 1 :]
    lags = np.arange(len(ac)) * hop / SR
    window = (lags >= lo_seconds) & (lags <= hi_seconds)
    return float(lags[window][np.argmax(ac[window])])


def spectral_flux(audio: np.ndarray, n_fft: int = 1024, hop: int = 512) -> float:
    """Summed positive change of the magnitude spectrum, relative to its total magnitude."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop] * np.hanning(n_fft)
    mag = np.abs(np.fft.rfft(frames, axis=1))
    return float(np.maximum(np.diff(mag, axis=0), 0).sum() / mag.sum())


@pytest.mark.parametrize("style", synth.STYLES)
@pytest.mark.parametrize(("seconds", "sample_rate"), [(2.3, 22050), (1.37, 16000)])
def test_track_shape_level_and_content(style, seconds, sample_rate):
    audio = synth.synthesize(style, seconds, sample_rate, seed=3)
    assert audio.dtype == np.float32
    assert audio.shape == (round(seconds * sample_rate),)
    assert np.all(np.isfinite(audio))
    assert 0.85 <= np.max(np.abs(audio)) <= 0.9
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 0.01


@pytest.mark.parametrize("style", synth.STYLES)
@pytest.mark.parametrize("seconds", [0.01, 0.25])
def test_very_short_tracks_have_exact_length(style, seconds):
    audio = synth.synthesize(style, seconds, 8000, seed=1)
    assert audio.shape == (round(seconds * 8000),)
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 0.9


@pytest.mark.parametrize("style", synth.STYLES)
def test_same_seed_same_track_different_seed_different_track(style):
    first = synth.synthesize(style, 1.5, SR, seed=7)
    assert np.array_equal(first, synth.synthesize(style, 1.5, SR, seed=7))
    other = synth.synthesize(style, 1.5, SR, seed=8)
    assert not np.allclose(first, other, atol=1e-3)


def test_seed_none_gives_a_valid_track():
    audio = synth.synthesize("techno", 0.5, SR, seed=None)
    assert audio.shape == (round(0.5 * SR),) and 0.85 <= np.max(np.abs(audio)) <= 0.9


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_techno_onsets_repeat_at_the_beat_period(seed):
    # Four-on-the-floor at 124-132 BPM: the beat lasts 60/132 = 0.455 s to 60/124 = 0.484 s.
    audio = synth.synthesize("techno", 6.0, SR, seed=seed)
    period = dominant_period_seconds(audio, 0.3, 0.8)
    assert 0.44 <= period <= 0.50


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ambient_is_smooth_and_drum_styles_are_percussive(seed):
    flux = {style: spectral_flux(synth.synthesize(style, 4.0, SR, seed)) for style in synth.STYLES}
    assert flux["ambient"] < 0.6 * flux["techno"]
    assert flux["ambient"] < 0.6 * flux["breakbeat"]


def level_jump_db(audio: np.ndarray, skip_seconds: float = 3.0, hop: int = 512) -> float:
    """99th percentile of the frame-to-frame rise in level (dB) after the opening fade-in."""
    audio = audio[int(skip_seconds * SR) :].astype(np.float64)
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    return float(np.percentile(np.diff(10 * np.log10((frames**2).mean(axis=1) + 1e-10)), 99))


@pytest.mark.parametrize("seed", [4, 5])
def test_ambient_has_no_drum_hits(seed):
    # A drum hit raises the level by many dB within one 23 ms frame; pads and swells fade.
    assert level_jump_db(synth.synthesize("ambient", 7.0, SR, seed)) < 5.0
    assert level_jump_db(synth.synthesize("techno", 7.0, SR, seed)) > 8.0
    assert level_jump_db(synth.synthesize("breakbeat", 7.0, SR, seed)) > 6.0


def test_styles_sound_different_for_the_same_seed():
    tracks = [synth.synthesize(style, 1.0, SR, seed=0) for style in synth.STYLES]
    for i in range(len(tracks)):
        for j in range(i + 1, len(tracks)):
            assert not np.allclose(tracks[i], tracks[j], atol=1e-2)


def test_synthesize_dataset_writes_labelled_wavs(tmp_path):
    paths = synth.synthesize_dataset(
        tmp_path, tracks_per_style=2, seconds=0.5, sample_rate=8000, styles=("techno", "ambient")
    )
    expected = [
        tmp_path / style / f"{style}_{i:02d}.wav"
        for style in ("techno", "ambient")
        for i in range(2)
    ]
    assert paths == expected
    for path in paths:
        info = sf.info(str(path))
        assert (info.samplerate, info.frames, info.channels) == (8000, 4000, 1)
        assert info.subtype == "PCM_16"
        audio, _ = sf.read(str(path), dtype="float32")
        assert 0.85 <= np.max(np.abs(audio)) <= 0.9
    first, second = (sf.read(str(p))[0] for p in paths[:2])
    assert not np.allclose(first, second, atol=1e-2)


def test_synthesize_dataset_is_deterministic_and_seeded(tmp_path):
    kwargs = {"tracks_per_style": 1, "seconds": 0.4, "sample_rate": 8000, "styles": "breakbeat"}
    a = synth.synthesize_dataset(tmp_path / "a", seed=5, **kwargs)
    b = synth.synthesize_dataset(tmp_path / "b", seed=5, **kwargs)
    c = synth.synthesize_dataset(tmp_path / "c", seed=6, **kwargs)
    read = [sf.read(str(paths[0]))[0] for paths in (a, b, c)]
    assert np.array_equal(read[0], read[1])
    assert not np.allclose(read[0], read[2], atol=1e-2)


@pytest.mark.parametrize(("style", "seconds"), [("polka", 1.0), ("techno", 0.0), ("ambient", -2.0)])
def test_synthesize_rejects_bad_arguments(style, seconds):
    with pytest.raises(ValueError, match="style|seconds"):
        synth.synthesize(style, seconds)


def test_synthesize_dataset_rejects_bad_arguments_before_writing(tmp_path):
    with pytest.raises(ValueError, match="tracks_per_style"):
        synth.synthesize_dataset(tmp_path / "zero", tracks_per_style=0, seconds=0.1)
    with pytest.raises(ValueError, match="polka"):
        synth.synthesize_dataset(tmp_path / "bad", seconds=0.1, styles=("techno", "polka"))
    with pytest.raises(ValueError, match="seconds"):
        synth.synthesize_dataset(tmp_path / "neg", seconds=-1.0)
    assert not any(tmp_path.iterdir())
