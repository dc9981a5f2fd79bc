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

from melvae import inversion, outputs, sequence_ops, vector_ops
from melvae.audio import load_audio, resample
from melvae.checkpoint import load_checkpoint
from melvae.config import AudioConfig
from melvae.errors import MelvaeError
from melvae.features import log_mel
from melvae.generate import crossfade_concat, sample_latents, slerp
from melvae.inversion import DEFAULT_ITERATIONS
from melvae.outputs import describe_track


def _as_tensor(z) -> torch.Tensor:
    """Latents given as numpy (or lists) or as a tensor on any device: a float32 tensor."""
    if isinstance(z, torch.Tensor):
        return z.float()
    return torch.from_numpy(np.asarray(z, dtype=np.float32))


def pick_device(device: str | None = None) -> torch.device:
    """'auto' or None: CUDA if present, else Apple MPS, else CPU."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise MelvaeError(f"unknown device {device!r}: use auto, cpu, cuda or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MelvaeError("--device cuda asked for, but no CUDA GPU is available")
    return dev


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
        counts = self.ckpt.label_counts
        if counts is None or len(counts) != len(self.labels) or sum(counts) <= 0:
            return np.full(len(self.labels), 1.0 / len(self.labels))
        w = np.asarray(counts, dtype=np.float64)
        return w / w.sum()

    def draw_labels(self, n: int, seed: int | None = 0) -> list[str]:
        """n label names in the training data's proportions, seeded: what :meth:`generate_mels`
        conditions on when no label is given (same n and seed, same labels).

        Systematic sampling: n evenly spaced points with one random offset over the labels'
        cumulative shares, then shuffled; each label gets floor or ceil of n x its share (an
        unbiased draw with no sampling noise beyond rounding), and n = 1 is an ordinary draw.
        """
        weights = self.label_weights()
        rng = np.random.default_rng(None if seed is None else [seed, 0x1AB])
        points = (rng.random() + np.arange(n)) / n
        edges = np.cumsum(weights)
        ids = np.minimum(np.searchsorted(edges, points, side="right"), len(weights) - 1)
        return [self.labels[i] for i in rng.permutation(ids)]

    def fitting_label(self, mel: np.ndarray | torch.Tensor) -> str:
        """For a conditional model, the label whose conditioning reconstructs the normalized
        mel (n_mels, frames) best: encoded and decoded (latent mean) under each label, the
        lowest summed squared error. A clip with no known label gets this one."""
        if not self.model.cfg.conditional:
            raise MelvaeError("fitting_label needs a conditional model")
        if not isinstance(mel, torch.Tensor):
            mel = torch.from_numpy(np.asarray(mel, dtype=np.float32))
        mel = mel.to(self.device, torch.float32).reshape(1, *mel.shape[-2:])
        errors = []
        with torch.no_grad():
            for i in range(0, len(self.labels), 16):
                ids = torch.arange(i, min(i + 16, len(self.labels)), device=self.device)
                batch = mel.expand(len(ids), -1, -1)
                mu, _ = self.model.encode(batch, ids)
                recon = self.model.decode(mu, ids)
                errors.append(((recon - batch) ** 2).flatten(1).sum(1).cpu())
        return self.labels[int(torch.cat(errors).argmin())]

    # -- encode / decode -------------------------------------------------------------------
    def segments_of(self, wave: np.ndarray) -> torch.Tensor:
        """Mono audio at the model's rate -> normalized mels of consecutive segments
        (k, n_mels, frames); a clip shorter than one segment is zero-padded."""
        seg = self.audio.segment_samples
        wave = np.asarray(wave, dtype=np.float32).reshape(-1)
        if len(wave) < seg:
            wave = np.pad(wave, (0, seg - len(wave)))
        k = len(wave) // seg
        frames = torch.from_numpy(np.ascontiguousarray(wave[: k * seg].reshape(k, seg)))
        with torch.no_grad():
            return log_mel(frames.to(self.device), self.audio)

    def _audio_input(self, audio: np.ndarray | str | Path, sr: int | None) -> np.ndarray:
        """A file, or samples (samples,) or (samples, channels) at ``sr``: mono at our rate."""
        if isinstance(audio, (str, Path)):
            return load_audio(audio, self.sample_rate)
        wave = np.asarray(audio, dtype=np.float32)
        if wave.ndim == 2:  # (samples, channels), as soundfile reads it: mix to mono
            wave = wave.mean(axis=1)
        if wave.ndim != 1:
            raise MelvaeError(f"audio must be (samples,) or (samples, channels), got {wave.shape}")
        if sr is None or sr == self.sample_rate:
            return wave
        return resample(wave, sr, self.sample_rate)

    def encode_mel(self, mel: np.ndarray | torch.Tensor, label: str | None = None) -> np.ndarray:
        """Normalized mels (B, n_mels, frames) -> latent means: (B, latent_dim) for the vector
        kind, (B, latent_channels, latent frames) for the sequence kind."""
        if not isinstance(mel, torch.Tensor):  # np.asarray of a GPU tensor would fail
            mel = torch.from_numpy(np.asarray(mel, dtype=np.float32))
        mel_t = mel.to(self.device, torch.float32)
        with torch.no_grad():
            mu, _ = self.model.encode(mel_t, self._label_tensor(label, len(mel_t)))
        return mu.cpu().numpy()

    def encode(
        self, audio: np.ndarray | str | Path, sr: int | None = None, label: str | None = None
    ) -> np.ndarray:
        """Audio (a file, or samples at rate ``sr``) -> latent means of its consecutive
        segments: (k, latent_dim), or (k, latent_channels, frames) for the sequence kind."""
        return self.encode_mel(self.segments_of(self._audio_input(audio, sr)), label)

    def decode(self, z: np.ndarray | torch.Tensor, label: str | None = None) -> np.ndarray:
        """Latents (as :meth:`encode` gives them) -> normalized mels (B, n_mels, frames) in
        [0, 1]."""
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
        """(n,) label indices for a conditional model: ``label`` a name, or already (n,)
        indices."""
        if not self.model.cfg.conditional:
            return None
        if isinstance(label, torch.Tensor):
            return label.to(self.device).long().reshape(n)
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
        if self.kind == "sequence":
            return sequence_ops.sample(self, n, label, temperature, seed)[0]
        center = None
        if label is not None and not self.model.cfg.conditional:
            center = self._centroid(label)
            temperature *= 0.5  # stay near the label's region, not anywhere in the prior
        return sample_latents(n, self.latent_dim, temperature, seed, center=center)

    def _centroid(self, label: str) -> torch.Tensor:
        idx = self.label_index(label)
        if self.ckpt.label_centroids is None:
            raise MelvaeError("this checkpoint holds no label centroids")
        return self.ckpt.label_centroids[idx].float()

    def generate_mels(
        self,
        n: int,
        label: str | None = None,
        temperature: float = 1.0,
        seed: int | None = 0,
        return_labels: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, list[str | None]]:
        """n new normalized mels (n, n_mels, frames). With no ``label``, a label-conditioned
        model draws one per clip in the training data's proportions (:meth:`draw_labels`).
        ``return_labels``: also return each clip's label (None where the model takes none)."""
        if self.kind == "sequence":
            z, ids = sequence_ops.sample(self, n, label, temperature, seed)
            names = [label] * n if ids is None else [self.labels[int(i)] for i in ids]
            mels = self._decode(z, ids if label is None else label).cpu().numpy()
        else:
            names, ids = [label] * n, None
            if self.model.cfg.conditional:
                names = self.draw_labels(n, seed) if label is None else names
                ids = torch.tensor([self.label_index(x) for x in names], device=self.device)
            z = self._sample(n, label, temperature, seed)
            mels = self._decode(z, ids if ids is not None else label).cpu().numpy()
        return (mels, names) if return_labels else mels

    def generate(
        self,
        n: int = 1,
        label: str | None = None,
        temperature: float = 1.0,
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

    def _embedding(self, label: str) -> torch.Tensor:
        """A conditional decoder's embedding of ``label``: (label_embedding_dim,), on the CPU."""
        return self.model.label_embedding.weight[self.label_index(label)].detach().cpu()

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
        return self._clip_latent(clip, sr, label, where)[0]

    def _clip_latent(
        self, clip, sr: int | None, label: str | None, where: str = "middle"
    ) -> tuple[np.ndarray, str | None]:
        """(latent mean of one segment of the clip, the label it was encoded with)."""
        mel = self._segment_mel(clip, sr, where)
        if label is None and self.model.cfg.conditional:
            label = self.fitting_label(mel)
        return self.encode_mel(mel[None], label)[0], label

    def _segment_mel(self, clip, sr: int | None, where: str = "middle") -> torch.Tensor:
        """One normalized mel segment (n_mels, frames) of a clip (see :meth:`latent_of`)."""
        arr = None if isinstance(clip, (str, Path)) else np.asarray(clip, dtype=np.float32)
        if arr is not None and arr.shape == (self.audio.n_mels, self.audio.segment_frames):
            return torch.from_numpy(arr).to(self.device)
        mels = self.segments_of(self._audio_input(clip, sr))
        return mels[len(mels) // 2] if where == "middle" else mels[0]

    def interpolate_mels(
        self,
        a,
        b,
        steps: int = 8,
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
        if self.kind == "sequence":
            mels = sequence_ops.interpolate_mels(self, a, b, steps, sr, seed, label_a, label_b)
            return mels.cpu().numpy()
        (za, ca, _), (zb, cb, _) = self.endpoint(a, sr, label_a), self.endpoint(b, sr, label_b)
        t = torch.linspace(0, 1, steps)
        z = slerp(za.float(), zb.float(), t)
        cond = None
        if ca is not None and cb is not None:
            cond = ((1 - t)[:, None] * ca + t[:, None] * cb).to(self.device)
        return self._decode(z, cond=cond).cpu().numpy()

    def check_endpoint(self, spec) -> None:
        """A string that names neither a label nor an existing file is a user error."""
        named = isinstance(spec, (str, Path)) and spec not in self.ckpt.labels
        if named and not Path(spec).exists():
            known = ", ".join(self.labels)
            raise MelvaeError(
                f"{spec!r} is neither an audio file nor a label"
                + (f" (labels: {known})" if known else "")
            )

    def _is_label(self, spec) -> bool:
        return isinstance(spec, str) and spec in self.ckpt.labels

    def _embedding_path(self, table, a: str, b: str, t: torch.Tensor) -> torch.Tensor | None:
        """Label embeddings of ``table`` (an nn.Embedding or None) blended from a to b: (k, E)."""
        if table is None:
            return None
        ea, eb = (table.weight[self.label_index(x)].detach() for x in (a, b))
        t = t.to(ea.device)[:, None]
        return (1 - t) * ea + t * eb

    def interpolate(
        self,
        a,
        b,
        steps: int = 8,
        sr: int | None = None,
        fade_seconds: float = 1.0,
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

    # -- files -----------------------------------------------------------------------------
    # -- files (melvae.outputs) ---------------------------------------------------------
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
        temperature: float = 1.0,
        steps_per_target: int = 4,
        n_iter: int = DEFAULT_ITERATIONS,
        start_sr: int | None = None,
        labels: list[str] | None = None,
    ):
        """Yield a long track's audio blocks and its segment records (dicts); see
        :mod:`melvae.longform`. ``start``: an audio file, samples at ``start_sr`` or a normalized
        mel (n_mels, frames) whose (first) segment opens the track; None starts from a prior
        (or label) sample.

        The sequence kind continues the start with its prior, with no segments and no joins
        (``bpm`` and ``steps_per_target`` do not apply): ``labels`` (names spread evenly over
        the track, the conditioning moving linearly between them) and ``temperature`` (a number
        or a list, spread the same way) steer it; with neither ``label`` nor ``labels`` a
        labelled model uses the start's label (a conditional model's :meth:`fitting_label`,
        else the one under which the prior finds the start most likely), or with no start a
        drawn one (:meth:`draw_labels`).

        A conditional vector model is conditioned on ``label``, else on the start's
        :meth:`fitting_label`, else on a drawn label; ``labels`` moves its decoder's label
        embedding through the names instead, segment k of n taking the schedule's value at
        k / (n - 1) (the start is still encoded with its own label). On an unconditional vector
        model ``label`` walks near that label's centroid, and ``labels`` is an error."""
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
        label-conditioned model, 'labels' (the label, or the schedule's labels, it followed)."""
        blocks, segments, head = [], [], {}
        for item in self.longform_stream(seconds, start, **kwargs):
            if isinstance(item, np.ndarray):
                blocks.append(item)
            elif "plan" in item:
                head = item
            else:
                segments.append(item)
        info = describe_track(head["plan"], segments, self.audio)
        if head.get("labels"):
            info["labels"] = list(head["labels"])
        return np.concatenate(blocks), self.sample_rate, info

    # -- measurement (used by melvae.evaluate) ---------------------------------------------
    # Two things the methods above keep inside: the encoder's spread (KL and active units
    # need it) and the magnitude the inversion starts from (its error before phase retrieval).
    def encode_posterior(
        self, mel: np.ndarray | torch.Tensor, label: str | torch.Tensor | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Normalized mels (B, n_mels, frames) -> the encoder's Gaussian posterior (means,
        log-variances), each shaped as :meth:`encode_mel`'s means. ``label``: a name, or one
        label index per mel (B,) for a conditional model."""
        mel_t = _as_tensor(mel).to(self.device)
        with torch.no_grad():
            mu, logvar = self.model.encode(mel_t, self._label_tensor(label, len(mel_t)))
        return mu.cpu().numpy(), logvar.cpu().numpy()

    def mel_to_magnitude(self, mel: np.ndarray | torch.Tensor) -> np.ndarray:
        """Normalized mels (..., n_mels, frames) -> the linear magnitude (..., n_freqs, frames)
        they imply, on the scale of :func:`melvae.features.stft`: what :meth:`mel_to_audio`
        retrieves a phase for (:func:`melvae.inversion.mel_to_magnitude`), computed on the
        model's device. float32."""
        with torch.no_grad():
            mag = inversion.mel_to_magnitude(_as_tensor(mel).to(self.device), self.audio)
        return mag.cpu().numpy()
