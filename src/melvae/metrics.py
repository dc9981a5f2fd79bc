"""Metrics, each defined once with its formula. numpy/torch only: they run offline.

Conventions: magnitudes are linear STFT magnitudes (freq, frames); audio is mono float at
``cfg.sample_rate``; embeddings are float64 (n, d).

Three families:

* spectra: spectral convergence, log-spectral distance, temporal detail, spectral flux and
  the seam score;
* a hand-crafted clip embedding (:func:`audio_embedding`: MFCC, chroma, spectral contrast and
  onset statistics) and distances between sets of embeddings (Frechet, kernel, diversity,
  nearest neighbour), because no pretrained music-embedding model can be downloaded offline;
* rhythm: onset envelope, tempo, tempo stability and pulse clarity;
* timbre over time: the timbre jump ratio at marks (joins) against the track's own changes.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from melvae.config import AudioConfig
from melvae.features import REF_POWER, mel_filterbank, power_to_normalized, stft


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


def temporal_detail(
    recon: np.ndarray | torch.Tensor, original: np.ndarray | torch.Tensor
) -> np.ndarray:
    """How much of a segment's movement in time a reconstruction keeps, per segment, on
    normalized log-mels (..., n_mels, frames) in [0, 1] (e.g. (B, n_mels, frames) -> (B,)):

        TD = 1 - SSE(recon, original) / SSE(smear, original)

    where SSE sums squared differences over mel bands and frames, and ``smear`` is the
    original with every mel band replaced by its own mean over the segment's frames (a
    spectrogram with the right average spectrum and no time detail at all). Unitless: 1 for
    an exact copy, 0 for no better than the smear, below 0 for worse than it (unbounded).
    Frames are cropped to the shorter of the two. A segment whose original is constant in
    time in every band has no time detail to keep (SSE(smear) <= 1e-12 per bin, i.e. zero up
    to rounding): NaN for it."""
    rec, ref = _as_np(recon).astype(np.float64), _as_np(original).astype(np.float64)
    if rec.shape[:-1] != ref.shape[:-1]:
        raise ValueError(f"shapes differ beyond frames: {rec.shape} and {ref.shape}")
    t = min(rec.shape[-1], ref.shape[-1])
    rec, ref = rec[..., :t], ref[..., :t]
    smear = ref.mean(-1, keepdims=True)
    sse_rec = np.square(rec - ref).sum((-2, -1))
    sse_smear = np.square(smear - ref).sum((-2, -1))
    flat = sse_smear <= 1e-12 * ref.shape[-2] * t
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flat, np.nan, 1.0 - sse_rec / np.where(flat, 1.0, sse_smear))


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

    return _framewise(np.asarray(audio, dtype=np.float32).reshape(-1), cfg, flux)


def _framewise(wave: np.ndarray, cfg: AudioConfig, fn, block_frames: int = 4096) -> np.ndarray:
    """fn(wave) -> (frames, ...) for mono audio of any length, in blocks of ``block_frames``
    frames: the same values as ``fn(wave)`` for any ``fn`` whose frame t depends on STFT
    frames t and t-1 only. Each block is cut from the audio with a margin of frames on both
    sides (those the block's own zero padding and the t-1 dependency touch) which is dropped."""
    hop = cfg.hop_length
    n_frames = len(wave) // hop + 1
    if n_frames <= 2 * block_frames:
        return fn(wave)
    margin = -(-cfg.n_fft // (2 * hop)) + 1
    out = []
    for f0 in range(0, n_frames, block_frames):
        f1 = min(f0 + block_frames, n_frames)
        a, b = max(f0 - margin, 0), min(f1 + margin, n_frames)  # frames [a, b) computed
        # Frame j of the block is centred on sample (a + j) * hop, as in the whole signal; the
        # last block runs to the end, so it sees the same trailing samples.
        block = wave[a * hop :] if b == n_frames else wave[a * hop : (b - 1) * hop + 1]
        out.append(fn(block)[f0 - a : f1 - a])
    return np.concatenate(out)


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


# -- audio embedding -----------------------------------------------------------------------------

N_MFCC = 20
N_CONTRAST_BANDS = 7  # six octaves below Nyquist, plus everything under the lowest one
CONTRAST_QUANTILE = 0.02  # share of a band's bins averaged for its peak and for its valley
CHROMA_MAX_HZ = 5000.0
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MIN_BPM, MAX_BPM = 60.0, 200.0
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0  # tempo prior: log-normal around 120 BPM, 1 octave std
ONSET_FLOOR_DB = 0.1  # onset-envelope fluctuation that counts as none (pulse_clarity)


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
    (:func:`melvae.features.stft`, so on melvae's scale) and their mel bands:

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
    ac = _autocorrelation(env)
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


def _mel_db(power: torch.Tensor, cfg: AudioConfig) -> torch.Tensor:
    """Linear power (..., F, T) -> log-mel in dB against melvae's reference, in [-top_db, 0]."""
    mel_power = torch.matmul(mel_filterbank(cfg, power.device), power)
    return power_to_normalized(mel_power, cfg) * cfg.top_db - cfg.top_db


@functools.lru_cache(maxsize=8)
def _dct_matrix(n: int, k: int) -> torch.Tensor:
    """Orthonormal DCT-II basis (k, n): row i is w_i cos(pi i (m + 1/2) / n)."""
    m = np.arange(n)
    basis = np.cos(np.pi * np.arange(k)[:, None] * (m[None, :] + 0.5) / n) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    return torch.from_numpy(basis)


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


def _onset_from_db(db: torch.Tensor) -> torch.Tensor:
    """Log-mel dB (..., M, T) -> onset envelope (..., T): the mean over mel bands of the rise
    in dB since the previous frame, rises only; 0 at the first frame."""
    rise = torch.clamp(db[..., 1:] - db[..., :-1], min=0.0).mean(-2)
    return torch.nn.functional.pad(rise, (1, 0))


def _autocorrelation(env: torch.Tensor) -> torch.Tensor:
    """Biased autocorrelation of the mean-removed envelope (..., T): r[l] = sum_t e[t] e[t+l]."""
    e = env - env.mean(-1, keepdim=True)
    t = e.shape[-1]
    spec = torch.fft.rfft(e, n=2 * t)
    return torch.fft.irfft(spec.abs().square(), n=2 * t)[..., :t]


def onset_envelope(audio: np.ndarray | torch.Tensor, cfg: AudioConfig) -> np.ndarray:
    """Onset strength per frame, audio (..., samples) -> (..., frames): the mean over mel bands
    of ``max(0, dB[m, t] - dB[m, t-1])`` on melvae's log-mel in dB (spectral flux of the
    log-mel, rises only, as in Boeck & Widmer 2013 without their filtering); 0 at frame 0.
    Mono audio of any length is processed in blocks (bounded memory)."""

    def envelope(wave: np.ndarray | torch.Tensor) -> np.ndarray:
        wave = torch.as_tensor(np.asarray(wave) if not torch.is_tensor(wave) else wave)
        with torch.no_grad():
            db = _mel_db(stft(wave.to(torch.float32), cfg).abs().square(), cfg)
            return _onset_from_db(db.double()).numpy()

    if torch.is_tensor(audio) or np.ndim(audio) != 1:
        return envelope(audio)
    return _framewise(np.asarray(audio, dtype=np.float32), cfg, envelope)


def _tempo_from_envelope(env: np.ndarray, fps: float) -> float:
    """Tempo (BPM) of one onset envelope (frames at ``fps`` per second).

    A beat of period L frames repeats at L, 2 L and 4 L (beat, half bar, bar in 4/4), so each
    candidate lag L in 60-200 BPM scores the mean of the normalized autocorrelation r/r[0]
    near those three lags (within k/2 frames of k L, at least 1, for L's rounding), times a
    log-normal prior of 1 octave around 120 BPM (as librosa's ``tempo``). Scoring one lag
    alone picks the bar's backbeat or 3-beat figures as often as the beat on synthetic techno
    (ours and librosa's: 86 or 64 BPM for 128); the three metrical levels together found the
    beat of 8/8 techno excerpts, and 6/8 breakbeats (the other two: half tempo). The period
    is then refined to a fraction of a frame: a parabola through each of the three peaks,
    ``period = sum(peak_k) / sum(k)``. The lags considered stop where four beats no longer
    fit in the envelope; NaN for a flat envelope (silence) or one too short for four beats at
    200 BPM."""
    ac = _autocorrelation(torch.from_numpy(np.asarray(env, dtype=np.float64))).numpy()
    multiples = (1, 2, 4)
    lo = int(np.ceil(60.0 * fps / MAX_BPM))
    hi = min(int(np.floor(60.0 * fps / MIN_BPM)), (len(ac) - 4) // multiples[-1])
    if hi < lo or ac[0] <= 1e-20:
        return float("nan")
    ac = ac / ac[0]
    reach = {k: max(1, int(np.ceil(k / 2))) for k in multiples}

    def peak(centre: int, k: int) -> int:
        window = np.arange(centre - reach[k], centre + reach[k] + 1)
        return int(window[np.argmax(ac[window])])

    lags = np.arange(lo, hi + 1)
    bpm = 60.0 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    salience = np.array([np.mean([ac[peak(k * lag, k)] for k in multiples]) for lag in lags])
    best = int(lags[np.argmax(salience * prior)])
    positions = []
    for k in multiples:
        i = peak(k * best, k)
        a, b, c = ac[i - 1], ac[i], ac[i + 1]
        denom = a - 2 * b + c
        positions.append(i + (float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5)) if denom < 0 else 0))
    return float(60.0 * fps * sum(multiples) / sum(positions))


def tempo_bpm(audio: np.ndarray | torch.Tensor, cfg: AudioConfig) -> float | np.ndarray:
    """Tempo in BPM (60-200) from the autocorrelation of :func:`onset_envelope`; see
    ``_tempo_from_envelope`` for the peak picking. audio (samples,) -> float, (n, samples) ->
    (n,). NaN for silence or a clip shorter than four beats at 200 BPM (1.2 s)."""
    env = onset_envelope(audio, cfg)
    fps = cfg.sample_rate / cfg.hop_length
    if env.ndim == 1:
        return _tempo_from_envelope(env, fps)
    return np.array([_tempo_from_envelope(e, fps) for e in env.reshape(-1, env.shape[-1])])


def windowed_tempo_bpm(
    audio: np.ndarray, cfg: AudioConfig, window_seconds: float = 8.0, hop_seconds: float = 4.0
) -> np.ndarray:
    """Tempo (BPM) of each window of ``window_seconds`` starting every ``hop_seconds`` (whole
    windows only) of mono audio (samples,): (n_windows,). The onset envelope is computed once
    over the whole signal and cut into windows, so windows see no edge effects."""
    if window_seconds <= 0 or hop_seconds <= 0:
        raise ValueError("window_seconds and hop_seconds must be positive")
    env = onset_envelope(np.asarray(audio, dtype=np.float32).reshape(-1), cfg)
    fps = cfg.sample_rate / cfg.hop_length
    win, hop = int(round(window_seconds * fps)), int(round(hop_seconds * fps))
    starts = range(0, len(env) - win + 1, max(hop, 1))
    return np.array([_tempo_from_envelope(env[s : s + win], fps) for s in starts])


def tempo_stability(
    audio: np.ndarray, cfg: AudioConfig, window_seconds: float = 8.0, hop_seconds: float = 4.0
) -> float:
    """Beat stability of a long track: the standard deviation (BPM) of
    :func:`windowed_tempo_bpm` over its windows (silent windows left out). About 0 for a steady
    beat; a drifting or changing tempo gives more. Raises ValueError when fewer than two
    windows fit in the audio."""
    tempi = windowed_tempo_bpm(audio, cfg, window_seconds, hop_seconds)
    tempi = tempi[np.isfinite(tempi)]
    if len(tempi) < 2:
        raise ValueError(
            f"need two windows of {window_seconds:g} s with a beat; the audio holds {len(tempi)}"
        )
    return float(np.std(tempi))


def pulse_clarity(
    audio: np.ndarray,
    cfg: AudioConfig,
    window_seconds: float = 20.0,
    hop_seconds: float = 10.0,
    min_lag: float = 0.3,
    max_lag: float = 1.0,
) -> float:
    """How clearly a track pulses: mono audio (samples,) -> unitless, at most 1.

    The onset envelope e (:func:`onset_envelope`, computed once over the whole track) is cut
    into windows of ``window_seconds`` every ``hop_seconds`` (whole windows only; a track
    shorter than one window is one window of its own length). Per window of T frames, with e
    mean-removed and r its biased autocorrelation (``r[l] = sum_t e[t] e[t+l]``, so r[0] is
    T times the envelope's variance):

        clarity = max over lags l in [min_lag, max_lag] seconds of r[l] / (r[0] + T f^2)

    with f = 0.1 dB (``ONSET_FLOOR_DB``), and the result is the mean over windows. Near 1:
    onsets repeat with one period between 0.3 and 1 s (60-200 BPM, or a half or double of
    it); near 0: no periodicity (noise, onsets at random times) or no onsets (a steady sound,
    silence: 0). The floor f is the one departure from r[l] / r[0]: a steady chord's partials
    beat, sampled at the frame rate, into an exactly periodic envelope that r[l] / r[0] scores
    as high as a drum (0.6-0.97 on synthetic chords) although it moves by hundredths of a dB
    (std 0.02-0.04 dB at the default config; white noise 0.15, music about 1, clicks 5); the
    floor leaves envelopes of audible onsets (std >> 0.1 dB) as they are. The biased estimate
    shrinks r[l] by (T - l) / T, at most 5% at the defaults. NaN when the window is shorter
    than 2 max_lag (a period must fit twice to be seen)."""
    if window_seconds <= 0 or hop_seconds <= 0:
        raise ValueError("window_seconds and hop_seconds must be positive")
    if not 0 < min_lag <= max_lag:
        raise ValueError(f"need 0 < min_lag <= max_lag, got {min_lag} and {max_lag}")
    env = onset_envelope(np.asarray(audio, dtype=np.float32).reshape(-1), cfg)
    fps = cfg.sample_rate / cfg.hop_length
    lo, hi = max(1, int(np.ceil(min_lag * fps))), int(np.floor(max_lag * fps))
    if hi < lo:
        raise ValueError(f"no whole frame lag lies in [{min_lag}, {max_lag}] s")
    win = min(int(round(window_seconds * fps)), len(env))
    if win < 2 * hi:
        return float("nan")
    hop = max(1, int(round(hop_seconds * fps)))
    windows = np.stack([env[s : s + win] for s in range(0, len(env) - win + 1, hop)])
    ac = _autocorrelation(torch.from_numpy(windows)).numpy()
    peak = ac[:, lo : hi + 1].max(1) / (ac[:, 0] + win * ONSET_FLOOR_DB**2)
    return float(peak.mean())


# -- timbre over time ----------------------------------------------------------------------------


def _mfcc_frames(audio: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """MFCCs per frame of mono audio (samples,) -> float64 (frames, k), k = min(20, n_mels),
    as in :func:`audio_embedding` (DCT-II of the log-mel in dB); blockwise, bounded memory."""
    basis = _dct_matrix(cfg.n_mels, min(N_MFCC, cfg.n_mels))

    def mfcc(wave: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            w = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
            db = _mel_db(stft(w, cfg).abs().square(), cfg).double()
            return torch.matmul(basis, db).T.numpy()

    return _framewise(np.asarray(audio, dtype=np.float32).reshape(-1), cfg, mfcc)


def timbre_jump_ratio(
    audio: np.ndarray, cfg: AudioConfig, marks_seconds, context_seconds: float = 1.0
) -> float:
    """How abruptly the timbre changes at given marks (joins), against the track's own
    typical change: mono audio (samples,) -> unitless ratio, about 1 when the marks look like
    anywhere else in the track, well above 1 at a jump.

    The change at frame p is ``d(p) = || mean(C[p : p + c]) - mean(C[p - c : p]) ||_2``, in
    dB, where C are the MFCCs per frame (:func:`audio_embedding`'s: orthonormal DCT-II of the
    log-mel in dB, k = min(20, n_mels) coefficients, c_0 included, so a loudness step counts
    too; the Euclidean distance is that of the two context means' smoothed mel spectra) and
    c is ``context_seconds`` of frames. Then

        ratio = mean over marks m of d(m) / median over grid positions g of d(g)

    where the marks are those with full context on both sides, and the grid holds every
    multiple of ``context_seconds / 2`` with full context, less the positions within
    ``context_seconds`` of any mark (their context would hold the mark). Raises ValueError
    when no mark has full context or no grid position is left; NaN when the typical change is
    0 (to 1e-6 dB: a signal that never changes, such as silence)."""
    if context_seconds <= 0:
        raise ValueError("context_seconds must be positive")
    mfcc = _mfcc_frames(audio, cfg)
    n = len(mfcc)
    fps = cfg.sample_rate / cfg.hop_length
    c = max(1, int(round(context_seconds * fps)))
    csum = np.concatenate([np.zeros((1, mfcc.shape[1])), np.cumsum(mfcc, axis=0)])

    def change(p: np.ndarray) -> np.ndarray:
        before, after = csum[p] - csum[p - c], csum[p + c] - csum[p]
        return np.linalg.norm(after - before, axis=1) / c

    marks = np.array([int(round(float(s) * fps)) for s in marks_seconds], dtype=int)
    inside = marks[(marks >= c) & (marks <= n - c)]
    if not inside.size:
        raise ValueError(f"no mark has {context_seconds:g} s of audio on both sides")
    step = max(1, int(round(context_seconds / 2 * fps)))
    grid = np.arange(0, n + 1, step)
    grid = grid[(grid >= c) & (grid <= n - c)]
    grid = grid[np.all(np.abs(grid[:, None] - marks[None, :]) >= c, axis=1)]
    if not grid.size:
        raise ValueError(f"no position lies {context_seconds:g} s away from every mark")
    typical = float(np.median(change(grid)))
    if typical <= 1e-6:
        return float("nan")
    return float(np.mean(change(inside)) / typical)


def regular_marks(seconds: float, every: float = 10.0) -> list[float]:
    """Marks every ``every`` seconds strictly inside a track of ``seconds``: every, 2 every,
    ... < seconds (30 s -> [10, 20]). For :func:`timbre_jump_ratio` on a track with no joins
    (real music, or a model that makes one continuous sequence)."""
    if every <= 0:
        raise ValueError("every must be positive")
    count = max(int(np.ceil(seconds / every)) - 1, 0)
    return [every * i for i in range(1, count + 1) if every * i < seconds]


# -- distances between sets of embeddings --------------------------------------------------------


def standardize(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(x - mean(reference)) / std(reference), per feature; a feature that is constant in the
    reference is only centred (its std is taken as 1)."""
    ref = np.asarray(reference, dtype=np.float64)
    mean, std = ref.mean(0), ref.std(0)
    return (np.asarray(x, dtype=np.float64) - mean) / np.where(std > 1e-12, std, 1.0)


def _pair(x, y, reference, standardized: bool) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need two (n, d) arrays of the same d, got {x.shape} and {y.shape}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError("need at least two items in each set")
    if standardized:
        ref = x if reference is None else reference
        x, y = standardize(x, ref), standardize(y, ref)
    return x, y


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(
    x: np.ndarray, y: np.ndarray, reference: np.ndarray | None = None, standardized: bool = True
) -> float:
    """Frechet distance between Gaussians fitted to two sets of embeddings (n, d), (m, d)
    (Heusel et al. 2017, the FID/FAD formula):

        FD = ||mu_x - mu_y||^2 + Tr(S_x + S_y - 2 (S_x S_y)^(1/2))

    with Tr((S_x S_y)^(1/2)) = Tr((S_x^(1/2) S_y S_x^(1/2))^(1/2)), a symmetric PSD matrix
    whose root comes from its eigenvalues (numpy only). Features are first standardized with
    the mean and std of ``reference`` (default: x, the real set), so every feature counts in
    units of its spread in real music. Biased upwards for small sets (sample covariances):
    compare values made from sets of the same sizes."""
    x, y = _pair(x, y, reference, standardized)
    mu_x, mu_y = x.mean(0), y.mean(0)
    s_x, s_y = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    root_x = _sqrtm_psd(s_x)
    middle = root_x @ s_y @ root_x
    tr_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    fd = float(np.sum((mu_x - mu_y) ** 2) + np.trace(s_x) + np.trace(s_y) - 2.0 * tr_root)
    return max(fd, 0.0)


def kernel_distance(
    x: np.ndarray, y: np.ndarray, reference: np.ndarray | None = None, standardized: bool = True
) -> float:
    """Kernel distance (KID, Binkowski et al. 2018): the unbiased estimate of the squared MMD
    with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3:

        MMD^2 = sum_{i!=j} k(x_i, x_j) / (n (n-1)) + sum_{i!=j} k(y_i, y_j) / (m (m-1))
                - 2 sum_{i,j} k(x_i, y_j) / (n m)

    Unbiased, so small sets of any size compare fairly; it can dip below 0 when the sets are
    alike. Features standardized as in :func:`frechet_distance`."""
    x, y = _pair(x, y, reference, standardized)
    n, m, d = len(x), len(y), x.shape[1]
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    within_x = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within_x + within_y - 2.0 * k_xy.mean())


def _pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances (n, m), via ||a||^2 + ||b||^2 - 2 a.b (clamped at 0)."""
    sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return np.sqrt(np.clip(sq, 0.0, None))


def knn_label_accuracy(latents: np.ndarray, labels, k: int = 5, groups=None) -> float:
    """Leave-one-out k-nearest-neighbour accuracy: each item's label predicted by a majority
    vote of its k nearest other items (Euclidean; a tie goes to the tied label with the nearest
    member), and the share predicted right. Chance is the majority label's share.

    groups (optional, e.g. the source track of each segment): neighbours from the item's own
    group are left out, so overlapping segments of one track cannot vote for each other."""
    z = np.asarray(latents, dtype=np.float64).reshape(len(latents), -1)
    _, y = np.unique(np.asarray(labels), return_inverse=True)
    n = len(z)
    if n < 2:
        raise ValueError("need at least two items")
    dist = _pairwise_distances(z, z)
    np.fill_diagonal(dist, np.inf)
    if groups is not None:
        _, g = np.unique(np.asarray(groups), return_inverse=True)
        dist[g[:, None] == g[None, :]] = np.inf
    correct = 0
    for i in range(n):
        order = np.argsort(dist[i], kind="stable")
        order = order[np.isfinite(dist[i, order])][:k]
        if len(order) == 0:
            continue  # no admissible neighbour: counted as wrong
        votes = np.bincount(y[order], minlength=y.max() + 1)
        tied = np.nonzero(votes == votes.max())[0]
        pred = next(int(y[j]) for j in order if y[j] in tied)  # nearest member of a tied label
        correct += int(pred == y[i])
    return correct / n


def diversity(x: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs i < j of a set (n, d): how spread out it is."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if len(x) < 2:
        raise ValueError("need at least two items")
    dist = _pairwise_distances(x, x)
    return float(dist[np.triu_indices(len(x), k=1)].mean())


def nearest_neighbour_distance(
    gen: np.ndarray, train: np.ndarray, gen_groups=None, train_groups=None
) -> np.ndarray:
    """Per item of ``gen`` (n, d), the Euclidean distance to its nearest item of ``train``
    (m, d): (n,). A generated clip much closer to the training set than new real music is
    (the held-out set's own distances to it) is a copy.

    Groups (optional): a training item in the same group as the query is skipped (inf when
    none is left). The training set's own NN distances, the other reference to read these
    against: ``nearest_neighbour_distance(train, train, ids, ids)`` with ``ids =
    np.arange(m)`` to skip each item itself, or its source tracks to skip overlapping
    segments of the same track."""
    x = np.asarray(gen, dtype=np.float64).reshape(len(gen), -1)
    ref = np.asarray(train, dtype=np.float64).reshape(len(train), -1)
    if (gen_groups is None) != (train_groups is None):
        raise ValueError("give both gen_groups and train_groups, or neither")
    best = np.full(len(x), np.inf)
    for j in range(0, len(ref), 256):  # bounded memory for large training sets
        dist = _pairwise_distances(x, ref[j : j + 256])
        if gen_groups is not None:
            same = np.asarray(gen_groups)[:, None] == np.asarray(train_groups)[None, j : j + 256]
            dist[same] = np.inf
        best = np.minimum(best, dist.min(1))
    return best


def _as_np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
