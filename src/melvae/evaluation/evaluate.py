"""``melvae evaluate``: how good a trained model is, measured offline on held-out data.

This module runs the evaluation and assembles its result; each section is computed in its
own module (every metric is defined in :mod:`melvae.evaluation.metrics`,
:mod:`melvae.evaluation.descriptors` or
:mod:`melvae.evaluation.rhythm`):

* ``reconstruction`` and ``latent`` (:mod:`melvae.evaluation.reconstruction`): held-out segments
  through the model and its inversion, beside the *phase-only* baseline (the true mel
  through the same inversion: the floor the inversion alone sets); KL per dimension, active
  units and the kNN label accuracy of latent means.
* ``generation`` (:mod:`melvae.evaluation.generation`): Frechet and kernel distances between the
  audio embeddings of held-out segments and of as many generated clips, against the floor
  between two halves of the real set; diversity; nearest-neighbour distance to the training
  set (copy detection).
* ``longform`` (given a track, here): seam score at the joins listed in the track's
  ``.json``, tempo stability, pulse clarity and timbre jumps.

The held-out segments are the run's own validation split: ``config.json`` in the run folder
holds the split's fraction and seed, and :func:`melvae.data.dataset.track_split` cuts the same
tracks out again. The model is used through :class:`melvae.api.Melvae` alone. Inference
only: nothing here imports the training code or Lightning.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from melvae.audio.io import load_audio
from melvae.config import (
    EVAL_MAX_SEGMENTS,
    EVAL_SPLIT,
    EVAL_SPLITS,
    AudioConfig,
    assert_same_audio,
    bar_bpm,
    jsonable,
)
from melvae.data.dataset import MelDataset, split_for_run
from melvae.errors import MelvaeError
from melvae.evaluation.descriptors import audio_embedding
from melvae.evaluation.generation import (
    generate_mels_at_tempos,
    generate_mels_like,
    generation_section,
    neighbours_section,
)
from melvae.evaluation.reconstruction import (
    invert,
    latent_section,
    original_audio,
    reconstruct,
    reconstruction_section,
)
from melvae.evaluation.rhythm import (
    beat_locked_pulse,
    pulse_clarity,
    regular_marks,
    seam_score,
    tempo_held,
    tempo_stability,
    timbre_jump_ratio,
    windowed_tempo_bpm,
)
from melvae.layout import read_run_config, same_path

SPLITS = EVAL_SPLITS
MAX_SEGMENTS = EVAL_MAX_SEGMENTS  # held-out segments evaluated by default (a seeded subsample)
MAX_TRAIN_REFERENCE = 1024  # training segments searched for nearest neighbours
BATCH = 16  # segments per model / inversion batch


# A clocked prior's clips are also drawn with the clock: one per held-out segment with a tempo,
# at that tempo (the beat grid and its repeat, as `generate --bpm` makes them), and judged the
# same way against those segments (the beat-driven part of the real set). The keys are the
# generation section's own with this prefix.
CLOCKED = "clocked_"


def _clocked(model, data, chosen, labels, real_emb, seed, cfg, rng) -> dict[str, Any]:
    prior = model.prior
    clocked = prior is not None and prior.has_clock and model.info.get("prior_clock_share")
    if not clocked or data.bpm is None:
        return {}
    tempos = np.asarray(data.bpm, dtype=np.float64)[chosen]
    keep = np.flatnonzero(np.isfinite(tempos))
    if len(keep) < 4:
        return {}
    mels = generate_mels_at_tempos(model, [labels[i] for i in keep], tempos[keep], seed)
    emb = audio_embedding(invert(model, mels, seed, BATCH), cfg)
    section = generation_section(real_emb[keep], emb, rng)
    wanted = ("frechet_ratio", "diversity_ratio", "frechet_half", "frechet_floor")
    out = {CLOCKED + k: section[k] for k in wanted if k in section}
    out[CLOCKED + "clips"] = len(keep)
    return out


def evaluate(
    run_dir: Path | str,
    data_dir: Path | str | None = None,
    split: str = EVAL_SPLIT,
    n_generate: int | None = None,
    longform: Path | str | None = None,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
    audio_dir: Path | str | None = None,
    max_segments: int = MAX_SEGMENTS,
    model=None,
) -> dict[str, Any]:
    """Evaluate the model in ``run_dir`` on the ``split`` ("val": the run's held-out tracks,
    "train" or "all") of the dataset ``data_dir`` (default: the one it was trained on).

    n_generate: generated clips (default: as many as real segments are evaluated).
    longform: a long track (.wav/.flac) made by ``melvae longform``, its ``.json`` beside it.
    seed: the seed of every draw (subsample, generation, phase), so the same call gives the
        same numbers.
    audio_dir: the audio folder the dataset was made from (default: the one preprocess
        recorded, if it still exists); found, SC / LSD are measured
        against the original audio's STFT magnitude, else against the magnitude implied by the
        true mel (mel power through the filterbank's pseudo-inverse) and the phase-only SC is
        then the inversion's phase error alone.
    max_segments: at most this many segments (a seeded subsample) are evaluated.
    model: the run's model as loaded (:func:`melvae.load`, e.g. with another mel-to-audio
        stage or its options); default: loaded from ``run_dir`` on ``device``.

    Returns a JSON-ready dict of sections (flat dicts of numbers, plus a few strings and the
    KL list): settings, reconstruction, latent, generation and, given a track, longform.
    """
    import melvae

    if split not in SPLITS:
        raise MelvaeError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if max_segments < 2:
        raise MelvaeError("max_segments must be >= 2")
    if n_generate is not None and n_generate < 2:
        raise MelvaeError("n_generate must be >= 2")
    if audio_dir is not None and not Path(audio_dir).is_dir():
        raise MelvaeError(f"no such audio folder: {audio_dir}")
    if longform is not None:  # fail now, not after minutes of inversions
        _longform_meta(Path(longform))
    t0 = time.perf_counter()
    run_config = read_run_config(run_dir)
    if data_dir is None:
        data_dir = run_config.get("data_dir")
        if not data_dir:
            raise MelvaeError(f"{run_dir}: name the dataset (its config.json records none)")
    model = melvae.load(run_dir, device=device) if model is None else model
    if model.needs_prior and model.prior is None:  # fail now, not after the inversions
        raise MelvaeError(
            f"{run_dir}: this {model.kind} model's checkpoint holds no prior to generate with "
            "(training stopped before it was trained): resume the run to train it"
        )
    cfg = model.audio
    data = MelDataset(data_dir)
    assert_same_audio(cfg, data.audio, f"dataset {data_dir}")
    train_idx, val_idx = split_for_run(data.segments, run_config)
    chosen = {"val": val_idx, "train": train_idx, "all": sorted(train_idx + val_idx)}[split]
    if len(chosen) < 2:
        raise MelvaeError(
            f"the {split} split of {data_dir} holds {len(chosen)} segment(s): need two or more"
            + (" (this run kept no validation tracks: try split='all')" if split == "val" else "")
        )
    rng = np.random.default_rng(seed)
    if len(chosen) > max_segments:
        chosen = sorted(rng.choice(chosen, max_segments, replace=False).tolist())

    steps = ["reconstruct", "invert", "latent", "generate", "embed", "neighbours"]
    steps += ["longform"] if longform is not None else []
    from melvae.progress import progress_bar

    bar = progress_bar(len(steps), "evaluate", "step", progress)

    def step(name: str) -> None:
        bar.set_postfix_str(name)

    try:
        step("reconstruct")
        mels = torch.from_numpy(np.stack([np.asarray(data.mels[i], np.float32) for i in chosen]))
        labels = [data.segments[i].label for i in chosen]
        tracks = [data.segments[i].source for i in chosen]
        recon, mu, logvar = reconstruct(model, mels, labels)
        bar.update()

        step("invert")
        original = None
        if audio_dir is None:
            audio_dir = data.audio_dir  # recorded by preprocess, where it still exists
        if audio_dir is not None:
            original = original_audio(data, chosen, Path(audio_dir), cfg, BATCH)
        section_rec, real_audio = reconstruction_section(model, mels, recon, original, seed, BATCH)
        bar.update()

        step("latent")
        section_lat = latent_section(model, mu, logvar, labels, tracks)
        bar.update()

        step("generate")
        n_gen = len(chosen) if n_generate is None else int(n_generate)
        gen_mels = generate_mels_like(model, n_gen, labels, seed)
        gen_audio = invert(model, gen_mels, seed, BATCH)
        bar.update()

        step("embed")
        real_emb, gen_emb = audio_embedding(real_audio, cfg), audio_embedding(gen_audio, cfg)
        section_gen = generation_section(real_emb, gen_emb, rng)
        section_gen.update(_clocked(model, data, chosen, labels, real_emb, seed, cfg, rng))
        bar.update()

        step("neighbours")
        section_gen.update(
            neighbours_section(
                data, train_idx, mels, tracks, gen_mels, cfg, rng, MAX_TRAIN_REFERENCE
            )
        )
        bar.update()

        section_long = None
        if longform is not None:
            step("longform")
            section_long = _longform(Path(longform), cfg)
            bar.update()
    finally:
        bar.close()

    result: dict[str, Any] = {}
    result["settings"] = {
        "run_dir": str(run_dir),
        "data_dir": str(data_dir),
        "same_dataset_as_training": same_path(data_dir, run_config.get("data_dir")),
        "split": split,
        "segments": len(chosen),
        "tracks": len(set(tracks)),
        "generated": n_gen,
        "inverter": model.inverter.summary(),
        "seed": seed,
        "elapsed_seconds": round(time.perf_counter() - t0, 2),
    }
    result["reconstruction"] = section_rec
    result["latent"] = section_lat
    result["generation"] = section_gen
    if section_long is not None:
        result["longform"] = section_long
    return jsonable(result)  # numpy scalars as Python numbers; nan stays nan


# -- the long track ----------------------------------------------------------------------------


def _longform_meta(track: Path) -> dict[str, Any]:
    """The track's description (``track.json`` beside ``track.wav``), written by longform."""
    if not track.is_file():
        raise MelvaeError(f"no such track: {track}")
    meta_path = track.with_suffix(".json")
    if not meta_path.is_file():
        raise MelvaeError(f"{track}: no {meta_path.name} beside it (melvae longform writes one)")
    meta = json.loads(meta_path.read_text())
    # "joins": [] is valid: a model that makes one continuous sequence has none.
    if not isinstance(meta, dict) or not isinstance(meta.get("joins"), list):
        raise MelvaeError(f"{meta_path} has no joins list: is it a melvae longform description?")
    return meta


def _tempo_lock(audio: np.ndarray, cfg: AudioConfig, meta: dict) -> dict[str, Any]:
    """For a track that held a tempo (a clocked prior's, or bar-aligned joins): the share of
    20 s windows whose strongest periodicity is that beat (or its half or double) within 3%,
    and how strongly the onsets lock to its grid (:mod:`melvae.evaluation.rhythm`)."""
    tempo = meta.get("tempo") or {}
    bpm = tempo.get("bpm") if isinstance(tempo.get("bpm"), (int, float)) else None
    if bpm is None and meta.get("bar_seconds"):
        bpm = bar_bpm(float(meta["bar_seconds"]))
    if bpm is None:
        why = "a tempo schedule" if isinstance(tempo.get("bpm"), list) else "no tempo held"
        return {"tempo_held_skipped": why}
    return {
        "held_bpm": float(bpm),
        "tempo_held": tempo_held(audio, cfg, float(bpm)),
        "beat_locked_pulse": beat_locked_pulse(audio, cfg, float(bpm)),
    }


def _longform(track: Path, cfg: AudioConfig) -> dict[str, Any]:
    """Seam score at the joins of the track's .json (skipped when it lists none), windowed
    tempo (8 s windows every 4 s, shrunk to half the track for short ones), pulse clarity,
    and the timbre jump ratio at the joins, or every 10 s for a track without joins."""
    meta = _longform_meta(track)
    audio = load_audio(track, cfg.sample_rate)
    seconds = len(audio) / cfg.sample_rate
    joins = [float(s) for s in meta["joins"]]
    section: dict[str, Any] = {
        "track_seconds": round(seconds, 3),
        "joins": len(joins),
    }
    if not joins:
        section["seam_score_skipped"] = "the track lists no joins"
    else:
        try:
            section["seam_score"] = seam_score(audio, cfg, joins)
        except ValueError as exc:
            section["seam_score_skipped"] = str(exc)
    window = min(8.0, seconds / 2)
    section["tempo_window_seconds"] = round(window, 3)
    tempi = windowed_tempo_bpm(audio, cfg, window, window / 2)
    tempi = tempi[np.isfinite(tempi)]
    if tempi.size:
        section["tempo_bpm"] = float(np.median(tempi))
    try:
        section["tempo_stability_bpm"] = tempo_stability(audio, cfg, window, window / 2)
    except ValueError as exc:
        section["tempo_stability_skipped"] = str(exc)
    if meta.get("bar_seconds") and tempi.size:
        section["target_bpm"] = bar_bpm(float(meta["bar_seconds"]))
        section["tempo_error_bpm"] = abs(section["tempo_bpm"] - section["target_bpm"])
    section.update(_tempo_lock(audio, cfg, meta))
    clarity = pulse_clarity(audio, cfg)
    if np.isfinite(clarity):
        section["pulse_clarity"] = clarity
    else:
        section["pulse_clarity_skipped"] = "the track is shorter than two 1 s beat periods"
    marks = joins if joins else regular_marks(seconds, every=10.0)
    section["timbre_marks"] = "joins" if joins else "every 10 s"
    try:
        jump = timbre_jump_ratio(audio, cfg, marks)
    except ValueError as exc:
        section["timbre_jump_ratio_skipped"] = str(exc)
    else:
        if np.isfinite(jump):
            section["timbre_jump_ratio"] = jump
        else:
            section["timbre_jump_ratio_skipped"] = "the track's timbre never changes"
    return section
