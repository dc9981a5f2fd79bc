"""Waveform <-> normalized log-mel, in torch (runs on CPU or GPU, batched).

Scale conventions, defined once here:

* The STFT is divided by the window's sum, so a full-scale sine (amplitude 1) has a
  magnitude of 0.5 in its bin, whatever ``n_fft`` is.
* The mel filterbank is made of triangles with peak 1 on the Slaney mel scale (librosa's
  default scale with ``norm=None``), so a sine at a band's centre frequency puts its bin power
  into that band unchanged.
* 0 dB is therefore ``REF_POWER = 0.5 ** 2``: the power a full-scale sine reaches in the mel
  band centred on it. Values are clipped to [-top_db, 0] dB and mapped linearly to [0, 1].
  Never normalized per file: a sample drawn from the prior has no statistics to undo.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from melvae.config import AudioConfig

REF_POWER = 0.25  # power of a full-scale sine in its own bin, after dividing by the window sum


def hz_to_mel(freq_hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (as librosa, htk=False)."""
    freq_hz = np.asarray(freq_hz, dtype=np.float64)
    f_sp = 200.0 / 3  # Hz per mel in the linear part
    min_log_hz, logstep = 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    linear = freq_hz / f_sp
    log = min_log_mel + np.log(np.maximum(freq_hz, min_log_hz) / min_log_hz) / logstep
    return np.where(freq_hz >= min_log_hz, log, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(
        mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel
    )


@functools.lru_cache(maxsize=16)
def _mel_filterbank_np(
    sample_rate: int, n_fft: int, n_mels: int, fmin_hz: float, fmax_hz: float
) -> np.ndarray:
    fft_hz = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin_hz), hz_to_mel(fmax_hz), n_mels + 2))
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (fft_hz[None, :] - lower) / (centre - lower)
    falling = (upper - fft_hz[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights.flags.writeable = False
    return weights.astype(np.float32)


def mel_filterbank(cfg: AudioConfig, device: torch.device | str | None = None) -> torch.Tensor:
    """Triangular filters, peak 1: Tensor (n_mels, n_freqs).

    Our own 15 lines rather than ``librosa.filters.mel``: importing librosa costs ~3 s per
    process, and the result matches it to float precision (see tests/test_features.py).
    """
    weights = _mel_filterbank_np(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin_hz, cfg.f_max)
    return torch.from_numpy(weights).to(device)


def window(cfg: AudioConfig, device: torch.device | str | None = None) -> torch.Tensor:
    """Periodic Hann window of n_fft samples."""
    return torch.hann_window(cfg.n_fft, periodic=True, device=device)


def stft(wave: torch.Tensor, cfg: AudioConfig) -> torch.Tensor:
    """Scaled complex STFT: wave (..., samples) -> (..., n_freqs, frames), centered frames.

    Divided by the window sum, so a full-scale sine has magnitude 0.5 in its bin.
    """
    win = window(cfg, wave.device)
    spec = torch.stft(
        wave.reshape(-1, wave.shape[-1]),
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        window=win,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    spec = spec / win.sum()
    return spec.reshape(*wave.shape[:-1], *spec.shape[-2:])


def istft(spec: torch.Tensor, cfg: AudioConfig, length: int | None = None) -> torch.Tensor:
    """Inverse of :func:`stft` (same scaling): (..., n_freqs, frames) -> (..., samples)."""
    win = window(cfg, spec.device)
    flat = spec.reshape(-1, *spec.shape[-2:]) * win.sum()
    wave = torch.istft(
        flat, n_fft=cfg.n_fft, hop_length=cfg.hop_length, window=win, center=True, length=length
    )
    return wave.reshape(*spec.shape[:-2], wave.shape[-1])


def power_to_normalized(mel_power: torch.Tensor, cfg: AudioConfig) -> torch.Tensor:
    """Mel power -> dB against REF_POWER, clipped to [-top_db, 0], mapped to [0, 1]."""
    floor = REF_POWER * 10.0 ** (-cfg.top_db / 10.0)
    db = 10.0 * torch.log10(torch.clamp(mel_power, min=floor) / REF_POWER)
    return (torch.clamp(db, min=-cfg.top_db, max=0.0) + cfg.top_db) / cfg.top_db


def normalized_to_power(mel: torch.Tensor, cfg: AudioConfig) -> torch.Tensor:
    """Inverse of :func:`power_to_normalized` on [0, 1] (values outside are clipped first)."""
    db = torch.clamp(mel, 0.0, 1.0) * cfg.top_db - cfg.top_db
    return REF_POWER * 10.0 ** (db / 10.0)


def log_mel(wave: torch.Tensor, cfg: AudioConfig) -> torch.Tensor:
    """Waveform (..., samples) at cfg.sample_rate -> normalized log-mel (..., n_mels, frames),
    values in [0, 1]; ``frames = samples // hop_length + 1``."""
    power = stft(wave, cfg).abs().square()
    mel_power = torch.matmul(mel_filterbank(cfg, wave.device), power)
    return power_to_normalized(mel_power, cfg)


def log_mel_np(wave: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Numpy convenience wrapper of :func:`log_mel` (float32 in, float32 out)."""
    with torch.no_grad():
        return log_mel(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)), cfg).numpy()
