"""Writing what the API makes to files other tools open: clips (WAV or FLAC, with a mel
PNG each), interpolations, and long tracks streamed to disk in bounded memory with a JSON
description (``track.json``) beside them.

Functions of a loaded :class:`melvae.api.Melvae`; its ``write_*`` methods call these.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from melvae.config import (
    AUDIO_FORMATS,
    DEFAULT_TEMPERATURE,
    INTERPOLATION_FADE_SECONDS,
    INTERPOLATION_STEPS,
    LOOP_REPEAT,
    jsonable,
    write_json,
)
from melvae.errors import MelvaeError
from melvae.safeio import GuardedFile, atomic_write


def write_clips(
    model,
    out_dir: Path | str,
    mels: np.ndarray,
    names: list[str],
    seed: int | None = 0,
    fmt: str = AUDIO_FORMATS[0],
) -> list[Path]:
    """Invert mels (n, n_mels, frames) and write OUT_DIR/NAME.wav (or .flac) and a mel
    PNG beside each; returns the audio paths."""
    from melvae.audio.io import write_audio
    from melvae.plots import save_mel_png

    out_dir = Path(out_dir)
    paths = []
    for name, mel, wave in zip(names, mels, model.mel_to_audio(mels, seed), strict=True):
        path = write_audio(out_dir / f"{name}.{fmt}", wave, model.sample_rate)
        save_mel_png(mel, model.audio, path.with_suffix(".png"), title=name)
        paths.append(path)
    return paths


def write_interpolation(
    model,
    out_dir: Path | str,
    a,
    b,
    steps: int = INTERPOLATION_STEPS,
    fade_seconds: float = INTERPOLATION_FADE_SECONDS,
    seed: int | None = 0,
    label_a: str | None = None,
    label_b: str | None = None,
    bpm=None,
) -> Path:
    """Write OUT_DIR/step_NN.wav for each step and OUT_DIR/interpolation.wav, the steps
    joined with crossfades; returns the joined file's path."""
    from melvae.audio.io import write_audio

    out_dir = Path(out_dir)
    clips, joined, sr = model.interpolate(
        a,
        b,
        steps,
        fade_seconds=fade_seconds,
        seed=seed,
        label_a=label_a,
        label_b=label_b,
        bpm=bpm,
    )
    for i, clip in enumerate(clips):
        write_audio(out_dir / f"step_{i:02d}.wav", clip, sr)
    return write_audio(out_dir / "interpolation.wav", joined, sr)


def loop_audio(model, mels: np.ndarray, bpm: float, bars: int, seed: int | None = 0):
    """Loop mels as :meth:`melvae.api.Melvae.loop_mels` makes them (a beat longer than the
    loop) -> (seamless loops (n, samples), exactly ``bars`` bars at ``bpm``, the audio past
    each end crossfaded over one beat into its start; that crossfade's samples; the mel
    frames a loop spans)."""
    from melvae.generation.loops import loop_samples, seamless

    sr = model.sample_rate
    length, fade = loop_samples(bpm, bars, sr), int(round(60.0 / bpm * sr))
    waves = seamless(model.mel_to_audio(mels, seed), length, fade)
    return waves, fade, int(np.ceil(length / model.audio.hop_length))


def write_loops(
    model,
    out_dir: Path | str,
    n: int,
    bpm: float,
    bars: int,
    label: str | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    seed: int | None = 0,
    fmt: str = AUDIO_FORMATS[0],
    repeat: float = LOOP_REPEAT,
) -> dict:
    """n seamless loops of exactly ``bars`` bars at ``bpm`` (:mod:`melvae.generation.loops`)
    as OUT_DIR/LABEL_NNN.wav (or .flac) with a mel PNG each, and OUT_DIR/loops.json; returns
    that description."""
    from melvae.audio.io import write_audio
    from melvae.plots import save_mel_png

    sr, out_dir = model.sample_rate, Path(out_dir)
    mels, labels = model.loop_mels(n, bpm, bars, label, temperature, seed, repeat)
    loops, fade, frames = loop_audio(model, mels, bpm, bars, seed)
    length = loops.shape[-1]
    files = []
    for i, (mel, wave, name) in enumerate(zip(mels, loops, labels, strict=True)):
        path = write_audio(out_dir / f"{name or 'loop'}_{i:03d}.{fmt}", wave, sr)
        save_mel_png(mel[:, :frames], model.audio, path.with_suffix(".png"), title=path.stem)
        files.append({"file": path.name, "label": name})
    info = {
        "bpm": bpm,
        "bars": bars,
        "beats_per_bar": 4,
        "samples": length,
        "sample_rate": sr,
        "seconds": length / sr,
        "seed": seed,
        "temperature": temperature,
        "repeat": repeat,
        "crossfade_samples": fade,
        "inverter": model.inverter.describe(),
        "loops": files,
    }
    write_json(out_dir / "loops.json", info)
    return info


def write_longform(
    model,
    path: Path | str,
    seconds: float,
    start=None,
    progress: bool = True,
    settings: dict | None = None,
    **kwargs,
) -> dict:
    """Stream a long track to ``path`` (.wav or .flac) in bounded memory, and its
    description to ``path`` with a .json suffix; returns that description."""
    import soundfile as sf

    from melvae.audio.io import sound_format
    from melvae.progress import progress_bar

    path = Path(path)
    if path.suffix.lower() not in (".wav", ".flac"):
        raise MelvaeError(f"{path}: the track must be a .wav or .flac file")
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = model.longform_stream(seconds, start, **kwargs)
    head = next(stream)
    segments, clipped = [], 0
    bar = progress_bar(len(head.plan.positions), "longform", head.unit, progress)
    try:
        subtype = "PCM_16" if path.suffix.lower() == ".wav" else None
        with atomic_write(path) as raw:  # melvae.safeio: never a torn track under its name
            out = GuardedFile(raw)  # a failed write (a full disk) raised as itself
            fmt = sound_format(path)
            with (
                out.reraise(),
                sf.SoundFile(out, "w", model.sample_rate, 1, subtype, format=fmt) as fh,
            ):
                for item in stream:
                    if isinstance(item, dict):
                        segments.append(item)
                        bar.update(1)
                        continue
                    clipped += int((np.abs(item) > 1.0).sum())
                    fh.write(np.clip(item, -1.0, 1.0))
    finally:
        bar.close()
    info = _track_info(model, head, segments)
    info["clipped_samples"] = clipped
    info["settings"] = {"seconds": seconds, **kwargs, **(settings or {})}
    info = jsonable(info)  # paths and the like as strings
    write_json(path.with_suffix(".json"), info)  # atomic, like every other JSON we write
    return info


def collect_longform(model, seconds: float, start=None, **kwargs) -> tuple[np.ndarray, dict]:
    """A whole long track in memory: (audio (samples,), its description as track.json holds
    it); the arguments as ``model.longform_stream``."""
    blocks, segments = [], []
    stream = model.longform_stream(seconds, start, **kwargs)
    head = next(stream)
    for item in stream:
        (segments if isinstance(item, dict) else blocks).append(item)
    return np.concatenate(blocks), _track_info(model, head, segments)


def _track_info(model, head, records: list[dict]) -> dict:
    """The kind's description of the track, with its length, the kind and the mel-to-audio
    stage."""
    total, sr = head.plan.total_samples, model.sample_rate
    facts = {"seconds": total / sr, "samples": total, "sample_rate": sr, "kind": model.kind}
    return {**facts, "inverter": model.inverter.describe(), **head.describe(records, model.audio)}
