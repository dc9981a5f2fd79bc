"""What audio is made of, frame by frame, and a clip embedding built from it. numpy/torch
only: everything runs offline.

Conventions: audio is mono float at ``cfg.sample_rate`` (or a batch (n, samples) where
said); frames are melvae's STFT frames (:func:`melvae.audio.features.stft`, one every
``hop_length``); dB are on melvae's log-mel scale (fixed reference, floored at -top_db).

* frame descriptors: the STFT magnitude, spectral flux, the onset envelope and MFCCs, each
  computable in blocks (:func:`framewise`) so a track of any length needs bounded memory
  (the onset envelope, its autocorrelation and ``framewise`` are
  :mod:`melvae.audio.onsets`', beneath the beat tracker, and named here too);
* :func:`audio_embedding`: a hand-crafted clip embedding (MFCC, chroma, spectral contrast and
  onset statistics), because no pretrained music-embedding model can be downloaded offline.

Statistics over time of these descriptors (tempo, pulse, seams, timbre jumps) live in
:mod:`melvae.evaluation.rhythm`; comparisons of spectra and of sets of embeddings in
:mod:`melvae.evaluation.metrics`.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from melvae.audio.features import REF_POWER, stft
from melvae.audio.onsets import (  # the onset envelope lives beneath the beat tracker
    MAX_BPM,
    MIN_BPM,
    autocorrelation,
    framewise,
    onset_envelope,  # noqa: F401 (a frame descriptor of this module's, defined there)
)
from melvae.audio.onsets import mel_db as _mel_db
from melvae.audio.onsets import onset_from_db as _onset_from_db
from melvae.config import AudioConfig

N_MFCC = 20
N_CONTRAST_BANDS = 7  # six octaves below Nyquist, plus everything under the lowest one
CONTRAST_QUANTILE = 0.02  # share of a band's bins averaged for its peak and for its valley
CHROMA_MAX_HZ = 5000.0
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


# -- frame descriptors ---------------------------------------------------------------------------


def magnitude(audio: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Linear STFT magnitude (n_freqs, frames) of mono audio, on melvae's scale."""
    with torch.no_grad():
        return (
            stft(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), cfg).abs().numpy()
        )


def spectral_flux(audio: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """Per-frame flux: flux[t] = || log(1 + 100 |S[:, t]|) - log(1 + 100 |S[:, t-1]|) ||_2,
    shape (frames,), flux[0] = 0. Log compression makes it follow loudness as heard.
    Computed in blocks of frames, so a track of any length needs bounded memory."""

    def flux(block: np.ndarray) -> np.ndarray:
        mag = np.log1p(100.0 * magnitude(block, cfg))
        out = np.zeros(mag.shape[-1])
        out[1:] = np.linalg.norm(np.diff(mag, axis=-1), axis=0)
        return out

    return framewise(np.asarray(audio, dtype=np.float32).reshape(-1), cfg, flux)


def mfcc_frames(audio: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """MFCCs per frame of mono audio (samples,) -> float64 (frames, k), k = min(20, n_mels),
    as in :func:`audio_embedding` (DCT-II of the log-mel in dB); blockwise, bounded memory."""
    basis = _dct_matrix(cfg.n_mels, min(N_MFCC, cfg.n_mels))

    def mfcc(wave: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            w = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
            db = _mel_db(stft(w, cfg).abs().square(), cfg).double()
            return torch.matmul(basis, db).T.numpy()

    return framewise(np.asarray(audio, dtype=np.float32).reshape(-1), cfg, mfcc)


@functools.lru_cache(maxsize=8)
def _dct_matrix(n: int, k: int) -> torch.Tensor:
    """Orthonormal DCT-II basis (k, n): row i is w_i cos(pi i (m + 1/2) / n)."""
    m = np.arange(n)
    basis = np.cos(np.pi * np.arange(k)[:, None] * (m[None, :] + 0.5) / n) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    return torch.from_numpy(basis)


# -- the clip embedding --------------------------------------------------------------------------


def embedding_names(cfg: AudioConfig) -> list[str]:
    """The name of every dimension of :func:`audio_embedding`, in order."""
    k = min(N_MFCC, cfg.n_mels)
    names = [f"mfcc{i}_mean" for i in range(k)] + [f"mfcc{i}_std" for i in range(k)]
    names += [f"chroma_{p}_mean" for p in PITCH_CLASSES]
    names += [f"chroma_{p}_std" for p in PITCH_CLASSES]
    names += [f"contrast{b}_mean" for b in range(N_CONTRAST_BANDS)]
    names += [f"contrast{b}_std" for b in range(N_CONTRAST_BANDS)]
    return names + ["onset_mean", "onset_std", "onset_autocorr_peak"]


def audio_embedding(audio: np.ndarray | torch.Tensor, cfg: AudioConfig) -> np.ndarray:
    """A hand-crafted, deterministic clip embedding: audio (n, samples) or (samples,) at
    ``cfg.sample_rate`` -> float64 (n, d), d = 2 k + 24 + 14 + 3 with k = min(20, n_mels)
    (81 at the defaults). Names in :func:`embedding_names`. Per clip, over its STFT frames
    (:func:`melvae.audio.features.stft`, so on melvae's scale) and their mel bands:

    * ``mfcc{i}_mean``, ``mfcc{i}_std`` (2 k): mean and std over time of the MFCCs, the
      orthonormal DCT-II over mel bands of the log-mel in dB (melvae's fixed reference, floored
      at -top_db): ``c_i[t] = sum_m dB[m, t] w_i cos(pi i (m + 1/2) / n_mels)``. Timbre and
      loudness (c_0 is the overall level).
    * ``chroma_{C..B}_mean``, ``_std`` (24): each STFT bin's power folded onto its pitch class
      ``round(12 log2(f / 440 Hz) + 69) mod 12``, using the bins narrower than a semitone
      (f >= df / (2^(1/12) - 1), about 17 bins up) up to 5 kHz; each frame divided by its
      largest class (silent frames stay 0). Harmony and key.
    * ``contrast{b}_mean``, ``_std`` (14): spectral contrast (Jiang et al. 2002) in 7 bands:
      six octaves ending at Nyquist ([ny/64, ny/32), ..., [ny/2, ny]) and [0, ny/64). Per band
      and frame, 20 log10(peak / valley) in dB of the magnitudes, where peak and valley are the
      means of the top and bottom 2% of the band's bins (at least one bin). Tonal (high) vs
      noisy (low) content per register.
    * ``onset_mean``, ``onset_std`` (2): the onset envelope (:func:`onset_envelope`, dB per
      frame), mean and std over time: how much and how unevenly new sound arrives.
    * ``onset_autocorr_peak`` (1): the largest normalized autocorrelation of the mean-removed
      onset envelope, ``r[l] / r[0]``, over lags of 60-200 BPM (at most half the clip): how
      periodic the rhythm is, in [-1, 1]; 0 for a silent clip.
    """
    wave = torch.as_tensor(np.asarray(audio) if not torch.is_tensor(audio) else audio)
    wave = wave.to(torch.float32)
    single = wave.ndim == 1
    wave = wave.reshape(-1, wave.shape[-1])
    out = []
    with torch.no_grad():
        for i in range(0, len(wave), 16):  # bounded memory for many clips
            out.append(_embed_batch(wave[i : i + 16], cfg))
    emb = np.concatenate(out).astype(np.float64)
    return emb[0] if single else emb


def _embed_batch(wave: torch.Tensor, cfg: AudioConfig) -> np.ndarray:
    mag = stft(wave, cfg).abs()  # (B, F, T)
    power = mag.square()
    db = _mel_db(power, cfg)  # (B, M, T)
    mfcc = torch.matmul(_dct_matrix(cfg.n_mels, min(N_MFCC, cfg.n_mels)), db.double())
    chroma = torch.matmul(_chroma_matrix(cfg), power.double())  # (B, 12, T)
    chroma = chroma / chroma.amax(dim=1, keepdim=True).clamp(min=1e-20)
    contrast = _spectral_contrast(mag, cfg).double()  # (B, 7, T)
    env = _onset_from_db(db.double())  # (B, T)
    fps = cfg.sample_rate / cfg.hop_length
    lo = int(np.ceil(60.0 * fps / MAX_BPM))
    hi = min(int(np.floor(60.0 * fps / MIN_BPM)), env.shape[-1] // 2)
    ac = autocorrelation(env)
    if hi >= lo:
        peak = (ac[:, lo : hi + 1] / ac[:, :1].clamp(min=1e-20)).amax(dim=1)
        peak = torch.where(ac[:, 0] > 1e-20, peak, torch.zeros_like(peak))
    else:  # the clip is too short to hold two beats at any tempo in range
        peak = torch.zeros(len(env), dtype=env.dtype)
    parts = [
        mfcc.mean(-1),
        mfcc.std(-1, unbiased=False),
        chroma.mean(-1),
        chroma.std(-1, unbiased=False),
        contrast.mean(-1),
        contrast.std(-1, unbiased=False),
        env.mean(-1, keepdim=True),
        env.std(-1, unbiased=False, keepdim=True),
        peak[:, None],
    ]
    return torch.cat(parts, dim=1).numpy()


@functools.lru_cache(maxsize=8)
def _chroma_matrix(cfg: AudioConfig) -> torch.Tensor:
    """(12, n_freqs) 0/1 matrix folding STFT bins onto pitch classes (see audio_embedding)."""
    freqs = np.arange(cfg.n_freqs) * cfg.sample_rate / cfg.n_fft
    df = cfg.sample_rate / cfg.n_fft
    lowest = df / (2.0 ** (1 / 12) - 1)  # from here up, a bin is narrower than a semitone
    use = (freqs >= lowest) & (freqs <= min(CHROMA_MAX_HZ, cfg.sample_rate / 2))
    pitch = np.round(12 * np.log2(np.maximum(freqs, 1e-6) / 440.0) + 69).astype(int) % 12
    fold = np.zeros((12, cfg.n_freqs))
    fold[pitch[use], np.nonzero(use)[0]] = 1.0
    return torch.from_numpy(fold)


@functools.lru_cache(maxsize=8)
def _contrast_bands(cfg: AudioConfig) -> tuple[tuple[int, int], ...]:
    """STFT bin ranges [start, stop) of the spectral-contrast bands, lowest first."""
    nyquist = cfg.sample_rate / 2
    edges = [0.0] + [nyquist / 2.0**k for k in range(N_CONTRAST_BANDS - 1, -1, -1)]
    to_bin = cfg.n_fft / cfg.sample_rate
    bands = []
    for b in range(N_CONTRAST_BANDS):
        start = min(int(np.ceil(edges[b] * to_bin)), cfg.n_freqs - 1)
        last = b == N_CONTRAST_BANDS - 1  # the top band includes Nyquist itself
        stop = cfg.n_freqs if last else int(np.ceil(edges[b + 1] * to_bin))
        bands.append((start, max(stop, start + 1)))  # n_fft too small: at least one bin
    return tuple(bands)


def _spectral_contrast(mag: torch.Tensor, cfg: AudioConfig) -> torch.Tensor:
    """Magnitudes (B, F, T) -> contrast in dB (B, 7, T); see :func:`audio_embedding`."""
    floor = np.sqrt(REF_POWER) * 10.0 ** (-cfg.top_db / 20.0)  # -top_db: a silent band is 0 dB
    out = []
    for start, stop in _contrast_bands(cfg):
        band = mag[:, start:stop, :].transpose(1, 2).contiguous()  # (B, T, bins): fast topk
        k = max(1, int(round(CONTRAST_QUANTILE * (stop - start))))
        peak = torch.topk(band, k, dim=-1).values.mean(-1).clamp(min=floor)
        valley = torch.topk(band, k, dim=-1, largest=False).values.mean(-1).clamp(min=floor)
        out.append(20.0 * torch.log10(peak / valley))
    return torch.stack(out, dim=1)
