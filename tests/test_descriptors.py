"""melvae.evaluation.descriptors: frame descriptors and the clip embedding."""

import numpy as np

from melvae.evaluation.descriptors import (
    PITCH_CLASSES,
    audio_embedding,
    embedding_names,
    framewise,
    magnitude,
    onset_envelope,
    spectral_flux,
)

from .conftest import TINY_AUDIO, tone_track


def test_magnitude_shape():
    cfg = TINY_AUDIO
    mag = magnitude(np.zeros(cfg.segment_samples, np.float32), cfg)
    assert mag.shape == (cfg.n_freqs, cfg.segment_frames)


def test_blockwise_features_equal_the_whole_signal_ones():
    cfg = TINY_AUDIO
    wave = tone_track(6.0, cfg.sample_rate, 220.0, np.random.default_rng(3))[:-37]
    for fn in (
        lambda w: onset_envelope(w[None], cfg)[0],  # 2-D input: never cut into blocks
        lambda w: spectral_flux(w, cfg),  # 750 frames: below its block size
    ):
        whole = fn(wave)
        blocks = framewise(wave, cfg, fn, block_frames=50)
        np.testing.assert_allclose(blocks, whole, rtol=1e-5, atol=1e-6)
        assert len(blocks) == len(wave) // cfg.hop_length + 1


# -- the clip embedding ------------------------------------------------------------------------


def click_track(seconds: float, bpm: float, sample_rate: int = 8000, seed: int = 0) -> np.ndarray:
    """A short decaying noise burst on every beat: the plainest possible beat."""
    rng = np.random.default_rng(seed)
    wave = np.zeros(int(seconds * sample_rate), np.float32)
    burst = rng.standard_normal(200) * np.exp(-np.arange(200) / 30.0) * 0.5
    for beat in np.arange(0.0, seconds, 60.0 / bpm):
        i = int(beat * sample_rate)
        n = min(len(burst), len(wave) - i)
        wave[i : i + n] += burst[:n]
    return wave


def test_audio_embedding_shape_names_and_determinism():
    cfg = TINY_AUDIO
    rng = np.random.default_rng(0)
    clips = np.stack([tone_track(1.0, cfg.sample_rate, f, rng) for f in (110.0, 220.0, 330.0)])
    emb = audio_embedding(clips, cfg)
    names = embedding_names(cfg)
    assert emb.shape == (3, len(names)) == (3, 2 * 20 + 24 + 14 + 3)
    assert len(set(names)) == len(names)
    assert np.all(np.isfinite(emb))
    np.testing.assert_array_equal(emb, audio_embedding(clips, cfg))  # deterministic
    np.testing.assert_allclose(audio_embedding(clips[1], cfg), emb[1], rtol=1e-6)  # 1-D input
    silent = audio_embedding(np.zeros(cfg.segment_samples, np.float32), cfg)
    assert np.all(np.isfinite(silent))
    assert silent[names.index("onset_autocorr_peak")] == 0.0


def test_audio_embedding_dimensions_mean_what_they_say():
    cfg = TINY_AUDIO
    names = embedding_names(cfg)
    t = np.arange(cfg.segment_samples) / cfg.sample_rate
    tone = (0.5 * np.sin(2 * np.pi * 880.0 * t)).astype(np.float32)  # an A (880 Hz)
    noise = 0.3 * np.random.default_rng(0).standard_normal(cfg.segment_samples)
    beat = click_track(4.0, 120.0)
    steady_noise = 0.1 * np.random.default_rng(1).standard_normal(len(beat))
    emb = audio_embedding(np.stack([tone, 0.1 * tone, noise.astype(np.float32)]), cfg)
    chroma = [emb[0, names.index(f"chroma_{p}_mean")] for p in PITCH_CLASSES]
    assert PITCH_CLASSES[int(np.argmax(chroma))] == "A"
    assert emb[0, names.index("mfcc0_mean")] > emb[1, names.index("mfcc0_mean")] + 10  # louder
    # 880 Hz lies in band 4 ([500, 1000) Hz at 8 kHz): a sine has a sharp peak, noise none.
    band = names.index("contrast4_mean")
    assert emb[0, band] > emb[2, band] + 20
    rhythm = audio_embedding(np.stack([beat, steady_noise.astype(np.float32)]), cfg)
    peak = names.index("onset_autocorr_peak")
    assert rhythm[0, peak] > 0.5 > rhythm[1, peak]
