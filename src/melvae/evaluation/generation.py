"""The generation section of ``melvae evaluate``: how generated clips compare with held-out
real music, and whether they copy the training set.

* distribution: Frechet and kernel distances between the audio embeddings
  (:func:`melvae.evaluation.descriptors.audio_embedding`) of held-out segments and of as many
  generated clips, with the same distances between two random halves of the real set as the floor;
  diversity of each set.
* neighbours: the nearest training segment of every generated and every held-out segment,
  as RMS mel distance in dB (copy detection).

The formulas are in :mod:`melvae.evaluation.metrics`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from melvae.config import AudioConfig
from melvae.data.dataset import MelDataset
from melvae.evaluation.metrics import (
    diversity,
    frechet_distance,
    kernel_distance,
    nearest_neighbour_distance,
    standardize,
)

if TYPE_CHECKING:
    from melvae.api import Melvae


def generate_mels_like(model: Melvae, n: int, labels: list[str], seed: int) -> torch.Tensor:
    """n normalized mels (n, n_mels, frames) from the prior; a label-conditioned model gets
    the real set's label proportions (``labels``: one per real segment)."""
    if not model.label_conditioned or not all(labels):
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


def generate_mels_at_tempos(
    model: Melvae, labels: list[str], tempos: np.ndarray, seed: int
) -> torch.Tensor:
    """One clip per real segment with a tempo, at that tempo (``--bpm``) and, on a
    label-conditioned model, under its label: mels (n, n_mels, frames)."""
    named = model.label_conditioned
    clips = [
        model.generate_mels(1, label=lab if named and lab else None, seed=seed + i, bpm=float(b))
        for i, (lab, b) in enumerate(zip(labels, tempos, strict=True))
    ]
    return torch.from_numpy(np.concatenate(clips))


def generation_section(
    real: np.ndarray, gen: np.ndarray, rng: np.random.Generator
) -> dict[str, Any]:
    """Distances between real and generated embeddings (n, d), (m, d), all standardized with
    the real set's statistics, and the floor: the same distance between two random halves of
    the real set."""
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


def neighbours_section(
    data: MelDataset,
    train_idx: list[int],
    real_mels: torch.Tensor,
    real_tracks: list[str],
    gen_mels: torch.Tensor,
    cfg: AudioConfig,
    rng: np.random.Generator,
    max_reference: int,
) -> dict[str, Any]:
    """Nearest training segment of each generated and each real segment, as RMS distance of
    the normalized mels in dB. The mel, not the embedding, because a copy is a copy of the
    spectrogram; real segments skip training segments of their own track. At most
    ``max_reference`` training segments (a random subsample) are searched."""
    if not train_idx:
        return {}
    ref_idx = np.asarray(train_idx)
    if len(ref_idx) > max_reference:
        ref_idx = np.sort(rng.choice(ref_idx, max_reference, replace=False))
    scale = cfg.top_db / math.sqrt(cfg.n_mels * cfg.segment_frames)  # L2 -> RMS dB
    real = real_mels.reshape(len(real_mels), -1).numpy()
    gen = gen_mels.reshape(len(gen_mels), -1).numpy()
    tracks = np.asarray(real_tracks)
    nn_real, nn_gen = np.full(len(real), np.inf), np.full(len(gen), np.inf)
    for j in range(0, len(ref_idx), 256):  # the training mels stay memory-mapped
        idx = ref_idx[j : j + 256]
        train = np.stack([np.asarray(data.mels[i], np.float32).ravel() for i in idx])
        train_tracks = np.asarray([data.segments[i].source for i in idx])
        nn_gen = np.minimum(nn_gen, nearest_neighbour_distance(gen, train))
        nn_real = np.minimum(nn_real, nearest_neighbour_distance(real, train, tracks, train_tracks))
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
