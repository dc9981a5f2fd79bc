"""The names of the files in a dataset folder and a run folder, and the reader of a run's
config.json: defined once, importing no torch (the CLI and scripts read them cheaply).

A dataset folder (written by :mod:`melvae.data.preprocess`, read by :mod:`melvae.data.dataset`):

    mels.npy            float16 (N, n_mels, frames), values in [0, 1]
    manifest.csv        one row per segment: index, source, start_seconds, label, start_sample
    audio_config.json   the AudioConfig, the dataset format version, the hop and audio folder
    summary.json        files read and skipped, segments, hours of audio
    beats.npz           per segment: each mel frame's beat phase (NaN: no clear beat), the
                        track's tempo; absent from datasets made before beats were tracked

A run folder (written by :mod:`melvae.training.train`):

    config.json         the audio, model and training settings and the dataset path
    best.pt, last.pt    melvae checkpoints (see :mod:`melvae.models.checkpoint`)
    history.csv         one row per epoch
    curves.png          the loss curves
    resume.ckpt         Lightning's full state, for --resume
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from melvae.errors import MelvaeError

# -- dataset folder ---------------------------------------------------------------------------
MELS = "mels.npy"
MANIFEST = "manifest.csv"
AUDIO_CONFIG = "audio_config.json"
SUMMARY = "summary.json"
BEATS = "beats.npz"

# -- run folder -------------------------------------------------------------------------------
RUN_CONFIG = "config.json"
BEST = "best.pt"
LAST = "last.pt"
HISTORY = "history.csv"
CURVES = "curves.png"
RESUME = "resume.ckpt"


def read_run_config(run_dir: Path | str, required: bool = True) -> dict[str, Any]:
    """A run folder's config.json (the folder beside a checkpoint file is used when given one):
    dataset path, labels, and the audio, model and training settings.

    ``required=False``: ``{}`` where the file is missing or unreadable, and no check that it
    records training settings (the report shows what it can without one)."""
    run_dir = Path(run_dir)
    folder = run_dir if run_dir.is_dir() else run_dir.parent
    path = folder / RUN_CONFIG
    if not path.is_file():
        if not required:
            return {}
        raise MelvaeError(f"{folder} holds no {RUN_CONFIG}: is it a run folder of `melvae train`?")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        if not required:
            return {}
        if isinstance(exc, OSError):
            raise MelvaeError(f"cannot read {path}: {exc.strerror}") from None
        raise MelvaeError(f"{path} is not valid JSON: {exc}") from None
    if required and "train" not in config:
        raise MelvaeError(f"{path} records no training settings")
    return config


def same_path(a: Path | str | None, b: Path | str | None) -> bool:
    """Whether two paths name the same file or folder (False when either is None or cannot
    be resolved)."""
    if a is None or b is None:
        return False
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False
