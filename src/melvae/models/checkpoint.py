"""Save and load model checkpoints that rebuild their model with no other file.

A checkpoint is a ``torch.save`` dict of tensors and plain Python values, loaded with
``weights_only=True`` (no pickled code runs on load):

    format_version   int, CHECKPOINT_FORMAT_VERSION
    melvae_version   str
    audio            dict  -> AudioConfig        } the run's configuration, under the keys
    model            dict  -> ModelConfig        } of its config.json (see train.py)
    labels           list[str], index = label id ([] when the data had none)
    label_centroids  Tensor (n_labels, latent size): mean (time-pooled) latent of each
                     label's segments
    state_dict       the autoencoder's weights (model["kind"] names it in melvae.registry.KINDS)
    prior_config     dict -> PriorConfig, or None (a learned prior; its ``kind`` names it in
                     melvae.registry.PRIORS: absent in files before it, meaning "gru")
    prior_state_dict the prior's weights, or None
    info             dict, free-form (epoch, validation loss, ...)
    train            dict -> TrainConfig, or None: the run's training settings (its
                     validation split among them), so the checkpoint needs no config.json
    label_counts     list[int], or None: training segments of each label (the proportions
                     a conditional model draws labels in when none is asked for)

Format 2 added the sequence kind and its prior; format 3 renamed audio_config, model_config
and train_config to config.json's keys. Files of formats 1 (always the vector kind) and 2
still load. ``train`` and ``label_counts`` are optional: a file written before them loads
with None. ``checksum`` (see :mod:`melvae.models.integrity`) is checked at load where
present (files written before it load unchecked); weights that are not finite are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from melvae.config import CHECKPOINT_FORMAT_VERSION, AudioConfig, ModelConfig, PriorConfig
from melvae.errors import MelvaeError
from melvae.layout import BEST, LAST
from melvae.models import build_network
from melvae.models.integrity import check_finite, save_sealed, verify
from melvae.models.priors import build_prior
from melvae.models.priors.base import Prior
from melvae.version import __version__

READABLE_FORMATS = (1, 2, CHECKPOINT_FORMAT_VERSION)
# format 3's names of the run configuration, and what formats 1 and 2 called them
OLD_KEYS = {"audio": "audio_config", "model": "model_config", "train": "train_config"}


@dataclass
class Checkpoint:
    model: nn.Module  # the kind's network (melvae.registry.KINDS)
    audio: AudioConfig
    labels: list[str]
    label_centroids: torch.Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)
    prior: Prior | None = None
    train_config: dict[str, Any] | None = None  # TrainConfig.to_dict() of the run
    label_counts: list[int] | None = None  # training segments per label, index = label id


def save_checkpoint(path: Path | str, ckpt: Checkpoint) -> Path:
    """Write atomically, with a checksum of the contents (melvae.models.integrity): a crash,
    a full disk or Ctrl-C mid-write never leaves a truncated checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "melvae_version": __version__,
        "audio": ckpt.audio.to_dict(),
        "model": ckpt.model.cfg.to_dict(),
        "labels": list(ckpt.labels),
        "label_centroids": ckpt.label_centroids,
        "state_dict": _cpu_state(ckpt.model),
        "prior_config": None if ckpt.prior is None else ckpt.prior.cfg.to_dict(),
        "prior_state_dict": None if ckpt.prior is None else _cpu_state(ckpt.prior),
        "info": dict(ckpt.info),
        "train": None if ckpt.train_config is None else dict(ckpt.train_config),
        "label_counts": None if ckpt.label_counts is None else [int(c) for c in ckpt.label_counts],
    }
    return save_sealed(path, payload)


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def resolve_checkpoint(path: Path | str) -> Path:
    """A run folder means its best checkpoint (or the last, if no best was kept)."""
    path = Path(path)
    if path.is_dir():
        for name in (BEST, LAST):
            if (path / name).is_file():
                return path / name
        raise MelvaeError(f"{path} holds no checkpoint ({BEST} or {LAST}): is it a run folder?")
    if not path.is_file():
        raise MelvaeError(f"no such checkpoint or run folder: {path}")
    return path


def load_checkpoint(path: Path | str, device: torch.device | str = "cpu") -> Checkpoint:
    """Rebuild the model from a checkpoint file or run folder, in eval mode."""
    path = resolve_checkpoint(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise  # unreadable (a permission, a disk fault): the CLI says so in one line
    except Exception as exc:
        raise MelvaeError(f"{path} is not a melvae checkpoint ({exc.__class__.__name__})") from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise MelvaeError(f"{path} is not a melvae checkpoint")
    version = payload["format_version"]
    if version not in READABLE_FORMATS:
        raise MelvaeError(
            f"{path} has checkpoint format {version}, this melvae ({__version__}) reads "
            f"format {CHECKPOINT_FORMAT_VERSION}: retrain, or use the melvae version that wrote it "
            f"({payload.get('melvae_version', 'unknown')})"
        )
    payload = verify(path, payload)
    check_finite(path, payload)
    for key, old in OLD_KEYS.items():
        if key not in payload and old in payload:
            payload[key] = payload[old]
    model = build_network(ModelConfig.from_dict(payload["model"]))
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    prior = None
    if payload.get("prior_config") is not None:
        prior = build_prior(PriorConfig.from_dict(payload["prior_config"]))
        prior.load_state_dict(payload["prior_state_dict"])
        prior.to(device).eval()
    return Checkpoint(
        prior=prior,
        model=model,
        audio=AudioConfig.from_dict(payload["audio"]),
        labels=list(payload["labels"]),
        label_centroids=payload.get("label_centroids"),
        info=dict(payload.get("info") or {}),
        train_config=payload.get("train"),
        label_counts=payload.get("label_counts"),
    )
