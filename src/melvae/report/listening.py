"""What the report plays: reconstructions to compare fairly, clips from the prior, an
interpolation, each written into the report folder with the picture of its mel.

Fair listening (:func:`reconstructions`): the real recording of a held-out segment, its
true mel through the inversion alone, and the model's reconstruction, side by side and
loudness-matched, because the louder of two clips tends to win an A/B. The match is by RMS
over the whole clip (:func:`match_loudness`): each clip is scaled to the recording's RMS,
all three a little lower where that would push one past full scale; the gains are kept and
shown. Every clip is made through the model interface (:class:`melvae.api.Melvae`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from melvae.api import Melvae
from melvae.audio.io import write_audio
from melvae.config import INTERPOLATION_FADE_SECONDS
from melvae.data.dataset import MelDataset
from melvae.errors import MelvaeError
from melvae.evaluation.analysis import reconstruct
from melvae.evaluation.reconstruction import original_audio
from melvae.evaluation.rhythm import loop_wrap_jump
from melvae.generation.latents import crossfade_concat
from melvae.generation.outputs import loop_audio
from melvae.plots import save_mel_thumb_png

PEAK = 0.97  # loudness matching never pushes a clip's peak past this (full scale is 1)


def rms_dbfs(wave: np.ndarray) -> float:
    """RMS level of mono audio in dB relative to full scale (a full-scale sine: -3 dBFS)."""
    rms = float(np.sqrt(np.mean(np.square(np.asarray(wave, dtype=np.float64)))))
    return 20 * np.log10(max(rms, 1e-10))


def match_loudness(waves: list[np.ndarray]) -> tuple[list[np.ndarray], list[float], float]:
    """Scale each clip to the RMS of the first; where that would lift a peak past PEAK,
    the common level is lowered for all. Returns (the scaled clips, each gain in dB, the
    common level in dBFS). A silent clip is left as it is (gain 0 dB)."""
    levels = [rms_dbfs(w) for w in waves]
    target = levels[0]
    for w, level in zip(waves, levels):
        peak = float(np.max(np.abs(w))) if len(w) else 0.0
        if peak > 0 and level > -100:
            target = min(target, level + 20 * np.log10(PEAK / peak))  # this clip's ceiling
    gains = [0.0 if level <= -100 else target - level for level in levels]
    scaled = [np.asarray(w, np.float32) * np.float32(10 ** (g / 20)) for w, g in zip(waves, gains)]
    return scaled, gains, target


# -- reconstructions ----------------------------------------------------------------------------
def reconstructions(
    model: Melvae,
    data: Path,
    out: Path,
    n: int,
    pick: str | list[int],
    seed: int,
) -> tuple[list[dict[str, Any]], bool]:
    """n reconstructions of dataset segments into out/reconstructions: the records of
    :func:`melvae.evaluation.analysis.reconstruct` with paths relative to ``out``, a
    ``recording`` (the segment's own audio, where the dataset's audio folder is still there)
    and ``gains_db`` / ``level_dbfs`` of the loudness match; and whether recordings were
    found."""
    folder = out / "reconstructions"
    records = reconstruct(model, data, folder, n, seed=seed, pick=pick)
    dataset = MelDataset(data)
    recordings = None
    if dataset.audio_dir is not None:
        try:
            recordings = original_audio(
                dataset, [r["segment"] for r in records], dataset.audio_dir, model.audio, 16
            )
        except (MelvaeError, OSError, RuntimeError):
            recordings = None  # moved or changed since preprocessing: compare the two others
    sr = model.sample_rate
    for k, r in enumerate(records):
        paths = [Path(r["original"]), Path(r["reconstruction"])]
        waves = [sf.read(p, dtype="float32")[0] for p in paths]
        if recordings is not None:
            waves.insert(0, recordings[k])
            paths.insert(0, folder / f"{k:02d}_recording.wav")
        scaled, gains, level = match_loudness(waves)
        for path, wave in zip(paths, scaled):
            write_audio(path, wave, sr)
        rel = [p.relative_to(out).as_posix() for p in paths]
        r["recording"] = rel[0] if recordings is not None else None
        r["original"], r["reconstruction"] = rel[-2], rel[-1]
        r["png"] = Path(r["png"]).relative_to(out).as_posix()
        r["gains_db"], r["level_dbfs"] = gains, level
    return records, recordings is not None


# -- generated clips ----------------------------------------------------------------------------
def generated(
    model: Melvae, out: Path, n: int, temperature: float, seed: int
) -> list[dict[str, Any]]:
    """n clips from the prior into out/generated: a label-conditioned model's labels in
    turn, clip k drawn with seed ``seed + k`` (so ``melvae generate RUN -n 1 --seed S
    --label L --temperature T`` draws the same mel), all inverted in one batch. One record
    each: label (None without), seed, temperature, wav and png relative to ``out``."""
    folder = out / "generated"
    folder.mkdir(parents=True, exist_ok=True)
    labels = list(model.labels) if model.label_conditioned else [None]
    draws = [(labels[k % len(labels)], seed + k) for k in range(n)]
    mels = np.concatenate(
        [model.generate_mels(1, label=lab, temperature=temperature, seed=s) for lab, s in draws]
    )
    waves = model.mel_to_audio(mels, seed=seed)
    clips = []
    for k, ((label, clip_seed), mel, wave) in enumerate(zip(draws, mels, waves)):
        stem = f"{k:02d}_{label}" if label else f"{k:02d}"
        wav = write_audio(folder / f"{stem}.wav", wave, model.sample_rate)
        png = save_mel_thumb_png(mel, model.audio, folder / f"{stem}.png")
        clips.append(
            {
                "label": label,
                "seed": clip_seed,
                "temperature": temperature,
                "wav": wav.relative_to(out).as_posix(),
                "png": png.relative_to(out).as_posix(),
                "level_dbfs": rms_dbfs(wave),
            }
        )
    return clips


# -- the interpolation --------------------------------------------------------------------------
def interpolation(
    model: Melvae,
    out: Path,
    a: Any,
    b: Any,
    names: tuple[str, str],
    steps: int,
    seed: int,
) -> dict[str, Any]:
    """``steps`` points from a to b (labels, or normalized mels (n_mels, frames)) through the
    latent space, each inverted into out/interpolation/step_NN.wav with its picture, and all
    of them joined with crossfades as in ``melvae interpolate``. ``names``: a and b in words."""
    folder = out / "interpolation"
    folder.mkdir(parents=True, exist_ok=True)
    mels = model.interpolate_mels(a, b, steps, seed=seed)
    waves = model.mel_to_audio(mels, seed=seed)
    items = []
    for k, (mel, wave) in enumerate(zip(mels, waves)):
        wav = write_audio(folder / f"step_{k:02d}.wav", wave, model.sample_rate)
        png = save_mel_thumb_png(mel, model.audio, folder / f"step_{k:02d}.png")
        items.append(
            {
                "step": k,
                "position": k / (steps - 1),
                "wav": wav.relative_to(out).as_posix(),
                "png": png.relative_to(out).as_posix(),
            }
        )
    fade = int(INTERPOLATION_FADE_SECONDS * model.sample_rate)
    joined = write_audio(
        folder / "interpolation.wav", crossfade_concat(list(waves), fade), model.sample_rate
    )
    return {
        "from": names[0],
        "to": names[1],
        "steps": items,
        "joined": joined.relative_to(out).as_posix(),
        "fade_seconds": INTERPOLATION_FADE_SECONDS,
    }


# -- loops ----------------------------------------------------------------------------------------
def loops(
    model: Melvae, out: Path, n: int, bpm: float, bars: int, temperature: float, seed: int
) -> dict[str, Any]:
    """n seamless loops of ``bars`` bars at ``bpm`` into out/loops, as ``melvae loops``
    makes them (:mod:`melvae.generation.loops`): a label-conditioned model's labels in turn,
    loop k drawn with seed ``seed + k``; each with its picture and how much its wrap stands
    out (:func:`melvae.evaluation.rhythm.loop_wrap_jump`: 1 is seamless). Needs a clocked
    prior."""
    folder = out / "loops"
    folder.mkdir(parents=True, exist_ok=True)
    sr = model.sample_rate
    labels = list(model.labels) if model.label_conditioned else [None]
    draws = [(labels[k % len(labels)], seed + k) for k in range(n)]
    mels = [model.loop_mels(1, bpm, bars, lab, temperature, s)[0][0] for lab, s in draws]
    waves, _, frames = loop_audio(model, np.stack(mels), bpm, bars, seed)
    length = waves.shape[-1]
    items = []
    for k, ((label, loop_seed), mel, wave) in enumerate(zip(draws, mels, waves)):
        stem = f"{k:02d}_{label}" if label else f"{k:02d}"
        wav = write_audio(folder / f"{stem}.wav", wave, sr)
        png = save_mel_thumb_png(mel[:, :frames], model.audio, folder / f"{stem}.png")
        try:
            wrap = float(loop_wrap_jump(wave, model.audio))
        except ValueError:  # too short to hold the context around its wrap
            wrap = None
        items.append(
            {
                "label": label,
                "seed": loop_seed,
                "temperature": temperature,
                "wav": wav.relative_to(out).as_posix(),
                "png": png.relative_to(out).as_posix(),
                "wrap_jump": wrap if wrap is None or np.isfinite(wrap) else None,
            }
        )
    return {"bpm": bpm, "bars": bars, "seconds": length / sr, "loops": items}
