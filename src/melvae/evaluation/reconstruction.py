"""The reconstruction and latent sections of ``melvae evaluate``: held-out segments through
the model and back, and what the encoder makes of them.

* reconstruction: each segment through the model (encoder mean -> decoder) and the model's
  inversion (:meth:`melvae.api.Melvae.mel_to_audio`). Mel L1 / RMSE in dB and temporal
  detail of the mels, then spectral convergence (SC), log-spectral distance (LSD) and
  temporal detail of the resynthesized audio. Beside each sits the *phase-only* baseline:
  the TRUE mel through the same inversion (same iterations, same seed). The baseline is the
  floor the inversion alone sets; what the model adds above it is the model's error.
* latent: KL per dimension, active units (Burda et al. 2016) and, for labelled data, the
  leave-one-out kNN label accuracy of the latent means beside its chance level. Latents are
  read through the model's own ``positions`` and ``pool`` (:class:`melvae.models.vae_base.VAEBase`),
  so a latent sequence and a latent vector are measured alike.

Everything goes through :class:`melvae.api.Melvae`; the formulas are in
:mod:`melvae.evaluation.metrics`. Work is done ``batch_size`` segments at a time, so memory stays
bounded whatever the number of segments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from melvae.audio.features import log_mel_np
from melvae.audio.io import load_audio
from melvae.config import AudioConfig
from melvae.data.dataset import MelDataset
from melvae.errors import MelvaeError
from melvae.evaluation.descriptors import magnitude
from melvae.evaluation.metrics import (
    knn_label_accuracy,
    log_spectral_distance_db,
    spectral_convergence_db,
    temporal_detail,
)
from melvae.layout import AUDIO_CONFIG
from melvae.models.vector import active_units, kl_divergence

if TYPE_CHECKING:
    from melvae.api import Melvae


def original_audio(
    data: MelDataset, chosen: list[int], audio_dir: Path, cfg: AudioConfig, batch_size: int
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
    for i in range(0, len(chosen), batch_size):
        mel = log_mel_np(audio[i : i + batch_size], cfg)
        stored = np.stack(
            [np.asarray(data.mels[k], np.float32) for k in chosen[i : i + batch_size]]
        )
        err = float(np.abs(mel - stored).mean())
        if err > 0.01:  # float16 storage alone gives ~1e-4
            raise MelvaeError(
                f"{audio_dir} does not hold the audio {data.data_dir} was made from "
                f"(mean mel difference {err:.3f})"
            )
    return audio


def reconstruct(
    model: Melvae, mels: torch.Tensor, labels: list[str]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalized mels (n, n_mels, frames) through the model, encoder means -> decoder, each
    segment under its own label where the model takes one: (reconstructions (n, n_mels,
    frames), mu, logvar), CPU tensors; mu and logvar as :meth:`Melvae.encode_posterior`
    gives them ((n, latent_dim), or (n, channels, latent frames) for a latent sequence)."""
    labels_in = labels if model.conditional else None
    mu, logvar = model.encode_posterior(mels, labels_in)
    recon = model.decode(mu, labels_in)
    return torch.from_numpy(recon), torch.from_numpy(mu), torch.from_numpy(logvar)


def invert(
    model: Melvae, mels: torch.Tensor | np.ndarray, seed: int, batch_size: int
) -> np.ndarray:
    """Normalized mels (n, n_mels, frames) -> audio (n, samples) by the model's inversion
    (:meth:`Melvae.mel_to_audio`, on its device), ``batch_size`` mels at a time. Batch k is
    seeded ``seed + k``: the same mels and seed give the same audio, and two sets inverted
    with one seed start from the same random phases, batch for batch."""
    return np.concatenate(
        [
            model.mel_to_audio(mels[i : i + batch_size], seed=seed + k)
            for k, i in enumerate(range(0, len(mels), batch_size))
        ]
    )


def reconstruction_section(
    model: Melvae,
    mels: torch.Tensor,
    recon: torch.Tensor,
    original: np.ndarray | None,
    seed: int,
    batch_size: int,
) -> tuple[dict[str, Any], np.ndarray]:
    """The reconstruction section, and the phase-only audio of the true mels (n, samples)
    (reused as the real set of the generation metrics: real and generated then pass the same
    inversion).

    mels, recon: true and reconstructed normalized mels (n, n_mels, frames).
    original: the segments' original audio (n, samples), or None to measure against the
    magnitude implied by the true mel."""
    cfg = model.audio
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
    # Same iterations, same seeds: model and baseline start from the same random phase.
    model_audio = invert(model, recon, seed, batch_size)
    true_audio = invert(model, mels, seed, batch_size)
    scores: dict[str, list[float]] = {
        k: []
        for k in ("sc_db", "phase_only_sc_db", "magnitude_sc_db", "lsd_db", "phase_only_lsd_db")
    }
    # Temporal detail of the resynthesized audio's log-mel against the true mel, per segment.
    details: dict[str, list[float]] = {
        "temporal_detail_audio": [],
        "phase_only_temporal_detail_audio": [],
    }
    for i in range(0, len(mels), batch_size):
        part = slice(i, i + batch_size)
        model_mag = model.mel_to_magnitude(recon[part])  # before phase retrieval
        if original is None:
            ref = model.mel_to_magnitude(mels[part])
        else:
            ref = magnitude(original[part], cfg)
        model_spec, true_spec = magnitude(model_audio[part], cfg), magnitude(true_audio[part], cfg)
        target = mels[part]  # the log-mels are cropped to its frames
        details["temporal_detail_audio"].extend(
            temporal_detail(log_mel_np(model_audio[part], cfg), target)
        )
        details["phase_only_temporal_detail_audio"].extend(
            temporal_detail(log_mel_np(true_audio[part], cfg), target)
        )
        for j, r in enumerate(ref):
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
    return section, true_audio


def _mean(values) -> float:
    """Mean of per-segment dB values (finite ones: an exact match gives -inf SC)."""
    arr = np.array(list(values), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("-inf")


def latent_section(
    model: Melvae,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    labels: list[str],
    tracks: list[str],
) -> dict[str, Any]:
    """The latent section from the posterior of n segments (mu, logvar, as :func:`reconstruct`
    gives them). Every latent position (a vector, or each frame of a latent sequence) is a
    sample of the code: KL per dimension summed over a segment's positions, active units
    over all positions, ``latent_frames`` where a segment holds more than one; the kNN uses
    the segment's pooled mean."""
    points = torch.from_numpy(model.positions(mu))  # (n * positions per segment, latent_dim)
    per_segment = len(points) // len(mu)
    kl_dim = torch.from_numpy(model.positions(kl_divergence(mu, logvar))).sum(0) / len(mu)
    section: dict[str, Any] = {
        "latent_dim": int(points.shape[1]),
        "active_units": active_units(points),
        "kl_total": float(kl_dim.sum()),
        "kl_per_dim": [round(float(v), 5) for v in kl_dim],
    }
    if per_segment > 1:
        section["latent_frames"] = per_segment
    named = [lab for lab in labels if lab]
    if len(named) == len(labels) and len(set(labels)) >= 2:
        z = model.pool(mu)
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
