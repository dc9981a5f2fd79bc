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


def _margins(fig, width: float, height: float, top: float = 0.3, left: float = 0.62) -> None:
    """Fixed margins in inches (left for the Hz ticks, bottom, right of the colour bar's
    labels; ``top`` room for a title): these figures have fixed sizes, and a computed layout
    (tight or constrained) measures every label first, which doubles the cost of a PNG."""
    fig.subplots_adjust(
        left=left / width, right=1 - 0.7 / width, bottom=0.48 / height, top=1 - top / height
    )


def text_style(size: float = 9.0):
    """A context in which every text of a figure is ``size`` points (ticks one less).

    A figure's text is legible where ``points / figure inches x shown pixels`` stays above
    about 10 px; the figures of the report are drawn at the width they are shown at, with
    the text sized for it, rather than shrunk from a large canvas."""
    plt = _pyplot()
    small = size - 1
    return plt.rc_context(
        {
            "font.size": size,
            "axes.titlesize": size,
            "axes.labelsize": size,
            "xtick.labelsize": small,
            "ytick.labelsize": small,
            "legend.fontsize": small,
            "legend.title_fontsize": small,
        }
    )


HZ_TICKS = (100, 500, 1000, 2000, 4000, 8000, 16000)


def hz_label(hz: float) -> str:
    """50 -> '50', 2000 -> '2k', 12000 -> '12k'."""
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"


def mel_band_of(hz, cfg: AudioConfig) -> np.ndarray:
    """Where a frequency sits on a mel image drawn over [0, n_mels]: band k is centred at
    k + 0.5 (the centres of :func:`melvae.audio.features.mel_filterbank`, evenly spaced in
    mel from fmin_hz to f_max)."""
    from melvae.audio.features import hz_to_mel

    lo, hi = hz_to_mel(cfg.fmin_hz), hz_to_mel(cfg.f_max)
    step = (hi - lo) / (cfg.n_mels + 1)
    return (hz_to_mel(hz) - lo) / step - 0.5


def hz_axis(ax, cfg: AudioConfig, ticks: tuple[float, ...] | None = None) -> None:
    """Label a mel image's vertical axis in Hz: ticks at ``ticks`` (default: the round
    frequencies of HZ_TICKS that fall inside the bands: 100 Hz, then octaves from 500)."""
    if ticks is None:
        ticks = tuple(f for f in HZ_TICKS if cfg.fmin_hz < f < cfg.f_max)
    pos = mel_band_of(np.asarray(ticks, dtype=np.float64), cfg)
    keep = (pos >= 0) & (pos <= cfg.n_mels)
    ax.set_yticks(pos[keep], [hz_label(f) for f, k in zip(ticks, keep) if k])
    ax.set_ylabel("Hz")


def mel_axes(
    ax, mel: np.ndarray, cfg: AudioConfig, title: str | None = None, start: float = 0.0
) -> None:
    """Draw a normalized mel (n_mels, frames) on ax: time in seconds (from ``start``), a
    frequency axis in Hz (the bands are mel-spaced, so the ticks are not), dB colour."""
    seconds = cfg.frames_to_seconds(mel.shape[-1] - 1)
    image = ax.imshow(
        np.asarray(mel) * cfg.top_db - cfg.top_db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=-cfg.top_db,
        vmax=0,
        extent=(start, start + seconds, 0, mel.shape[0]),
        interpolation="antialiased",
    )
    ax.set_xlabel("time (s)")
    hz_axis(ax, cfg)
    if title:
        ax.set_title(title, loc="left")
    return image


def save_mel_png(
    mel: np.ndarray, cfg: AudioConfig, path: Path | str, title: str | None = None, dpi: int = 100
) -> Path:
    """One mel spectrogram as a PNG with a dB colour bar (5 x 2.4 in; 9-point text)."""
    plt = _pyplot()
    with text_style(9):
        fig, ax = plt.subplots(figsize=(5, 2.4))
        _margins(fig, 5, 2.4, top=0.3 if title else 0.12)
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
    dpi: int = 150,
) -> Path:
    """Mel spectrograms (each (n_mels, frames)) stacked top to bottom on a shared time axis
    and a shared dB colour bar: a reconstruction under its original, for instance. 4.4 in
    wide with 9-point text: legible from about 350 px wide (a phone) up."""
    plt = _pyplot()
    mels = [np.asarray(m) for m in mels]
    titles = list(titles) if titles is not None else [None] * len(mels)
    width, panel = 4.4, 1.45
    height = 0.45 + (panel + 0.28) * len(mels)
    with text_style(9):
        fig, axes = plt.subplots(len(mels), 1, figsize=(width, height), sharex=True, squeeze=False)
        fig.subplots_adjust(
            left=0.5 / width,
            right=1 - 0.62 / width,
            bottom=0.42 / height,
            top=1 - 0.24 / height,
            hspace=0.28 / panel,
        )
        image = None
        for ax, mel, title in zip(axes[:, 0], mels, titles):
            image = mel_axes(ax, mel, cfg, title)
        for ax in axes[:-1, 0]:
            ax.set_xlabel("")
        bar = fig.colorbar(image, ax=list(axes[:, 0]), fraction=0.05, pad=0.02)
        bar.set_label("dB", labelpad=1)
        path = Path(path)
        _save(fig, path, dpi)
        plt.close(fig)
    return path


def save_mel_thumb_png(mel: np.ndarray, cfg: AudioConfig, path: Path | str, dpi: int = 200) -> Path:
    """A small mel picture for a grid of clips: 2 x 1.1 in, 9-point Hz and second ticks, no
    title or colour bar (the page says those once), legible from about 160 px wide."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    width, height = 2.0, 1.1
    with text_style(10):
        fig, ax = plt.subplots(figsize=(width, height))
        fig.subplots_adjust(
            left=0.4 / width, right=1 - 0.06 / width, bottom=0.25 / height, top=0.97
        )
        mel_axes(ax, mel, cfg)
        hz_axis(ax, cfg, tuple(f for f in (100, 1000, 8000) if f < cfg.f_max))
        ax.set(xlabel="", ylabel="")
        ax.xaxis.set_major_locator(MaxNLocator(3, integer=True))
        ax.tick_params(length=2, pad=1)
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
    stacked: bool = False,
) -> Path:
    """Side-by-side 2-D scatter plots of the same points, coloured by label; ``stacked``:
    one above the other, 4.2 in wide with the legend on top and 10-point text, legible
    from about 350 px wide (a phone) up.

    Each panel is a dict: ``xy`` (N, 2), ``title``, ``xlabel``, ``ylabel``, and optionally
    ``equal`` (equal aspect), ``limits`` ((xmin, xmax, ymin, ymax)), ``circles`` (radii of
    dashed circles around the origin, e.g. the prior's 1 and 2 sigma) and ``grid``
    ((x edges, y edges) of a lattice drawn in grey). ``label_ids[k]`` indexes
    ``label_names``; -1 is drawn grey as "(no label)"."""
    plt = _pyplot()
    with text_style(10):
        return _scatter(plt, panels, np.asarray(label_ids), label_names, Path(path), dpi, stacked)


def _scatter(plt, panels, label_ids, label_names, path, dpi, stacked) -> Path:
    if stacked:
        size = (4.2, 3.9 * len(panels) + 0.5)
        fig, axes = plt.subplots(len(panels), 1, figsize=size, squeeze=False, layout="constrained")
        axes = axes.T
    else:
        size = (4.8 * len(panels) + 1.2, 4.6)
        fig, axes = plt.subplots(1, len(panels), figsize=size, squeeze=False, layout="constrained")
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
        if panel.get("grid") is None:
            ax.grid(alpha=0.2)
    handles, names = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles,
            names,
            loc="outside upper center" if stacked else "outside right upper",
            ncols=min(len(names), 3) if stacked else 1,
            markerscale=1.5,
            frameon=False,
            title=None if stacked else "label",
        )
    _save(fig, path, dpi)
    plt.close(fig)
    return path


HISTORY_PANELS = {
    "loss": ("negative ELBO per segment", ("train_loss", "val_loss")),
    "terms": ("reconstruction and KL", ("train_recon", "val_recon", "train_kl", "val_kl")),
}


def _history(history_csv: Path) -> dict[str, list[float]]:
    """history.csv as columns: epoch and each loss, or {} for a file without rows."""
    with open(history_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return {}
    names = ["epoch", *{n for _, cols in HISTORY_PANELS.values() for n in cols}]
    return {n: [float(r[n]) for r in rows] for n in names if n in rows[0]}


def _history_axes(ax, cols: dict[str, list[float]], panel: str) -> None:
    from matplotlib.ticker import LogFormatter

    title, names = HISTORY_PANELS[panel]
    marker = "." if len(cols["epoch"]) <= 40 else None  # dots where they stay apart
    for name in names:
        if name in cols:
            ax.plot(cols["epoch"], cols[name], marker=marker, label=name.replace("_", " "))
    ax.set(title=title, xlabel="epoch", yscale="log")
    ax.yaxis.set_major_formatter(LogFormatter())  # 300, not 3 x 10^2
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.legend()
    ax.grid(alpha=0.3)


def plot_history(history_csv: Path, out_png: Path) -> None:
    """Loss curves (train and validation; reconstruction and KL) as a PNG."""
    plt = _pyplot()
    cols = _history(history_csv)
    if not cols:
        return
    with text_style(9):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for ax, panel in zip(axes, HISTORY_PANELS):
            _history_axes(ax, cols, panel)
        fig.tight_layout()
        _save(fig, out_png, 100)
        plt.close(fig)


def save_history_pngs(history_csv: Path, out_dir: Path, dpi: int = 150) -> list[Path]:
    """The curves of :func:`plot_history` as one small PNG per panel (OUT_DIR/curves_loss.png,
    curves_terms.png; 4.4 x 2.9 in, 9-point text), to sit side by side on a wide screen and
    one above the other on a phone. [] for a history without rows."""
    plt = _pyplot()
    cols = _history(history_csv)
    paths = []
    for panel in HISTORY_PANELS if cols else ():
        with text_style(9):
            fig, ax = plt.subplots(figsize=(4.4, 2.9), layout="constrained")
            _history_axes(ax, cols, panel)
            path = Path(out_dir) / f"curves_{panel}.png"
            _save(fig, path, dpi)
            plt.close(fig)
        paths.append(path)
    return paths
