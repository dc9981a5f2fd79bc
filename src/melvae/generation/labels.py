"""Label policy for conditional models: which labels to draw, which label fits a clip, and
label embeddings moved along a path. Plain functions of a model's parts; api.Melvae
exposes them (inference only: no training code)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from melvae.generation.latents import schedule


def label_weights(n_labels: int, counts: list[int] | None) -> np.ndarray:
    """Each label's share of the training segments (n_labels,), summing to 1, from their
    counts; uniform where the counts are missing (a checkpoint written before them)."""
    if counts is None or len(counts) != n_labels or sum(counts) <= 0:
        return np.full(n_labels, 1.0 / n_labels)
    w = np.asarray(counts, dtype=np.float64)
    return w / w.sum()


def draw_label_ids(weights: np.ndarray, n: int, seed: int | None = 0) -> np.ndarray:
    """n label indices in the proportions ``weights``, seeded (same n and seed, same draw).

    Systematic sampling: n evenly spaced points with one random offset over the labels'
    cumulative shares, then shuffled; each label gets floor or ceil of n x its share (an
    unbiased draw with no sampling noise beyond rounding), and n = 1 is an ordinary draw."""
    rng = np.random.default_rng(None if seed is None else [seed, 0x1AB])
    points = (rng.random() + np.arange(n)) / n
    edges = np.cumsum(weights)
    ids = np.minimum(np.searchsorted(edges, points, side="right"), len(weights) - 1)
    return rng.permutation(ids)


@torch.no_grad()
def fitting_label_id(model: nn.Module, mel: torch.Tensor, n_labels: int) -> int:
    """For a conditional autoencoder, the label whose conditioning reconstructs the normalized
    mel (n_mels, frames) best: encoded and decoded (latent mean) under each label, the lowest
    summed squared error. -> its index."""
    device = next(model.parameters()).device
    mel = mel.to(device, torch.float32).reshape(1, *mel.shape[-2:])
    errors = []
    for i in range(0, n_labels, 16):
        ids = torch.arange(i, min(i + 16, n_labels), device=device)
        batch = mel.expand(len(ids), -1, -1)
        mu, _ = model.encode(batch, ids)
        recon = model.decode(mu, ids)
        errors.append(((recon - batch) ** 2).flatten(1).sum(1).cpu())
    return int(torch.cat(errors).argmin())


def embedding_schedule(
    table: nn.Embedding | None, ids: list[int], steps: int, device
) -> torch.Tensor | None:
    """The embeddings of labels ``ids`` in ``table`` laid along ``steps`` steps, moving
    linearly from one to the next (:func:`melvae.generation.latents.schedule`): (steps, E) on
    ``device``; None where the model takes no embedding (``table`` None) or no label is
    given. Two labels over k steps is the blend (1 - t) a + t b at t = linspace(0, 1, k)."""
    if table is None or not ids:
        return None
    rows = table.weight[torch.as_tensor(ids, dtype=torch.long, device=table.weight.device)]
    return schedule(rows.detach().cpu().numpy(), steps).to(device)
