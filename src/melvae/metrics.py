"""Metrics, each defined once with its formula. numpy/torch only: they run offline.

Conventions: magnitudes are linear STFT magnitudes (freq, frames); audio is mono float.
"""

from __future__ import annotations

import numpy as np
import torch

from melvae.config import AudioConfig
from melvae.features import stft


def spectral_convergence_db(
    reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor
) -> float:
    """SC = 20 log10(||S - S_hat||_F / ||S||_F) in dB on linear magnitudes; lower is better,
    -inf for identical inputs. Frames are cropped to the shorter of the two."""
    ref, est = _as_np(reference), _as_np(estimate)
    t = min(ref.shape[-1], est.shape[-1])
    ref, est = ref[..., :t], est[..., :t]
    num = float(np.linalg.norm((ref - est).ravel()))
    den = float(np.linalg.norm(ref.ravel()))
    if num == 0.0:
        return float("-inf")
    return 20.0 * np.log10(num / max(den, 1e-12))


def log_spectral_distance_db(
    reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor, eps: float = 1e-8
) -> float:
    """LSD = mean over frames of sqrt(mean over freqs of (10 log10(S^2 / S_hat^2))^2), in dB."""
    ref, est = _as_np(reference), _as_np(estimate)
    t = min(ref.shape[-1], est.shape[-1])
    diff = 10 * np.log10((ref[..., :t] ** 2 + eps) / (est[..., :t] ** 2 + eps))
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=-2))))


def magnitude(audio: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Linear STFT magnitude (n_freqs, frames) of mono audio, on melvae's scale."""
    with torch.no_grad():
        return (
            stft(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), cfg).abs().numpy()
        )


def spectral_flux(audio: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Per-frame flux: flux[t] = || log(1 + 100 |S[:, t]|) - log(1 + 100 |S[:, t-1]|) ||_2,
    shape (frames,), flux[0] = 0. Log compression makes it follow loudness as heard."""
    mag = np.log1p(100.0 * magnitude(audio, cfg))
    flux = np.zeros(mag.shape[-1])
    flux[1:] = np.linalg.norm(np.diff(mag, axis=-1), axis=0)
    return flux


def seam_score(
    audio: np.ndarray, cfg: AudioConfig, join_seconds: list[float], radius_frames: int = 3
) -> float:
    """How much the joins stand out: the median, over joins, of the largest flux within
    ``radius_frames`` of the join, divided by the median of that same statistic at every frame
    away from all joins. About 1: joins look like the music around them; a click or a jump
    at the joins gives well above 1."""
    flux = spectral_flux(audio, cfg)
    n = len(flux)
    # Sliding maximum over a window of 2 * radius + 1 frames.
    padded = np.pad(flux, radius_frames, mode="edge")
    local_max = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius_frames + 1).max(-1)
    joins = [int(round(s * cfg.sample_rate / cfg.hop_length)) for s in join_seconds]
    joins = [j for j in joins if radius_frames <= j < n - radius_frames]
    if not joins:
        raise ValueError("no join lies inside the audio")
    away = np.ones(n, dtype=bool)
    for j in joins:
        away[max(0, j - 4 * radius_frames) : j + 4 * radius_frames + 1] = False
    away[: 2 * radius_frames] = away[n - 2 * radius_frames :] = False
    if not away.any():
        raise ValueError("the audio has no frames away from its joins")
    baseline = float(np.median(local_max[away]))
    return float(np.median(local_max[joins]) / max(baseline, 1e-12))


def _as_np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
