"""Small matplotlib figures shared by the commands (PNG files, headless backend)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from melvae.config import AudioConfig
from melvae.safeio import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path | str, dpi: int) -> None:
    """Save a figure atomically (melvae.safeio), in the format its file name ends in."""
    path = Path(path)
    with atomic_write(path) as fh:
        fig.savefig(fh, dpi=dpi, format=path.suffix.lstrip(".").lower() or "png")


def _margins(fig, width: float, height: float, top: float = 0.3) -> None:
    """Fixed margins in inches (left, bottom, right of the colour bar's labels; ``top`` room
    for a title): these figures have fixed sizes, and a computed layout (tight or
    constrained) measures every label first, which doubles the cost of a PNG."""
    fig.subplots_adjust(
        left=0.62 / width, right=1 - 0.7 / width, bottom=0.48 / height, top=1 - top / height
    )


def mel_axes(ax, mel: np.ndarray, cfg: AudioConfig, title: str | None = None) -> None:
    """Draw a normalized mel (n_mels, frames) on ax: time in seconds, mel band, dB colour."""
    seconds = cfg.frames_to_seconds(mel.shape[-1] - 1)
    image = ax.imshow(
        np.asarray(mel) * cfg.top_db - cfg.top_db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=-cfg.top_db,
        vmax=0,
        extent=(0, seconds, 0, mel.shape[0]),
    )
    ax.set(xlabel="time (s)", ylabel="mel band")
    if title:
        ax.set_title(title, fontsize=9)
    return image


def save_mel_png(
    mel: np.ndarray, cfg: AudioConfig, path: Path | str, title: str | None = None, dpi: int = 80
) -> Path:
    """One mel spectrogram as a PNG with a dB colour bar."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 2.8))
    _margins(fig, 6, 2.8)
    image = mel_axes(ax, mel, cfg, title)
    fig.colorbar(image, ax=ax, label="dB", fraction=0.06, pad=0.02)
    path = Path(path)
    _save(fig, path, dpi)
    plt.close(fig)
    return path


def save_mel_stack_png(
    mels: list[np.ndarray] | np.ndarray,
    cfg: AudioConfig,
    path: Path | str,
    titles: list[str] | None = None,
    dpi: int = 80,
) -> Path:
    """Mel spectrograms (each (n_mels, frames)) stacked top to bottom on a shared time axis
    and a shared dB colour bar: a reconstruction under its original, for instance."""
    plt = _pyplot()
    mels = [np.asarray(m) for m in mels]
    titles = list(titles) if titles is not None else [None] * len(mels)
    height = 0.4 + 2.2 * len(mels)
    fig, axes = plt.subplots(len(mels), 1, figsize=(6, height), sharex=True, squeeze=False)
    _margins(fig, 6, height)
    fig.subplots_adjust(hspace=0.3 / 1.9)  # room for each panel's title
    image = None
    for ax, mel, title in zip(axes[:, 0], mels, titles):
        image = mel_axes(ax, mel, cfg, title)
    for ax in axes[:-1, 0]:
        ax.set_xlabel("")
    fig.colorbar(image, ax=list(axes[:, 0]), label="dB", fraction=0.05, pad=0.02)
    path = Path(path)
    _save(fig, path, dpi)
    plt.close(fig)
    return path


def mel_rgb(mel: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """A normalized mel (n_mels, frames) as an RGB image (n_mels, frames, 3), low bands at the
    bottom, in the colours of :func:`mel_axes`."""
    from matplotlib import colormaps

    values = np.clip(np.asarray(mel, dtype=np.float32), 0.0, 1.0)[::-1]
    return colormaps["magma"](values)[..., :3]


def save_grid_png(
    mels: np.ndarray,
    cfg: AudioConfig,
    path: Path | str,
    xs: np.ndarray | None = None,
    ys: np.ndarray | None = None,
    bare: bool = False,
    dpi: int = 80,
) -> Path:
    """An n x n grid of mels (n, n, n_mels, frames): cell [i, j] drawn in row i (top to
    bottom) and column j, as :func:`melvae.evaluation.analysis.decoded_grid` returns them.

    With axes (the default) the rows and columns are labelled with their latent coordinates
    ``ys`` and ``xs``. ``bare=True`` writes only the tiles, edge to edge, so that cell (i, j)
    covers exactly the fraction [j/n, (j+1)/n) x [i/n, (i+1)/n) of the picture (the report
    lays clickable cells over it)."""
    mels = np.asarray(mels)
    rows, cols = mels.shape[:2]
    tiles = np.concatenate(
        [
            np.concatenate([mel_rgb(mels[i, j], cfg) for j in range(cols)], axis=1)
            for i in range(rows)
        ],
        axis=0,
    )
    path = Path(path)
    plt = _pyplot()
    if bare:
        plt.imsave(path, tiles)
        return path
    fig, ax = plt.subplots(figsize=(7, 6.2))
    ax.imshow(tiles, aspect="auto", extent=(0, cols, rows, 0), interpolation="antialiased")
    for k in range(1, max(rows, cols)):
        if k < cols:
            ax.axvline(k, color="white", linewidth=0.6)
        if k < rows:
            ax.axhline(k, color="white", linewidth=0.6)
    if xs is not None:
        ax.set_xticks(np.arange(cols) + 0.5, [f"{x:.2g}" for x in xs])
    else:
        ax.set_xticks([])
    if ys is not None:
        ax.set_yticks(np.arange(rows) + 0.5, [f"{y:.2g}" for y in ys])
    else:
        ax.set_yticks([])
    ax.set(xlabel="z1", ylabel="z2", title="mels decoded on a grid over the latent plane")
    fig.tight_layout()
    _save(fig, path, dpi)
    plt.close(fig)
    return path


def label_colors(n: int) -> list:
    """n distinguishable colours for label scatter plots."""
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def save_scatter_png(
    panels: list[dict],
    label_ids: np.ndarray,
    label_names: list[str],
    path: Path | str,
    dpi: int = 90,
) -> Path:
    """Side-by-side 2-D scatter plots of the same points, coloured by label.

    Each panel is a dict: ``xy`` (N, 2), ``title``, ``xlabel``, ``ylabel``, and optionally
    ``equal`` (equal aspect), ``limits`` ((xmin, xmax, ymin, ymax)), ``circles`` (radii of
    dashed circles around the origin, e.g. the prior's 1 and 2 sigma) and ``grid``
    ((x edges, y edges) of a lattice drawn in grey). ``label_ids[k]`` indexes
    ``label_names``; -1 is drawn grey as "(no label)"."""
    plt = _pyplot()
    label_ids = np.asarray(label_ids)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.8 * len(panels) + 1.2, 4.6), squeeze=False, layout="constrained"
    )
    colors = label_colors(len(label_names))
    groups = [(i, name, colors[i]) for i, name in enumerate(label_names)]
    if (label_ids < 0).any() or not label_names:
        groups.append((-1, "(no label)", (0.45, 0.45, 0.45, 1.0)))
    size = 16 if len(label_ids) <= 500 else 6
    for ax, panel in zip(axes[0], panels):
        xy = np.asarray(panel["xy"])
        for idx, name, color in groups:
            keep = label_ids == idx
            if keep.any():
                ax.scatter(
                    xy[keep, 0],
                    xy[keep, 1],
                    s=size,
                    color=color,
                    alpha=0.75,
                    label=name,
                    linewidths=0,
                )
        for radius in panel.get("circles", ()):
            ax.add_patch(
                plt.Circle((0, 0), radius, fill=False, linestyle="--", color="0.6", linewidth=0.8)
            )
        if panel.get("grid") is not None:
            x_edges, y_edges = panel["grid"]
            ax.vlines(x_edges, y_edges[0], y_edges[-1], color="0.7", linewidth=0.5, zorder=0)
            ax.hlines(y_edges, x_edges[0], x_edges[-1], color="0.7", linewidth=0.5, zorder=0)
        if panel.get("limits") is not None:
            xmin, xmax, ymin, ymax = panel["limits"]
            ax.set(xlim=(xmin, xmax), ylim=(ymin, ymax))
        if panel.get("equal"):
            ax.set_aspect("equal", adjustable="box")
        ax.set(title=panel.get("title", ""), xlabel=panel.get("xlabel", ""))
        ax.set_ylabel(panel.get("ylabel", ""))
        ax.title.set_fontsize(10)
        if panel.get("grid") is None:
            ax.grid(alpha=0.2)
    handles, names = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles,
            names,
            loc="outside right upper",
            fontsize=8,
            markerscale=1.5,
            frameon=False,
            title="label",
            title_fontsize=8,
        )
    path = Path(path)
    _save(fig, path, dpi)
    plt.close(fig)
    return path


def plot_history(history_csv: Path, out_png: Path) -> None:
    """Loss curves (train and validation; reconstruction and KL) as a PNG."""
    plt = _pyplot()
    with open(history_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    epoch = [int(r["epoch"]) for r in rows]

    def col(name):
        return [float(r[name]) for r in rows]

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name in ("train_loss", "val_loss"):
        axes[0].plot(epoch, col(name), marker=".", label=name.replace("_", " "))
    axes[0].set(title="negative ELBO per segment", xlabel="epoch", yscale="log")
    for name in ("train_recon", "val_recon", "train_kl", "val_kl"):
        axes[1].plot(epoch, col(name), marker=".", label=name.replace("_", " "))
    axes[1].set(title="reconstruction and KL", xlabel="epoch", yscale="log")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, out_png, 100)
    plt.close(fig)
