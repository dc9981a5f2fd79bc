import numpy as np
import pytest
import torch

from melvae.audio.features import (
    log_mel,
    log_mel_np,
    mel_filterbank,
    normalized_to_power,
    power_to_normalized,
)
from melvae.config import AudioConfig

from .conftest import TINY_AUDIO


@pytest.mark.parametrize("cfg", [AudioConfig(), TINY_AUDIO, AudioConfig(n_mels=256, fmin_hz=30.0)])
def test_filterbank_matches_librosa(cfg):
    librosa = pytest.importorskip("librosa")
    ours = mel_filterbank(cfg).numpy()
    ref = librosa.filters.mel(
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin_hz,
        fmax=cfg.f_max,
        norm=None,
    )
    assert ours.shape == (cfg.n_mels, cfg.n_freqs)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_frames_and_range():
    cfg = TINY_AUDIO
    wave = torch.randn(3, cfg.segment_samples) * 0.1
    mel = log_mel(wave, cfg)
    assert mel.shape == (3, cfg.n_mels, cfg.segment_frames)
    assert mel.min() >= 0 and mel.max() <= 1


def test_full_scale_sine_reaches_top_and_silence_the_floor():
    cfg = AudioConfig()
    t = np.arange(cfg.sample_rate) / cfg.sample_rate
    mel = log_mel_np(np.sin(2 * np.pi * 1000 * t).astype(np.float32), cfg)
    assert mel.max() >= 0.98  # 0 dB is a full-scale sine in its band
    quiet = log_mel_np((0.01 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), cfg)
    # -40 dB of amplitude is -40 dB on the scale: 0.5 of the 80 dB range below the top.
    assert quiet.max() == pytest.approx(mel.max() - 40 / 80, abs=0.03)
    assert log_mel_np(np.zeros(cfg.sample_rate, np.float32), cfg).max() == 0.0


def test_level_is_absolute_not_per_file():
    cfg = TINY_AUDIO
    wave = torch.randn(cfg.segment_samples) * 0.05
    loud, soft = log_mel(wave, cfg), log_mel(wave * 0.1, cfg)
    # 20 dB quieter is 20/80 lower wherever neither is clipped.
    inside = (soft > 0.05) & (loud < 0.95)
    assert inside.float().mean() > 0.5
    diff = (loud - soft)[inside]
    assert torch.allclose(diff, torch.full_like(diff, 0.25), atol=1e-3)


def test_power_round_trip():
    cfg = TINY_AUDIO
    mel = torch.rand(2, cfg.n_mels, 10)
    back = power_to_normalized(normalized_to_power(mel, cfg), cfg)
    assert torch.allclose(back, mel, atol=1e-5)
