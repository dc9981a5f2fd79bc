"""``melvae evaluate``: how good a trained model is, measured offline on held-out data.

Three sections, and a fourth for a long track (every metric is defined in
:mod:`melvae.metrics`, :mod:`melvae.descriptors` or :mod:`melvae.rhythm`):

* ``reconstruction``: held-out segments through the model (encoder mean -> decoder) and
  through the inversion. Mel L1 / RMSE in dB, then spectral convergence (SC) and log-spectral
  distance (LSD) of the resynthesized audio. Beside each sits the *phase-only* baseline: the
  TRUE mel through the same inversion (same iterations, same seed). The baseline is the floor
  the inversion alone sets; what the model adds above it is the model's error.
* ``latent``: KL per dimension, active units (Burda et al. 2016) and, for labelled data, the
  leave-one-out kNN label accuracy of the latent means beside its chance level.
* ``generation``: Frechet and kernel distances between the audio embeddings
  (:func:`melvae.descriptors.audio_embedding`) of held-out segments and of as many generated clips,
  with the same distances between two random halves of the real set as the floor; diversity;
  nearest-neighbour distance to the training set (copy detection).
* ``longform`` (given a track): seam score at the joins listed in the track's ``.json`` and
  tempo stability.

The held-out segments are the run's own validation split: ``config.json`` in the run folder
holds the split's fraction and seed, and :func:`melvae.dataset.track_split` cuts the same
tracks out again. Inference only: nothing here imports the training code or Lightning.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from melvae.audio import load_audio
from melvae.config import (
    DEFAULT_ITERATIONS,
    AudioConfig,
    assert_same_audio,
    bar_bpm,
    jsonable,
    write_json,
)
from melvae.dataset import MelDataset, split_for_run
from melvae.descriptors import audio_embedding
from melvae.errors import MelvaeError
from melvae.features import log_mel, stft
from melvae.inversion import griffin_lim, mel_to_magnitude
from melvae.layout import AUDIO_CONFIG, read_run_config, same_path
from melvae.metrics import (
    diversity,
    frechet_distance,
    kernel_distance,
    knn_label_accuracy,
    log_spectral_distance_db,
    nearest_neighbour_distance,
    spectral_convergence_db,
    standardize,
    temporal_detail,
)
from melvae.model import active_units, kl_divergence
from melvae.rhythm import (
    pulse_clarity,
    regular_marks,
    seam_score,
    tempo_stability,
    timbre_jump_ratio,
    windowed_tempo_bpm,
)

SPLITS = ("val", "train", "all")
MAX_SEGMENTS = 64  # held-out segments evaluated by default (a seeded subsample)
MAX_TRAIN_REFERENCE = 1024  # training segments searched for nearest neighbours
BATCH = 16  # segments per model / inversion batch

# One line per figure, shown beside it by format_table.
DESCRIPTIONS = {
    "elapsed_seconds": "wall time of the evaluation",
    "mel_l1_db": "mean |mel - reconstruction|, dB (lower is better)",
    "mel_rmse_db": "RMS mel error, dB (lower is better)",
    "temporal_detail": "1 - SSE / SSE of a time-smeared mel, mean (1 exact, 0 a smear)",
    "temporal_detail_median": "the same, median over segments",
    "temporal_detail_audio": "the same on the log-mel of the model's resynthesized audio",
    "phase_only_temporal_detail_audio": "the same for the true mel through the inversion",
    "sc_db": "spectral convergence of the model's audio (lower is better)",
    "phase_only_sc_db": "the same for the true mel through the inversion (floor)",
    "magnitude_sc_db": "SC of the model's magnitude before phase retrieval",
    "lsd_db": "log-spectral distance of the model's audio (lower is better)",
    "phase_only_lsd_db": "the same for the true mel through the inversion (floor)",
    "kl_total": "KL summed over dimensions, nats per segment",
    "kl_per_dim": "KL per latent dimension, nats",
    "active_units": "dimensions with Var(mu) > 0.01",
    "latent_dim": "latent dimensions",
    "knn_accuracy": "leave-one-out 5-NN label accuracy of latent means",
    "knn_accuracy_other_tracks": "the same, neighbours from other tracks only",
    "knn_chance": "majority label's share (chance level)",
    "frechet": "Frechet distance, real vs generated embeddings",
    "frechet_half": "the same at the floor's set sizes (compare with the floor)",
    "frechet_floor": "Frechet distance between two halves of the real set",
    "frechet_ratio": "frechet_half / frechet_floor (about 1: as close as real to real)",
    "kernel": "kernel distance (KID), real vs generated",
    "kernel_floor": "KID between two halves of the real set",
    "diversity_generated": "mean pairwise embedding distance, generated",
    "diversity_real": "mean pairwise embedding distance, real",
    "diversity_ratio": "diversity_generated / diversity_real (below 1: less varied)",
    "nn_train_generated_db": "median RMS mel distance, generated -> nearest training segment",
    "nn_train_real_db": "the same for held-out real segments (other tracks)",
    "nn_train_generated_min_db": "closest generated clip to any training segment",
    "nn_train_real_min_db": "closest held-out real segment to any training segment",
    "copy_fraction": "share of generated clips nearer than any real held-out one",
    "track_seconds": "length of the long track",
    "joins": "joins listed in the track's .json",
    "seam_score": "flux at joins / flux elsewhere (about 1: seamless)",
    "tempo_window_seconds": "window of each tempo estimate (every half window)",
    "tempo_bpm": "median windowed tempo",
    "tempo_stability_bpm": "std of windowed tempo (lower: steadier beat)",
    "target_bpm": "the tempo the track was made at",
    "tempo_error_bpm": "|median tempo - target|",
    "pulse_clarity": "onset autocorrelation peak at 0.3-1 s lags (1 clear beat, 0 none)",
    "timbre_jump_ratio": "MFCC change across marks / typical change (about 1: no jump)",
}


def evaluate(
    run_dir: Path | str,
    data_dir: Path | str | None = None,
    split: str = "val",
    n_generate: int | None = None,
    longform: Path | str | None = None,
    n_iter: int = DEFAULT_ITERATIONS,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
    audio_dir: Path | str | None = None,
    max_segments: int = MAX_SEGMENTS,
) -> dict[str, Any]:
    """Evaluate the model in ``run_dir`` on the ``split`` ("val": the run's held-out tracks,
    "train" or "all") of the dataset ``data_dir`` (default: the one it was trained on).

    n_generate: generated clips (default: as many as real segments are evaluated).
    longform: a long track (.wav/.flac) made by ``melvae longform``, its ``.json`` beside it.
    n_iter, seed: fast Griffin-Lim iterations and the seed of every draw (subsample,
        generation, phase), so the same call gives the same numbers.
    audio_dir: the audio folder the dataset was made from (default: the one preprocess
        recorded, if it still exists); found, SC / LSD are measured
        against the original audio's STFT magnitude, else against the magnitude implied by the
        true mel (mel power through the filterbank's pseudo-inverse) and the phase-only SC is
        then the inversion's phase error alone.
    max_segments: at most this many segments (a seeded subsample) are evaluated.

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
    model = melvae.load(run_dir, device=device)
    if model.kind == "sequence" and model.prior is None:  # fail now, not after the inversions
        raise MelvaeError(
            f"{run_dir}: this sequence model's checkpoint holds no prior to generate with "
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
        recon, mu, logvar = _reconstruct(model, mels, labels)
        bar.update()

        step("invert")
        original = None
        if audio_dir is None:
            audio_dir = data.audio_dir  # recorded by preprocess, where it still exists
        if audio_dir is not None:
            original = _original_audio(data, chosen, Path(audio_dir), cfg)
        section_rec, real_audio = _reconstruction(
            mels, recon, original, cfg, n_iter, seed, model.device
        )
        bar.update()

        step("latent")
        section_lat = _latent(mu, logvar, labels, tracks)
        bar.update()

        step("generate")
        n_gen = len(chosen) if n_generate is None else int(n_generate)
        gen_mels = _generate(model, n_gen, labels, seed)
        gen_audio = _invert(gen_mels, cfg, n_iter, seed, model.device)
        bar.update()

        step("embed")
        real_emb, gen_emb = audio_embedding(real_audio, cfg), audio_embedding(gen_audio, cfg)
        section_gen = _generation(real_emb, gen_emb, rng)
        bar.update()

        step("neighbours")
        section_gen.update(_neighbours(data, train_idx, mels, tracks, gen_mels, cfg, rng))
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
        "n_iter": n_iter,
        "seed": seed,
        "elapsed_seconds": round(time.perf_counter() - t0, 2),
    }
    result["reconstruction"] = section_rec
    result["latent"] = section_lat
    result["generation"] = section_gen
    if section_long is not None:
        result["longform"] = section_long
    return jsonable(result)  # numpy scalars as Python numbers; nan stays nan


# -- inputs ------------------------------------------------------------------------------------


def _original_audio(
    data: MelDataset, chosen: list[int], audio_dir: Path, cfg: AudioConfig
) -> np.ndarray:
    """The chosen segments' original audio (n, segment_samples), checked against the stored
    mels (a different audio folder is refused, not silently measured)."""
    meta = json.loads((data.data_dir / AUDIO_CONFIG).read_text())
    hop_samples = int(round(meta.get("hop_seconds", 0) * cfg.sample_rate))
    cache: dict[str, np.ndarray] = {}
    waves = []
    for i in chosen:
        seg = data.segments[i]
        if seg.source not in cache:
            cache.clear()  # segments come sorted by track: keep one file in memory
            cache[seg.source] = load_audio(audio_dir / seg.source, cfg.sample_rate)
        wave = cache[seg.source]
        start = seg.start_sample
        if start < 0:  # a dataset from before start_sample was recorded: snap to the hop grid
            start = int(round(seg.start_seconds * cfg.sample_rate / hop_samples)) * hop_samples
        piece = wave[start : start + cfg.segment_samples]
        if len(piece) < cfg.segment_samples:
            raise MelvaeError(f"{audio_dir / seg.source} is shorter than the dataset says")
        waves.append(piece)
    audio = np.stack(waves)
    with torch.no_grad():
        for i in range(0, len(chosen), BATCH):
            mel = log_mel(torch.from_numpy(audio[i : i + BATCH]), cfg).numpy()
            stored = np.stack([np.asarray(data.mels[k], np.float32) for k in chosen[i : i + BATCH]])
            err = float(np.abs(mel - stored).mean())
            if err > 0.01:  # float16 storage alone gives ~1e-4
                raise MelvaeError(
                    f"{audio_dir} does not hold the audio {data.data_dir} was made from "
                    f"(mean mel difference {err:.3f})"
                )
    return audio


# -- sections ----------------------------------------------------------------------------------


def _label_ids(model, labels: list[str]) -> torch.Tensor | None:
    if not model.model.cfg.conditional:
        return None
    return torch.tensor([model.label_index(lab) for lab in labels], device=model.device)


def _reconstruct(model, mels: torch.Tensor, labels: list[str]):
    """Encoder means -> decoder: (reconstructions, mu, logvar), on the CPU."""
    ids = _label_ids(model, labels)
    recon, mus, logvars = [], [], []
    with torch.no_grad():
        for i in range(0, len(mels), BATCH):
            x = mels[i : i + BATCH].to(model.device)
            lab = ids[i : i + BATCH] if ids is not None else None
            mu, logvar = model.model.encode(x, lab)
            recon.append(model.model.decode(mu, lab).cpu())
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
    return torch.cat(recon), torch.cat(mus), torch.cat(logvars)


def _invert(mels: torch.Tensor, cfg: AudioConfig, n_iter: int, seed: int, device) -> np.ndarray:
    """Normalized mels (n, n_mels, frames) -> audio (n, samples), fast Griffin-Lim in batches,
    one generator for the whole set (same mels and seed, same audio)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for i in range(0, len(mels), BATCH):
            mag = mel_to_magnitude(mels[i : i + BATCH].to(device), cfg)
            out.append(griffin_lim(mag, cfg, n_iter=n_iter, generator=gen).cpu())
    return torch.cat(out).numpy()


def _reconstruction(mels, recon, original, cfg, n_iter, seed, device):
    """The reconstruction section, and the phase-only audio of the true mels (reused as the
    real set of the generation metrics: real and generated then pass the same inversion).

    original: the segments' original audio (n, samples), or None to measure against the
    magnitude implied by the true mel. Batched, so memory stays at BATCH spectrograms."""
    diff = (recon - mels) * cfg.top_db  # dB on the clipped [-top_db, 0] scale
    detail = temporal_detail(recon, mels)  # per segment; NaN for a constant one
    detail = detail[np.isfinite(detail)]
    section: dict[str, Any] = {
        "reference": "original audio"
        if original is not None
        else "magnitude of the true mel (filterbank pseudo-inverse)",
        "mel_l1_db": float(diff.abs().mean()),
        "mel_rmse_db": float(diff.square().mean().sqrt()),
        "temporal_detail": float(detail.mean()) if detail.size else float("nan"),
        "temporal_detail_median": float(np.median(detail)) if detail.size else float("nan"),
    }
    # One generator each, seeded alike: model and baseline start from the same random phase.
    gen_model = torch.Generator().manual_seed(seed)
    gen_true = torch.Generator().manual_seed(seed)
    scores: dict[str, list[float]] = {
        k: []
        for k in ("sc_db", "phase_only_sc_db", "magnitude_sc_db", "lsd_db", "phase_only_lsd_db")
    }
    # Temporal detail of the resynthesized audio's log-mel against the true mel, per segment.
    details: dict[str, list[float]] = {
        "temporal_detail_audio": [],
        "phase_only_temporal_detail_audio": [],
    }
    true_audio = []
    with torch.no_grad():
        for i in range(0, len(mels), BATCH):
            true_mag = mel_to_magnitude(mels[i : i + BATCH].to(device), cfg)
            model_mag = mel_to_magnitude(recon[i : i + BATCH].to(device), cfg)
            if original is None:
                ref = true_mag
            else:
                ref = stft(torch.from_numpy(original[i : i + BATCH]).to(device), cfg).abs()
            model_wave = griffin_lim(model_mag, cfg, n_iter=n_iter, generator=gen_model)
            true_wave = griffin_lim(true_mag, cfg, n_iter=n_iter, generator=gen_true)
            model_spec, true_spec = stft(model_wave, cfg).abs(), stft(true_wave, cfg).abs()
            true_audio.append(true_wave.cpu())
            target = mels[i : i + BATCH]  # the log-mels are cropped to its frames
            details["temporal_detail_audio"].extend(
                temporal_detail(log_mel(model_wave, cfg), target)
            )
            details["phase_only_temporal_detail_audio"].extend(
                temporal_detail(log_mel(true_wave, cfg), target)
            )
            for j in range(len(ref)):
                r = ref[j].cpu().numpy()
                scores["sc_db"].append(spectral_convergence_db(r, model_spec[j]))
                scores["phase_only_sc_db"].append(spectral_convergence_db(r, true_spec[j]))
                scores["magnitude_sc_db"].append(spectral_convergence_db(r, model_mag[j]))
                scores["lsd_db"].append(log_spectral_distance_db(r, model_spec[j]))
                scores["phase_only_lsd_db"].append(log_spectral_distance_db(r, true_spec[j]))
    section.update({k: _mean(v) for k, v in scores.items()})
    for key, values in details.items():
        arr = np.asarray(values, dtype=np.float64)
        arr = arr[np.isfinite(arr)]
        section[key] = float(arr.mean()) if arr.size else float("nan")
    return section, torch.cat(true_audio).numpy()


def _mean(values) -> float:
    """Mean of per-segment dB values (finite ones: an exact match gives -inf SC)."""
    arr = np.array(list(values), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("-inf")


def _latent(mu, logvar, labels: list[str], tracks: list[str]) -> dict[str, Any]:
    """mu, logvar: (n, latent_dim), or (n, channels, frames) for a sequence model, whose KL is
    reported per channel (summed over a segment's frames), whose active units count channels
    over every frame, and whose kNN uses time-pooled means."""
    kl = kl_divergence(mu, logvar).mean(0)
    kl_dim = kl.sum(-1) if mu.dim() == 3 else kl
    positions = mu.transpose(1, 2).reshape(-1, mu.shape[1]) if mu.dim() == 3 else mu
    section: dict[str, Any] = {
        "latent_dim": int(mu.shape[1]),
        "active_units": active_units(positions),
        "kl_total": float(kl_dim.sum()),
        "kl_per_dim": [round(float(v), 5) for v in kl_dim],
    }
    if mu.dim() == 3:
        section["latent_frames"] = int(mu.shape[2])
        mu = mu.mean(-1)
    named = [lab for lab in labels if lab]
    if len(named) == len(labels) and len(set(labels)) >= 2:
        z = mu.numpy()
        section["knn_accuracy"] = knn_label_accuracy(z, labels, k=5)
        # Overlapping segments of one track are near each other: the across-track figure is
        # the honest one, wherever every label has two or more tracks to vote.
        tracks_per_label = {
            lab: {t for t, la in zip(tracks, labels) if la == lab} for lab in labels
        }
        if all(len(ts) >= 2 for ts in tracks_per_label.values()):
            section["knn_accuracy_other_tracks"] = knn_label_accuracy(z, labels, 5, groups=tracks)
        counts = np.unique(np.array(labels), return_counts=True)[1]
        section["knn_chance"] = float(counts.max() / counts.sum())
    return section


def _generate(model, n: int, labels: list[str], seed: int) -> torch.Tensor:
    """n mels from the prior; a conditional model (or prior) gets the real set's label
    proportions."""
    prior_labels = model.prior is not None and model.prior.cfg.n_labels > 0
    if not (model.model.cfg.conditional or prior_labels) or not all(labels):
        return torch.from_numpy(model.generate_mels(n, seed=seed))
    names, counts = np.unique(np.array(labels), return_counts=True)
    share = np.floor(counts / counts.sum() * n).astype(int)
    share[: n - share.sum()] += 1  # hand out the remainder to the first labels (alphabetical)
    parts = [
        model.generate_mels(int(k), label=str(name), seed=seed + j)
        for j, (name, k) in enumerate(zip(names, share))
        if k > 0
    ]
    return torch.from_numpy(np.concatenate(parts))


def _generation(real: np.ndarray, gen: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """Distances between real and generated embeddings, all standardized with the real set's
    statistics, and the floor: the same distance between two random halves of the real set."""
    section: dict[str, Any] = {
        "frechet": frechet_distance(real, gen, reference=real),
        "kernel": kernel_distance(real, gen, reference=real),
    }
    if len(real) >= 4:
        order = rng.permutation(len(real))
        half_a, half_b = real[order[: len(real) // 2]], real[order[len(real) // 2 :]]
        section["frechet_floor"] = frechet_distance(half_a, half_b, reference=real)
        section["kernel_floor"] = kernel_distance(half_a, half_b, reference=real)
        # FD is biased by set size: this one matches the floor's sizes.
        gen_half = gen[: len(half_b)]
        section["frechet_half"] = frechet_distance(half_a, gen_half, reference=real)
        if section["frechet_floor"] > 0.0:  # FD's bias cancels: both at the floor's sizes
            section["frechet_ratio"] = section["frechet_half"] / section["frechet_floor"]
    section["diversity_real"] = diversity(standardize(real, real))
    section["diversity_generated"] = diversity(standardize(gen, real))
    if section["diversity_real"] > 0.0:
        section["diversity_ratio"] = section["diversity_generated"] / section["diversity_real"]
    return section


def _neighbours(data, train_idx, real_mels, real_tracks, gen_mels, cfg, rng) -> dict[str, Any]:
    """Nearest training segment of each generated and each real segment, as RMS distance of
    the normalized mels in dB. The mel, not the embedding, because a copy is a copy of the
    spectrogram; real segments skip training segments of their own track."""
    if not train_idx:
        return {}
    ref_idx = np.asarray(train_idx)
    if len(ref_idx) > MAX_TRAIN_REFERENCE:
        ref_idx = np.sort(rng.choice(ref_idx, MAX_TRAIN_REFERENCE, replace=False))
    scale = cfg.top_db / math.sqrt(cfg.n_mels * cfg.segment_frames)  # L2 -> RMS dB
    real = real_mels.reshape(len(real_mels), -1).numpy()
    gen = gen_mels.reshape(len(gen_mels), -1).numpy()
    real_tracks = np.asarray(real_tracks)
    nn_real, nn_gen = np.full(len(real), np.inf), np.full(len(gen), np.inf)
    for j in range(0, len(ref_idx), 256):  # the training mels stay memory-mapped
        idx = ref_idx[j : j + 256]
        train = np.stack([np.asarray(data.mels[i], np.float32).ravel() for i in idx])
        train_tracks = np.asarray([data.segments[i].source for i in idx])
        nn_gen = np.minimum(nn_gen, nearest_neighbour_distance(gen, train))
        nn_real = np.minimum(
            nn_real, nearest_neighbour_distance(real, train, real_tracks, train_tracks)
        )
    nn_gen, nn_real = nn_gen * scale, nn_real[np.isfinite(nn_real)] * scale
    section = {
        "nn_train_generated_db": float(np.median(nn_gen)),
        "nn_train_generated_min_db": float(nn_gen.min()),
    }
    if nn_real.size:
        section["nn_train_real_db"] = float(np.median(nn_real))
        section["nn_train_real_min_db"] = float(nn_real.min())
        section["copy_fraction"] = float(np.mean(nn_gen < nn_real.min()))
    return section


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


# -- output ------------------------------------------------------------------------------------


def write_metrics(result: dict[str, Any], path: Path | str) -> Path:
    """Write the result as JSON (atomically; null where a value is not finite)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, jsonable(result, nonfinite="null"))  # strict JSON has no NaN
    return path


def format_table(result: dict[str, Any]) -> str:
    """The result as a plain-text table: one block per section, one line per figure with a
    short note on how to read it."""
    lines = []
    for section, values in result.items():
        lines.append(section)
        for key, value in values.items():
            if isinstance(value, str):
                lines.append(f"  {key:<28} {value}")
                continue
            lines.append(f"  {key:<28} {_fmt(value):>12}  {DESCRIPTIONS.get(key, '')}".rstrip())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return "[" + " ".join(_fmt(v) for v in value[:8]) + (" ...]" if len(value) > 8 else "]")
    return str(value)
