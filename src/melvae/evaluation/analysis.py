"""See what a model learned: reconstructions, the latent map, a decoded latent grid.

>>> from melvae import analysis
>>> records = analysis.reconstruct("runs/techno", "loop.wav", "out/recon")     # doctest: +SKIP
>>> info = analysis.latent_map(model, "data/techno", "out/latent.png")         # doctest: +SKIP
>>> mels, xs, ys = analysis.decoded_grid(model, n=8)                           # doctest: +SKIP

Inference only, like :mod:`melvae.api`: never imports the training code (or Lightning).
scikit-learn, where importable, adds a t-SNE panel to the latent map; it is never required.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from melvae.api import Melvae
from melvae.audio.io import load_audio, write_audio
from melvae.config import MAP_GRID, MAP_MAX_POINTS, RECONSTRUCT_SEGMENTS, assert_same_audio
from melvae.data.dataset import MelDataset, split_for_run
from melvae.errors import MelvaeError
from melvae.layout import read_run_config
from melvae.plots import save_grid_png, save_mel_stack_png, save_scatter_png

__all__ = [
    "data_extent",
    "decoded_grid",
    "latent_map",
    "latent_means",
    "load_model",
    "pca_2d",
    "reconstruct",
    "save_grid_png",
    "validation_indices",
]

PRIOR_EXTENT = 2.5  # the latent grid spans +-2.5 sigma of the prior when no data is given


def load_model(run_dir_or_model: Melvae | Path | str, device: str | None = None) -> Melvae:
    """A loaded model as it is, or the model of a run folder / checkpoint file."""
    if isinstance(run_dir_or_model, Melvae):
        return run_dir_or_model
    return Melvae.load(run_dir_or_model, device=device)


def _dataset(model: Melvae, data_dir: Path | str) -> MelDataset:
    data = MelDataset(data_dir, labels=model.labels or None)
    assert_same_audio(model.audio, data.audio, f"dataset {data_dir}")
    if len(data) == 0:
        raise MelvaeError(f"dataset {data_dir} holds no segments")
    return data


def _evenly(indices: list[int] | np.ndarray, k: int) -> list[int]:
    """Up to k items of ``indices``, evenly spaced, first and last included."""
    indices = list(indices)
    if len(indices) <= k:
        return indices
    picks = np.unique(np.round(np.linspace(0, len(indices) - 1, k)).astype(int))
    return [indices[i] for i in picks]


def validation_indices(run_dir: Path | str, data_dir: Path | str | None = None) -> list[int]:
    """Segment indices of the run's validation split (by source track, as training made it);
    ``data_dir`` defaults to the dataset the run trained on. Empty when the run kept no
    validation data."""
    saved = read_run_config(run_dir)
    data = MelDataset(data_dir if data_dir is not None else saved["data_dir"])
    return split_for_run(data.segments, saved)[1]


def _label_for(model: Melvae, data: MelDataset, index: int) -> str | None:
    """The label to encode/decode a dataset segment with (conditional models need one)."""
    label = data.segments[index].label or None
    if model.conditional and label not in model.labels:
        raise MelvaeError(
            f"segment {index} of {data.data_dir} has label {label!r}, "
            "which this conditional model does not know"
        )
    return label if model.conditional else None


def reconstruct(
    run_dir_or_model: Melvae | Path | str,
    source: Path | str,
    out_dir: Path | str,
    max_items: int = RECONSTRUCT_SEGMENTS,
    seed: int = 0,
    pick: str | list[int] = "even",
    label: str | None = None,
) -> list[dict[str, Any]]:
    """Encode and decode segments of ``source``, and write what to listen to and look at.

    source: an audio file (its consecutive segments, up to ``max_items``) or a dataset folder
    (``pick``: "even" for evenly spaced segments, "validation" for evenly spaced ones of the
    run's validation split, which needs a run folder, or a list of segment indices).

    For each item ``NN`` (00, 01, ...) in ``out_dir``:

    * ``NN_original.wav``: the segment's own audio (audio file source), or for a dataset,
      which stores mels only, ``NN_original_inverted.wav``: the true mel inverted exactly as
      the reconstruction is (the model's mel-to-audio stage, same seed), so the two differ only by
      what the model changed;
    * ``NN_reconstruction.wav``: the decoded latent mean, inverted;
    * ``NN.png``: the original mel above the reconstruction.

    ``label``: the label of an audio file's segments, for a conditional model.
    Returns one record per item: paths, source, start, label and ``mel_l1_db``, the mean
    absolute difference of the two log-mels in dB.
    """
    if max_items < 1:
        raise MelvaeError("max_items must be >= 1")
    model = load_model(run_dir_or_model)
    cfg = model.audio
    source, out_dir = Path(source), Path(out_dir)
    seg = cfg.segment_samples
    if source.is_dir():
        data = _dataset(model, source)
        if isinstance(pick, str):
            if pick == "even":
                candidates = list(range(len(data)))
            elif pick == "validation":
                if isinstance(run_dir_or_model, Melvae):
                    raise MelvaeError("pick='validation' needs the run folder, not a model")
                candidates = validation_indices(run_dir_or_model, source)
                if not candidates:
                    raise MelvaeError(f"the run {run_dir_or_model} kept no validation segments")
            else:
                raise MelvaeError(f"pick must be 'even', 'validation' or indices, got {pick!r}")
        else:
            candidates = [int(i) for i in pick]
            bad = [i for i in candidates if not 0 <= i < len(data)]
            if bad:
                raise MelvaeError(f"segment indices out of range (0..{len(data) - 1}): {bad}")
        indices = _evenly(candidates, max_items)
        mels = np.stack([np.asarray(data.mels[i], dtype=np.float32) for i in indices])
        labels = [_label_for(model, data, i) for i in indices]
        originals = None
        meta = [
            {
                "segment": i,
                "source": data.segments[i].source,
                "start_seconds": data.segments[i].start_seconds,
                "label": data.segments[i].label,
            }
            for i in indices
        ]
    elif source.is_file():
        wave = load_audio(source, cfg.sample_rate)
        count = min(max(1, len(wave) // seg), max_items)
        wave = np.pad(wave[: count * seg], (0, max(0, count * seg - len(wave))))
        originals = wave.reshape(count, seg)
        mels = model.segments_of(wave).cpu().numpy()
        labels = [label] * count
        meta = [
            {
                "segment": k,
                "source": str(source),
                "start_seconds": k * seg / cfg.sample_rate,
                "label": label or "",
            }
            for k in range(count)
        ]
    else:
        raise MelvaeError(f"no such audio file or dataset folder: {source}")

    recons = model.reconstruct_mels(mels, labels if model.conditional else None)
    recon_audio = model.mel_to_audio(recons, seed=seed)
    if originals is None:
        # Two batches of one shape with one seed: item k of each starts from the same random
        # phase, so an original and its reconstruction differ only by what the model changed
        # (one batch of both would give each its own phase).
        originals = model.mel_to_audio(mels, seed=seed)
        original_name, original_kind = "original_inverted", "true mel, inverted"
    else:
        original_name, original_kind = "original", "original audio"

    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for k, (mel, rec, orig, rec_wave, info) in enumerate(
        zip(mels, recons, originals, recon_audio, meta)
    ):
        stem = f"{k:02d}"
        l1_db = float(np.mean(np.abs(mel - rec)) * cfg.top_db)
        where = f"{Path(info['source']).name} @ {info['start_seconds']:.1f} s"
        png = save_mel_stack_png(
            [mel, rec],
            cfg,
            out_dir / f"{stem}.png",
            titles=[f"original: {where}", f"reconstruction (mel L1 {l1_db:.2f} dB)"],
        )
        records.append(
            {
                "index": k,
                **info,
                "original": str(
                    write_audio(out_dir / f"{stem}_{original_name}.wav", orig, cfg.sample_rate)
                ),
                "original_kind": original_kind,
                "reconstruction": str(
                    write_audio(out_dir / f"{stem}_reconstruction.wav", rec_wave, cfg.sample_rate)
                ),
                "png": str(png),
                "mel_l1_db": l1_db,
            }
        )
    return records


def latent_means(
    model: Melvae, data_dir: Path | str, max_points: int = MAP_MAX_POINTS
) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    """Latent means of up to ``max_points`` evenly spaced segments of a dataset:
    (mu (N, latent_dim), label ids (N,) indexing the label names (-1: none), label names,
    segment indices). A sequence model's means are pooled over time (N, latent_channels). A
    conditional model encodes each segment with its own label and skips unlabelled ones."""
    model = load_model(model)
    data = _dataset(model, data_dir)
    conditional = model.conditional
    candidates = [i for i in range(len(data)) if not conditional or data.label_ids[i] >= 0]
    if not candidates:
        raise MelvaeError(f"no labelled segments in {data_dir} for this conditional model")
    indices = _evenly(candidates, max(1, max_points))
    mu = model.pool(model.encode_mel(data.mels, data.label_ids, indices))
    return mu, data.label_ids[indices], list(data.labels), indices


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project rows of x (N, d) on their first two principal axes (numpy SVD):
    (coordinates (N, 2), fraction of the variance each axis explains (2,)). Axes beyond the
    data's rank come out as zeros."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    coords = np.zeros((len(x), 2))
    k = min(2, vt.shape[0])
    coords[:, :k] = centred @ vt[:k].T
    var = s**2
    explained = np.zeros(2)
    explained[:k] = var[:k] / var.sum() if var.sum() > 0 else 0.0
    return coords, explained


def _tsne_2d(x: np.ndarray, seed: int) -> np.ndarray | None:
    """t-SNE coordinates (N, 2) where scikit-learn is importable (and N is big enough)."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        return None
    if len(x) < 5:
        return None
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
    tsne = TSNE(
        2,
        perplexity=perplexity,
        init="pca",
        random_state=seed,
        learning_rate="auto",
        method="exact" if len(x) <= 150 else "barnes_hut",
    )
    # One OpenMP thread: Barnes-Hut's threads spin-wait, and on a busy machine that turns
    # a second's work into tens of seconds.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency of scikit-learn
        return tsne.fit_transform(np.asarray(x, dtype=np.float64))
    with threadpool_limits(limits=1, user_api="openmp"):
        return tsne.fit_transform(np.asarray(x, dtype=np.float64))


def data_extent(z: np.ndarray, pad: float = 0.08) -> tuple[float, float, float, float]:
    """A square (xmin, xmax, ymin, ymax) around 2-D latent points: centred on their bounding
    box, as wide as its longer side plus ``pad`` of it on each side, and at least 0.5 wide.
    Square, so that the cells of a grid over it are square in latent units too."""
    z = np.asarray(z, dtype=np.float64)
    lo, hi = z.min(axis=0), z.max(axis=0)
    centre = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2 * (1 + 2 * pad), 0.25)
    return (
        float(centre[0] - half),
        float(centre[0] + half),
        float(centre[1] - half),
        float(centre[1] + half),
    )


def _grid_edges(extent, n: int) -> tuple[np.ndarray, np.ndarray]:
    xmin, xmax, ymin, ymax = extent
    return np.linspace(xmin, xmax, n + 1), np.linspace(ymin, ymax, n + 1)


def latent_map(
    model: Melvae | Path | str,
    data_dir: Path | str,
    out_png: Path | str,
    max_points: int = MAP_MAX_POINTS,
    grid: int | None = None,
    tsne: bool | None = None,
    seed: int = 0,
    narrow_png: Path | str | None = None,
) -> dict[str, Any]:
    """A picture of the latent means of a dataset's segments, coloured by label (and where
    ``narrow_png`` is given, the same with its panels one above the other there, narrow
    enough to read on a phone).

    Latent size 2: the plane itself, with the prior's 1 and 2 sigma circles; ``grid=n`` also
    draws the n x n cells :func:`decoded_grid` decodes over ``extent`` (the data's extent).
    Larger sizes: a PCA projection (numpy SVD), and a t-SNE panel beside it where
    scikit-learn is importable (``tsne=None``; True asks for it, False leaves it out).

    Returns a JSON-friendly dict: ``png``, ``latent_dim``, ``n_points``, ``labels`` (segments
    per label), ``panels`` (their names) and, by case, ``extent`` or
    ``pca_explained_variance``.
    """
    model = load_model(model)
    mu, ids, names, _ = latent_means(model, data_dir, max_points)
    counts = {name: int((ids == i).sum()) for i, name in enumerate(names)}
    if (ids < 0).any():
        counts["(no label)"] = int((ids < 0).sum())
    info: dict[str, Any] = {
        "png": str(out_png),
        "latent_dim": model.latent_dim,
        "n_points": len(mu),
        "labels": counts,
    }
    if model.has_plane:
        extent = data_extent(mu)
        panel = {
            "xy": mu,
            "title": f"latent means ({len(mu)} segments)",
            "xlabel": "z1",
            "ylabel": "z2",
            "equal": True,
            "limits": extent,
            "circles": (1.0, 2.0),
        }
        if grid:
            panel["grid"] = _grid_edges(extent, grid)
        panels = [panel]
        info.update(panels=["plane"], extent=list(extent))
    else:
        if model.latent_dim == 1:
            mu = np.concatenate([mu, np.zeros_like(mu)], axis=1)
        coords, explained = pca_2d(mu)
        panels = [
            {
                "xy": coords,
                "title": f"PCA of {model.latent_dim}-d latent means ({len(mu)} segments)",
                "xlabel": f"PC1 ({explained[0]:.0%} of variance)",
                "ylabel": f"PC2 ({explained[1]:.0%})",
            }
        ]
        info.update(panels=["pca"], pca_explained_variance=[float(e) for e in explained])
        if tsne is not False:
            emb = _tsne_2d(mu, seed)
            if emb is None and tsne:
                raise MelvaeError("t-SNE needs scikit-learn (pip install scikit-learn)")
            if emb is not None:
                panels.append({"xy": emb, "title": "t-SNE", "xlabel": "", "ylabel": ""})
                info["panels"].append("tsne")
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    save_scatter_png(panels, ids, names, out_png)
    if narrow_png is not None:
        save_scatter_png(panels, ids, names, narrow_png, stacked=True)
    return info


def decoded_grid(
    model: Melvae | Path | str,
    n: int = MAP_GRID,
    extent: tuple[float, float, float, float] | None = None,
    label: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode a regular n x n grid over a latent-2 model's plane.

    The extent (xmin, xmax, ymin, ymax), e.g. :func:`data_extent` of the data's latent means
    (``latent_map`` returns it) or by default +-2.5 sigma of the prior, is cut into n x n
    equal cells and each cell's centre is decoded. Returns (mels (n, n, n_mels, frames), xs
    (n,) ascending, ys (n,) descending): ``mels[i, j]`` is decoded at ``(xs[j], ys[i])``, so
    the array reads like the picture, row 0 at the top.
    """
    model = load_model(model)
    if not model.has_plane:
        raise MelvaeError(f"a latent grid needs a latent-2 model; this one has {model.latent_dim}")
    if n < 1:
        raise MelvaeError("n must be >= 1")
    if extent is None:
        extent = (-PRIOR_EXTENT, PRIOR_EXTENT, -PRIOR_EXTENT, PRIOR_EXTENT)
    x_edges, y_edges = _grid_edges(extent, n)
    xs = (x_edges[:-1] + x_edges[1:]) / 2
    ys = ((y_edges[:-1] + y_edges[1:]) / 2)[::-1]
    z = np.stack(np.meshgrid(xs, ys, indexing="xy"), axis=-1).reshape(-1, 2)
    if model.conditional and label is None:
        label = model.labels[0]
    mels = model.decode(z.astype(np.float32), label)
    return mels.reshape(n, n, *mels.shape[1:]), xs, ys
