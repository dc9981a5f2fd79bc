"""Small matplotlib figures shared by the commands (PNG files, headless backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from melvae.config import AudioConfig


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    image = mel_axes(ax, mel, cfg, title)
    fig.colorbar(image, ax=ax, label="dB")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
