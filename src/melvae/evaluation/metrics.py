"""Metrics that compare: a reconstruction against its original, and a set of embeddings
against another. Each is defined once with its formula. numpy/torch only: they run offline.

Conventions: magnitudes are linear STFT magnitudes (freq, frames); mels are normalized
log-mels (..., n_mels, frames) in [0, 1]; embeddings are float64 (n, d).

Two families:

* reconstruction: spectral convergence and log-spectral distance of magnitudes (of audio:
  :func:`melvae.evaluation.descriptors.magnitude`) and temporal detail of mels;
* distances between sets of embeddings (Frechet, kernel, diversity, nearest neighbour) and
  the kNN label accuracy of latents.

The clip embedding these sets are made of is :func:`melvae.evaluation.descriptors.audio_embedding`.
"""

from __future__ import annotations

import numpy as np
import torch

# -- reconstruction ------------------------------------------------------------------------------


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
