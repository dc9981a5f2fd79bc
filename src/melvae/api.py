"""The Python API: a trained model, loaded from its run folder, for notebooks and the CLI.

>>> import melvae
>>> model = melvae.load("runs/techno")                      # doctest: +SKIP
>>> audio, sr = model.generate(4, seed=0)                    # (4, samples), 22050
>>> z = model.encode("loop.wav", sr=None)                    # latent means, one per segment
>>> clips, joined, sr = model.interpolate("loop.wav", "techno", steps=8)
>>> track, sr, info = model.longform(60, start="loop.wav")

Every array is numpy float32; audio is mono at ``model.sample_rate``. Inference only: this
module never imports the training code (or Lightning).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from melvae.audio import inversion
from melvae.audio.inversion import DEFAULT_ITERATIONS
from melvae.config import (
    DEFAULT_TEMPERATURE,
    INTERPOLATION_FADE_SECONDS,
    INTERPOLATION_STEPS,
    STEPS_PER_TARGET,
    AudioConfig,
)
from melvae.errors import MelvaeError
from melvae.generation import inputs, labels, outputs, sequence_ops, vector_ops
from melvae.generation.inputs import pick_device
from melvae.generation.latents import crossfade_concat
from melvae.models.checkpoint import load_checkpoint


def _as_tensor(z) -> torch.Tensor:
    """Latents given as numpy (or lists) or as a tensor on any device: a float32 tensor."""
    if isinstance(z, torch.Tensor):
        return z.float()
    return torch.from_numpy(np.asarray(z, dtype=np.float32))


class Melvae:
    """A trained melvae model for inference."""

    def __init__(self, checkpoint, device: torch.device):
        self.ckpt = checkpoint
        self.model = checkpoint.model.to(device).eval()
        if checkpoint.prior is not None:
            checkpoint.prior.to(device).eval()
        self.device = device

    @classmethod
    def load(cls, path: Path | str, device: str | None = None) -> Melvae:
        """From a run folder (its best checkpoint) or a checkpoint file."""
        dev = pick_device(device)
        return cls(load_checkpoint(path, device=dev), dev)

    # -- facts -----------------------------------------------------------------------------
    @property
    def audio(self) -> AudioConfig:
        return self.ckpt.audio

    @property
    def sample_rate(self) -> int:
        return self.audio.sample_rate

    @property
    def labels(self) -> list[str]:
        return list(self.ckpt.labels)

    @property
    def kind(self) -> str:
        """ "sequence" (a latent sequence and a learned prior) or "vector" (one per segment)."""
        return self.model.kind

    @property
    def latent_dim(self) -> int:
        """Numbers per latent: the vector's size, or a sequence frame's channels."""
        return self.model.cfg.latent_size

    @property
    def conditional(self) -> bool:
        """Whether the autoencoder itself takes a label (a conditional VAE); see also
        :attr:`label_conditioned`."""
        return self.model.cfg.conditional

    @property
    def latent_rate(self) -> int | None:
        """Mel frames per latent frame (sequence kind); None for the vector kind."""
        return self.model.rate if self.kind == "sequence" else None

    @property
    def n_weights(self) -> int:
        """The autoencoder's parameter count (the prior's not included)."""
        return sum(p.numel() for p in self.model.parameters())

    @property
    def has_plane(self) -> bool:
        """A 2-D latent (vector kind): the latent map is the plane itself, with a decoded grid."""
        return self.kind == "vector" and self.latent_dim == 2

    @property
    def prior(self):
        """The sequence kind's learned prior (None for the vector kind)."""
        return self.ckpt.prior

    def _need_prior(self):
        if self.ckpt.prior is None:
            raise MelvaeError(
                "this checkpoint holds no prior (training stopped before its prior was trained): "
                "train again, or resume the run"
            )
        return self.ckpt.prior

    @property
    def info(self) -> dict[str, Any]:
        return dict(self.ckpt.info)

    def label_index(self, label: str) -> int:
        if label not in self.ckpt.labels:
            known = ", ".join(self.ckpt.labels) or "none: it was trained on unlabelled data"
            raise MelvaeError(f"unknown label {label!r}; this model knows: {known}")
        return self.ckpt.labels.index(label)

    # -- labels ----------------------------------------------------------------------------
    @property
    def label_conditioned(self) -> bool:
        """Whether generation is conditioned on a label: a conditional autoencoder, or a
        sequence model's prior trained on labelled data."""
        prior = self.ckpt.prior
        return self.model.cfg.conditional or (prior is not None and prior.cfg.n_labels > 0)

    def label_weights(self) -> np.ndarray:
        """Each label's share of the training segments (n_labels,), summing to 1; uniform for
        a checkpoint written before it stored the counts."""
        if not self.labels:
            raise MelvaeError("this model was trained on unlabelled data: it knows no labels")
        return labels.label_weights(len(self.labels), self.ckpt.label_counts)

    def draw_labels(self, n: int, seed: int | None = 0) -> list[str]:
        """n label names in the training data's proportions, seeded: what :meth:`generate_mels`
        conditions on when no label is given (:func:`labels.draw_label_ids`)."""
        return [self.labels[i] for i in labels.draw_label_ids(self.label_weights(), n, seed)]

    def fitting_label(self, mel: np.ndarray | torch.Tensor) -> str:
        """For a conditional model, the label whose conditioning reconstructs the normalized
        mel (n_mels, frames) best (:func:`labels.fitting_label_id`). A clip with no known
        label gets this one."""
        if not self.model.cfg.conditional:
            raise MelvaeError("fitting_label needs a conditional model")
        mel = mel if isinstance(mel, torch.Tensor) else torch.from_numpy(np.asarray(mel))
        return self.labels[labels.fitting_label_id(self.model, mel, len(self.labels))]

    def _embedding_schedule(self, table, names: list[str], steps: int) -> torch.Tensor | None:
        """Label embeddings of ``table`` (an nn.Embedding or None) moving through the labels
        ``names`` over ``steps`` steps: (steps, E) (:func:`labels.embedding_schedule`)."""
        if table is None:
            return None
        ids = [self.label_index(x) for x in names]
        return labels.embedding_schedule(table, ids, steps, self.device)

    # -- encode / decode -------------------------------------------------------------------
    def segments_of(self, wave: np.ndarray) -> torch.Tensor:
        """Mono audio at the model's rate -> normalized mels of consecutive segments
        (k, n_mels, frames) on the model's device (:func:`inputs.segments_of`)."""
        return inputs.segments_of(wave, self.audio, self.device)

    def encode_mel(
        self, mel: np.ndarray | torch.Tensor, label=None, indices: list[int] | None = None
    ) -> np.ndarray:
        """Normalized mels (N, n_mels, frames) -> latent means: (N, latent_dim) for the vector
        kind, (N, latent_channels, latent frames) for the sequence kind, in batches on the
        model's device. ``label``: a conditional model's label, one name for all, N names or
        (N,) label indices (a dataset's ``label_ids``); ``indices``: the rows to encode (a
        dataset's memory map is then read a batch at a time)."""
        return self.encode_posterior(mel, label, indices)[0]

    def encode_posterior(
        self, mel: np.ndarray | torch.Tensor, label=None, indices: list[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's Gaussian posterior of normalized mels: (means, log-variances), each
        shaped as :meth:`encode_mel`'s means (KL and active units need the spread)."""
        mu, logvar = self.model.encode_batched(mel, self._label_tensor(label, len(mel)), indices)
        return mu.numpy(), logvar.numpy()

    def reconstruct_mels(self, mel: np.ndarray | torch.Tensor, label=None) -> np.ndarray:
        """Mean reconstructions (the decoded latent mean) of normalized mels
        (N, n_mels, frames), batched; ``label`` as in :meth:`encode_mel`."""
        return self.decode(self.encode_mel(mel, label), label)

    def pool(self, z: np.ndarray) -> np.ndarray:
        """Latent means (as :meth:`encode_mel` gives them) -> one vector per segment
        (N, latent_dim): a sequence's time average; a vector as it is."""
        return self.model.pool(_as_tensor(z)).numpy()

    def positions(self, z: np.ndarray) -> np.ndarray:
        """Latent means -> every latent position as a row (M, latent_dim): a sequence's
        frames (N x frames rows), a vector model's segments (N rows)."""
        return self.model.positions(_as_tensor(z)).numpy()

    def encode(
        self, audio: np.ndarray | str | Path, sr: int | None = None, label: str | None = None
    ) -> np.ndarray:
        """Audio (a file, or samples at rate ``sr``) -> latent means of its consecutive
        segments: (k, latent_dim), or (k, latent_channels, frames) for the sequence kind."""
        return self.encode_mel(
            self.segments_of(inputs.mono_audio(audio, sr, self.sample_rate)), label
        )

    def decode(self, z: np.ndarray | torch.Tensor, label=None) -> np.ndarray:
        """Latents (as :meth:`encode` gives them) -> normalized mels (B, n_mels, frames) in
        [0, 1]; ``label`` as in :meth:`encode_mel`."""
        return self._decode(_as_tensor(z), label).cpu().numpy()

    def _decode(
        self,
        z: torch.Tensor,
        label: str | None = None,
        cond: torch.Tensor | None = None,
        batch_size: int = 16,
    ) -> torch.Tensor:
        z = z.to(self.device, torch.float32)
        z = (
            z.reshape(-1, self.latent_dim)
            if self.kind == "vector"
            else z.reshape(-1, *z.shape[-2:])
        )
        ids = self._label_tensor(label, len(z)) if cond is None else None
        out = []
        with torch.no_grad():
            for i in range(0, len(z), batch_size):
                zb = z[i : i + batch_size]
                c = cond[i : i + batch_size] if cond is not None else None
                lab = ids[i : i + batch_size] if ids is not None else None
                out.append(self.model.decode(zb, lab, cond=c))
        return torch.cat(out)

    def _label_tensor(self, label, n: int) -> torch.Tensor | None:
        """(n,) label indices for a conditional model: ``label`` one name for all, n names, or
        already (n,) indices (a tensor or an array, such as a dataset's ``label_ids``)."""
        if not self.model.cfg.conditional:
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

    def mel_to_audio(
        self, mel: np.ndarray | torch.Tensor, n_iter: int = DEFAULT_ITERATIONS, seed: int | None = 0
    ) -> np.ndarray:
        """Normalized mels (..., n_mels, frames) -> audio (..., samples), fast Griffin-Lim.

        A whole segment's mel gives exactly ``segment_samples`` samples (a clip as long as
        the segments the model learned from); other lengths give (frames - 1) * hop_length.
        """
        frames = mel.shape[-1]
        length = self.audio.segment_samples if frames == self.audio.segment_frames else None
        return inversion.mel_to_audio(
            mel, self.audio, n_iter=n_iter, seed=seed, device=self.device, length=length
        )

    def decode_audio(
        self, z, label: str | None = None, n_iter: int = DEFAULT_ITERATIONS, seed: int | None = 0
    ) -> tuple[np.ndarray, int]:
        """Latents (B, latent_dim) -> (audio (B, samples), sample_rate)."""
        return self.mel_to_audio(self._decode(_as_tensor(z), label), n_iter, seed), self.sample_rate

    # -- generation ------------------------------------------------------------------------
    def sample_latents(
        self, n: int, label: str | None = None, temperature: float = 1.0, seed: int | None = 0
    ) -> np.ndarray:
        """Draws from the prior: the vector kind's N(0, I) (n, latent_dim), for a label of an
        unconditional model around that label's centroid (the mean latent of its training
        segments); the sequence kind's learned prior, one segment each (n, channels, frames)."""
        return self._sample(n, label, temperature, seed).cpu().numpy()

    def _sample(self, n, label, temperature, seed) -> torch.Tensor:
        return self._ops.sample(self, n, label, temperature, seed)[0]

    @property
    def _ops(self):
        """The module holding this kind's sampling, interpolation and long tracks."""
        return sequence_ops if self.kind == "sequence" else vector_ops

    def generate_mels(
        self,
        n: int,
        label: str | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        seed: int | None = 0,
        return_labels: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, list[str | None]]:
        """n new normalized mels (n, n_mels, frames). With no ``label``, a label-conditioned
        model draws one per clip in the training data's proportions (:meth:`draw_labels`).
        ``return_labels``: also return each clip's label (None where the model takes none)."""
        z, ids = self._ops.sample(self, n, label, temperature, seed)
        names = [label] * n if ids is None else [self.labels[int(i)] for i in ids]
        mels = self._decode(z, ids if ids is not None else label).cpu().numpy()
        return (mels, names) if return_labels else mels

    def generate(
        self,
        n: int = 1,
        label: str | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        seed: int | None = 0,
        n_iter: int = DEFAULT_ITERATIONS,
    ) -> tuple[np.ndarray, int]:
        """n new clips: (audio (n, samples), sample_rate). Same seed, same audio."""
        return self.mel_to_audio(
            self.generate_mels(n, label, temperature, seed), n_iter, seed
        ), self.sample_rate

    # -- interpolation ---------------------------------------------------------------------
    def endpoint(self, spec, sr: int | None = None, label: str | None = None):
        """A vector model's interpolation endpoint: :func:`vector_ops.endpoint`."""
        return vector_ops.endpoint(self, spec, sr, label)

    def latent_of(
        self,
        clip: np.ndarray | str | Path,
        sr: int | None = None,
        label: str | None = None,
        where: str = "middle",
    ) -> np.ndarray:
        """Latent mean (latent_dim,) of one segment of a clip: a normalized mel
        (n_mels, frames), an audio file, or samples at ``sr``; the file's middle or first
        segment. A conditional model encodes it with ``label``, or with its
        :meth:`fitting_label` where none is given."""
        return inputs.clip_latent(self, clip, sr, label, where)[0]

    def interpolate_mels(
        self,
        a,
        b,
        steps: int = INTERPOLATION_STEPS,
        sr: int | None = None,
        label_a: str | None = None,
        label_b: str | None = None,
        seed: int | None = 0,
    ) -> np.ndarray:
        """Mels of ``steps`` points from a to b by spherical interpolation of their latent
        means (endpoints included): (steps, n_mels, frames). On a conditional model each clip
        is encoded with its label (``label_a`` / ``label_b``, else its :meth:`fitting_label`)
        and the decoder's label conditioning moves from a's label to b's along the path.
        ``seed``: the sequence kind's prior samples (label endpoints)."""
        if steps < 2:
            raise MelvaeError("steps must be >= 2")
        mels = self._ops.interpolate_mels(self, a, b, steps, sr, seed, label_a, label_b)
        return mels.cpu().numpy()

    def interpolate(
        self,
        a,
        b,
        steps: int = INTERPOLATION_STEPS,
        sr: int | None = None,
        fade_seconds: float = INTERPOLATION_FADE_SECONDS,
        n_iter: int = DEFAULT_ITERATIONS,
        seed: int | None = 0,
        label_a: str | None = None,
        label_b: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """(clips (steps, samples), the clips joined with crossfades, sample_rate); the
        labels as in :meth:`interpolate_mels`."""
        mels = self.interpolate_mels(a, b, steps, sr, label_a, label_b, seed)
        clips = self.mel_to_audio(mels, n_iter, seed)
        joined = crossfade_concat(list(clips), int(fade_seconds * self.sample_rate))
        return clips, joined, self.sample_rate

    # -- files (melvae.generation.outputs) ---------------------------------------------------------
    def write_clips(self, out_dir, mels, names, **kwargs) -> list[Path]:
        """Invert mels; write OUT_DIR/NAME.wav and a mel PNG each: :func:`outputs.write_clips`."""
        return outputs.write_clips(self, out_dir, mels, names, **kwargs)

    def write_interpolation(self, out_dir, a, b, **kwargs) -> Path:
        """Steps and their joined transition as WAV: :func:`outputs.write_interpolation`."""
        return outputs.write_interpolation(self, out_dir, a, b, **kwargs)

    def write_longform(self, path, seconds: float, start=None, **kwargs) -> dict:
        """Stream a long track to disk with its .json: :func:`outputs.write_longform`."""
        return outputs.write_longform(self, path, seconds, start, **kwargs)

    # -- long tracks -----------------------------------------------------------------------
    def longform_stream(
        self,
        seconds: float,
        start=None,
        label: str | None = None,
        bpm: float | None = None,
        seed: int = 0,
        temperature: float = DEFAULT_TEMPERATURE,
        steps_per_target: int = STEPS_PER_TARGET,
        n_iter: int = DEFAULT_ITERATIONS,
        start_sr: int | None = None,
        labels: list[str] | None = None,
    ):
        """Yield a long track's audio blocks and its segment records (dicts); see
        :mod:`melvae.generation.longform`. ``start``: an audio file, samples at ``start_sr`` or a
        normalized mel (n_mels, frames) whose (first) segment opens the track; None starts from a
        prior (or label) sample. ``label`` / ``labels``: one label, or labels to travel through,
        spread evenly over the track; ``temperature``: a number, or for the sequence kind a
        list spread the same way. What each kind does with them:
        :func:`sequence_ops.longform_stream` (continued by the prior, no joins; ``bpm`` and
        ``steps_per_target`` do not apply) and :func:`vector_ops.longform_stream` (a latent
        walk, segments joined in the spectrogram)."""
        if self.kind == "sequence":
            return sequence_ops.longform_stream(
                self, seconds, start, label, labels, seed, temperature, n_iter, start_sr
            )
        return vector_ops.longform_stream(
            self,
            seconds,
            start,
            label,
            labels,
            bpm,
            seed,
            temperature,
            steps_per_target,
            n_iter,
            start_sr,
        )

    def longform(self, seconds: float, start=None, **kwargs) -> tuple[np.ndarray, int, dict]:
        """A whole long track in memory: (audio (samples,), sample_rate, info) where info has
        'segments' (start/end seconds, source), 'joins' (overlap centres, seconds) and, for a
        label-conditioned model, 'labels' (the label, or the schedule's labels, it followed);
        the arguments as :meth:`longform_stream`."""
        track, info = outputs.collect_longform(self, seconds, start, **kwargs)
        return track, self.sample_rate, info

    # -- measurement (used by melvae.evaluation.evaluate) ------------------------------
    def mel_to_magnitude(self, mel: np.ndarray | torch.Tensor) -> np.ndarray:
        """Normalized mels (..., n_mels, frames) -> the linear magnitude (..., n_freqs, frames)
        they imply, on the scale of :func:`melvae.audio.features.stft`: what :meth:`mel_to_audio`
        retrieves a phase for (:func:`melvae.audio.inversion.mel_to_magnitude`), computed on the
        model's device. float32."""
        with torch.no_grad():
            mag = inversion.mel_to_magnitude(_as_tensor(mel).to(self.device), self.audio)
        return mag.cpu().numpy()
