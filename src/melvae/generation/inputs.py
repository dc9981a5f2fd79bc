"""Inputs to a model: the device it runs on; audio (a file, or samples at any rate, mono or
stereo) made mono at the model's rate and cut into normalized mel segments; a clip, a label or
a latent named as an interpolation endpoint or a long track's start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from melvae.audio.features import log_mel
from melvae.audio.io import load_audio, resample
from melvae.config import AudioConfig
from melvae.errors import MelvaeError


def mono_audio(audio: np.ndarray | str | Path, sr: int | None, sample_rate: int) -> np.ndarray:
    """A file, or samples (samples,) or (samples, channels) at ``sr`` (None: already at
    ``sample_rate``) -> mono float32 samples at ``sample_rate``."""
    if isinstance(audio, (str, Path)):
        return load_audio(audio, sample_rate)
    wave = np.asarray(audio, dtype=np.float32)
    if wave.ndim == 2:  # (samples, channels), as soundfile reads it: mix to mono
        wave = wave.mean(axis=1)
    if wave.ndim != 1:
        raise MelvaeError(f"audio must be (samples,) or (samples, channels), got {wave.shape}")
    if sr is None or sr == sample_rate:
        return wave
    return resample(wave, sr, sample_rate)


def segments_of(wave: np.ndarray, cfg: AudioConfig, device) -> torch.Tensor:
    """Mono audio at ``cfg``'s rate -> normalized mels of its consecutive segments
    (k, n_mels, frames) on ``device``; a clip shorter than one segment is zero-padded."""
    seg = cfg.segment_samples
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if len(wave) < seg:
        wave = np.pad(wave, (0, seg - len(wave)))
    k = len(wave) // seg
    frames = torch.from_numpy(np.ascontiguousarray(wave[: k * seg].reshape(k, seg)))
    with torch.no_grad():
        return log_mel(frames.to(device), cfg)


def segment_of(wave: np.ndarray, cfg: AudioConfig, device, where: str = "middle") -> torch.Tensor:
    """One normalized mel segment (n_mels, frames) of mono audio: its middle or first."""
    mels = segments_of(wave, cfg, device)
    return mels[len(mels) // 2] if where == "middle" else mels[0]


def pick_device(device: str | None = None) -> torch.device:
    """'auto' or None: CUDA if present, else Apple MPS, else CPU."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise MelvaeError(f"unknown device {device!r}: use auto, cpu, cuda or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MelvaeError("--device cuda asked for, but no CUDA GPU is available")
    return dev


def clip_latent(
    m, clip, sr: int | None, label: str | None, where: str = "middle"
) -> tuple[np.ndarray, str | None]:
    """(latent mean of one segment of a clip, the label it was encoded with), for a loaded
    :class:`melvae.api.Melvae` ``m``: the clip is a normalized mel (n_mels, frames), an audio
    file or samples at ``sr`` (its middle or first segment). A conditional model encodes it
    with ``label``, or with its :meth:`fitting_label` where none is given."""
    mel = clip_segment(m, clip, sr, where)
    if label is None and m.conditional:
        label = m.fitting_label(mel)
    return m.encode_mel(mel[None], label)[0], label


def clip_segment(m, clip, sr: int | None, where: str = "middle") -> torch.Tensor:
    """One normalized mel segment (n_mels, frames) of a clip (see :func:`clip_latent`)."""
    arr = None if isinstance(clip, (str, Path)) else np.asarray(clip, dtype=np.float32)
    if arr is not None and arr.shape == (m.audio.n_mels, m.audio.segment_frames):
        return torch.from_numpy(arr).to(m.device)
    wave = mono_audio(clip, sr, m.sample_rate)
    return segment_of(wave, m.audio, m.device, where)


def is_label(m, spec) -> bool:
    return isinstance(spec, str) and spec in m.labels


def check_endpoint(m, spec) -> None:
    """A string that names neither a label of ``m`` nor an existing file is a user error."""
    named = isinstance(spec, (str, Path)) and spec not in m.labels
    if named and not Path(spec).exists():
        known = ", ".join(m.labels)
        raise MelvaeError(
            f"{spec!r} is neither an audio file nor a label"
            + (f" (labels: {known})" if known else "")
        )
