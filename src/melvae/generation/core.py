"""The inference core: what a loaded model is made of, and the jobs every kind shares.

A :class:`Core` holds the autoencoder (``network``), its prior (or None), the audio
settings, the device, the labels it knows and the mel-to-audio stage (``inverter``). It
encodes and decodes in batches, turns label names into the conditioning a network or a prior
takes, and inverts mels. The kinds (:mod:`melvae.kinds`) and the API (:mod:`melvae.api`)
are built on it; it knows no kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from melvae.audio import inversion
from melvae.audio.inverters import Inverter
from melvae.config import AudioConfig
from melvae.errors import MelvaeError
from melvae.generation import inputs, labels


class Core:
    """A trained autoencoder, with its prior and labels, on a device, with its inverter."""

    def __init__(self, checkpoint, device: torch.device, inverter: Inverter):
        self.network: nn.Module = checkpoint.model.to(device).eval()
        self.prior = checkpoint.prior
        if self.prior is not None:
            self.prior.to(device).eval()
        self.audio: AudioConfig = checkpoint.audio
        self.device = device
        self.inverter = inverter
        self.labels: list[str] = list(checkpoint.labels)
        self.label_counts = checkpoint.label_counts
        self.label_centroids = checkpoint.label_centroids
        self.info: dict[str, Any] = dict(checkpoint.info)

    @property
    def sample_rate(self) -> int:
        return self.audio.sample_rate

    @property
    def conditional(self) -> bool:
        """Whether the autoencoder itself takes a label (a conditional VAE)."""
        return self.network.cfg.conditional

    def need_prior(self):
        if self.prior is None:
            raise MelvaeError(
                "this checkpoint holds no prior (training stopped before its prior was trained): "
                "train again, or resume the run"
            )
        return self.prior

    # -- labels ----------------------------------------------------------------------------
    def label_index(self, label: str) -> int:
        if label not in self.labels:
            known = ", ".join(self.labels) or "none: it was trained on unlabelled data"
            raise MelvaeError(f"unknown label {label!r}; this model knows: {known}")
        return self.labels.index(label)

    def label_weights(self) -> np.ndarray:
        if not self.labels:
            raise MelvaeError("this model was trained on unlabelled data: it knows no labels")
        return labels.label_weights(len(self.labels), self.label_counts)

    def draw_labels(self, n: int, seed: int | None = 0) -> list[str]:
        return [self.labels[i] for i in labels.draw_label_ids(self.label_weights(), n, seed)]

    def fitting_label(self, mel: np.ndarray | torch.Tensor) -> str:
        if not self.conditional:
            raise MelvaeError("fitting_label needs a conditional model")
        mel = mel if isinstance(mel, torch.Tensor) else torch.from_numpy(np.asarray(mel))
        return self.labels[labels.fitting_label_id(self.network, mel, len(self.labels))]

    def embedding_schedule(
        self, table: nn.Embedding | None, names: list[str], steps: int
    ) -> torch.Tensor | None:
        """Label embeddings of ``table`` (a network's or a prior's, or None) moving through
        the labels ``names`` over ``steps`` steps: (steps, E)
        (:func:`labels.embedding_schedule`)."""
        if table is None:
            return None
        ids = [self.label_index(x) for x in names]
        return labels.embedding_schedule(table, ids, steps, self.device)

    def label_ids(self, label, n: int) -> torch.Tensor | None:
        """(n,) label indices for a conditional model: ``label`` one name for all, n names, or
        already (n,) indices (a tensor or an array, such as a dataset's ``label_ids``)."""
        if not self.conditional:
            return None
        if isinstance(label, torch.Tensor):  # np.asarray of a GPU tensor would fail
            return label.to(self.device).long().reshape(n)
        if isinstance(label, (list, tuple)):
            if any(x is None for x in label):
                label = None  # a clip with no label: the error below
            elif all(isinstance(x, str) for x in label):
                label = [self.label_index(x) for x in label]
        if not (label is None or isinstance(label, str)):
            return torch.as_tensor(np.asarray(label), dtype=torch.long).to(self.device).reshape(n)
        if label is None:
            raise MelvaeError(
                "this model is conditional: name a label (" + ", ".join(self.labels) + ")"
            )
        return torch.full((n,), self.label_index(label), dtype=torch.long, device=self.device)

    # -- encode / decode / invert ------------------------------------------------------------
    def segments_of(self, wave: np.ndarray) -> torch.Tensor:
        return inputs.segments_of(wave, self.audio, self.device)

    def encode_posterior(self, mel, label=None, indices: list[int] | None = None):
        """(means, log-variances) of normalized mels (N, n_mels, frames), as numpy."""
        mu, logvar = self.network.encode_batched(mel, self.label_ids(label, len(mel)), indices)
        return mu.numpy(), logvar.numpy()

    def encode_mel(self, mel, label=None, indices: list[int] | None = None) -> np.ndarray:
        return self.encode_posterior(mel, label, indices)[0]

    def decode(
        self,
        z: torch.Tensor,
        label=None,
        cond: torch.Tensor | None = None,
        batch_size: int = 16,
    ) -> torch.Tensor:
        """A batch of latents z (B, ...) -> normalized mels (B, n_mels, frames), decoded a
        batch at a time, conditioned on ``label`` (as :meth:`label_ids` takes it) or on label
        embeddings ``cond`` (B, E) given directly."""
        z = z.to(self.device, torch.float32)
        ids = self.label_ids(label, len(z)) if cond is None else None
        out = []
        with torch.no_grad():
            for i in range(0, len(z), batch_size):
                c = cond[i : i + batch_size] if cond is not None else None
                lab = ids[i : i + batch_size] if ids is not None else None
                out.append(self.network.decode(z[i : i + batch_size], lab, cond=c))
        return torch.cat(out)

    def mel_to_audio(self, mel, seed: int | None = 0) -> np.ndarray:
        """Normalized mels (..., n_mels, frames) -> audio (..., samples) through the inverter.
        A whole segment's mel gives exactly ``segment_samples`` samples; other lengths give
        (frames - 1) * hop_length."""
        frames = mel.shape[-1]
        length = self.audio.segment_samples if frames == self.audio.segment_frames else None
        return self.inverter.invert(mel, seed=seed, length=length)

    def mel_to_magnitude(self, mel: torch.Tensor) -> np.ndarray:
        """Normalized mels (..., n_mels, frames) -> the linear magnitude (..., n_freqs,
        frames) they imply, on the scale of :func:`melvae.audio.features.stft`: what a phase
        is retrieved for (:func:`melvae.audio.inversion.mel_to_magnitude`), on the device."""
        with torch.no_grad():
            mag = inversion.mel_to_magnitude(mel.to(self.device, torch.float32), self.audio)
        return mag.cpu().numpy()
