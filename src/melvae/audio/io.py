"""Audio file I/O: read any supported file as mono float32 at a target rate, write WAV/FLAC.

soundfile (libsndfile >= 1.1) reads WAV, FLAC, OGG/Vorbis, OGG/Opus and MP3; soxr resamples.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from melvae.errors import MelvaeError
from melvae.safeio import write_bytes

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith(".")


def find_audio_files(root: Path) -> list[Path]:
    """All audio files under ``root``, sorted, following the folder tree."""
    root = Path(root)
    if not root.exists():
        raise MelvaeError(f"no such folder: {root}")
    if root.is_file():
        return [root] if is_audio_file(root) else []
    return sorted(p for p in root.rglob("*") if p.is_file() and is_audio_file(p))


def load_audio(path: Path | str, sample_rate: int) -> np.ndarray:
    """Read a file, mix to mono and resample: float32 (samples,) at ``sample_rate``.

    Raises MelvaeError with the file name for anything unreadable.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise MelvaeError(f"no such audio file: {path}")
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises several types for corrupt input
        raise MelvaeError(f"cannot read {path}: {exc}") from None
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return resample(mono, file_rate, sample_rate)


def resample(wave: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality resampling with soxr; a no-op when the rates match."""
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    if from_rate == to_rate or wave.size == 0:
        return wave
    import soxr

    return soxr.resample(wave, from_rate, to_rate, quality="HQ").astype(np.float32)


def write_audio(path: Path | str, wave: np.ndarray, sample_rate: int) -> Path:
    """Write mono (samples,) audio; format from the extension (.wav PCM-16, .flac, .ogg).

    Audio louder than full scale is scaled down to a -0.1 dBFS peak rather than clipped.
    Written to a temporary name first and renamed (melvae.safeio), so an interrupted run or a
    full disk leaves no broken file.
    """
    import soundfile as sf

    path = Path(path)
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak > 0.99:
        wave = wave * (0.99 / peak)
    subtype = "PCM_16" if path.suffix.lower() == ".wav" else None
    path.parent.mkdir(parents=True, exist_ok=True)
    # Encoded in memory, then written by melvae.safeio: libsndfile's own failed write (a full
    # disk) says only "System error"; Python's file says which error, on which file.
    buffer = io.BytesIO()
    sf.write(buffer, wave, sample_rate, subtype=subtype, format=sound_format(path))
    return write_bytes(path, buffer.getbuffer())


def sound_format(path: Path) -> str:
    """soundfile's format name for an audio file name: a.wav -> WAV, a.flac -> FLAC."""
    return path.suffix.lstrip(".").upper()
