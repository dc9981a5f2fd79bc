"""The Python API: a trained model, loaded from its run folder, for notebooks and the CLI.

>>> import melvae
>>> model = melvae.load("runs/techno")                      # doctest: +SKIP
>>> audio, sr = model.generate(4, seed=0)                    # (4, samples), 22050
>>> z = model.encode("loop.wav", sr=None)                    # latent means, one per segment
>>> clips, joined, sr = model.interpolate("loop.wav", "techno", steps=8)
>>> track, sr, info = model.longform(60, start="loop.wav")

Every array is numpy float32; audio is mono at ``model.sample_rate``. A thin face over the
inference core (:class:`melvae.generation.core.Core`: network, prior, labels, the
mel-to-audio stage) and the model's kind (:mod:`melvae.kinds`), which do the work.
Inference only: this module never imports the training code (or Lightning).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from melvae import registry
from melvae.audio.inverters import build_inverter
from melvae.config import (
    CLIP_REPEAT,
    DEFAULT_TEMPERATURE,
    INTERPOLATION_FADE_SECONDS,
    INTERPOLATION_STEPS,
    LOOP_REPEAT,
)
from melvae.errors import MelvaeError
from melvae.generation import inputs, outputs
from melvae.generation.core import Core
from melvae.generation.latents import crossfade_concat
from melvae.kinds import build_kind
from melvae.kinds.base import TrackRequest
from melvae.models.checkpoint import load_checkpoint


def _as_tensor(z) -> torch.Tensor:
    """Latents given as numpy (or lists) or as a tensor on any device: a float32 tensor."""
    if isinstance(z, torch.Tensor):
        return z.float()
    return torch.from_numpy(np.asarray(z, dtype=np.float32))


class Melvae:
    """A trained melvae model for inference."""

    def __init__(self, core: Core, kind: str):
        self.core, self.kind = core, kind  # kind: its name in melvae.registry.KINDS
        self._kind = build_kind(kind, core)

    @classmethod
    def load(
        cls,
        path: Path | str,
        device: str | None = None,
        inverter: str | None = None,
        **inverter_options: Any,
    ) -> Melvae:
        """From a run folder (its best checkpoint) or a checkpoint file. ``inverter`` names
        the mel-to-audio stage (default: fast Griffin-Lim) and ``inverter_options`` are its
        own (Griffin-Lim's: ``n_iter``, ``init``)."""
        dev = inputs.pick_device(device)
        ckpt = load_checkpoint(path, device=dev)
        stage = build_inverter(ckpt.audio, dev, inverter, **inverter_options)
        return cls(Core(ckpt, dev, stage), ckpt.model.cfg.kind)

    # -- facts (read-only views of the core and the kind) ------------------------------------
    audio = property(lambda self: self.core.audio, doc="The AudioConfig it was trained at.")
    sample_rate = property(lambda self: self.core.audio.sample_rate)
    device = property(lambda self: self.core.device)
    labels = property(lambda self: list(self.core.labels), doc="Label names, index = id.")
    prior = property(lambda self: self.core.prior, doc="The learned prior, or None.")
    inverter = property(lambda self: self.core.inverter, doc="The mel-to-audio stage.")
    info = property(lambda self: dict(self.core.info), doc="The checkpoint's facts.")
    conditional = property(lambda self: self.core.conditional, doc="A conditional VAE?")
    latent_dim = property(lambda self: self._kind.latent_dim, doc="Numbers per latent.")
    latent_rate = property(
        lambda self: self._kind.latent_rate,
        doc="Mel frames per latent frame of a time-resolved latent; None for one per segment.",
    )
    has_plane = property(
        lambda self: self._kind.has_plane,
        doc="A 2-D latent: the latent map is the plane itself, with a decoded grid.",
    )
    label_conditioned = property(
        lambda self: self._kind.label_conditioned,
        doc="Whether generation is conditioned on a label (autoencoder or prior).",
    )

    @property
    def n_weights(self) -> int:
        """The autoencoder's parameter count (the prior's not included)."""
        return sum(p.numel() for p in self.core.network.parameters())

    @property
    def needs_prior(self) -> bool:
        """Whether this kind samples through a learned prior (which may be missing)."""
        return registry.KINDS.get(self.kind).has_prior

    # -- labels (melvae.generation.labels, through the core) ---------------------------------
    def label_index(self, label: str) -> int:
        return self.core.label_index(label)

    def label_weights(self) -> np.ndarray:
        """Each label's share of the training segments (n_labels,), summing to 1."""
        return self.core.label_weights()

    def draw_labels(self, n: int, seed: int | None = 0) -> list[str]:
        """n label names in the training data's proportions, seeded."""
        return self.core.draw_labels(n, seed)

    def fitting_label(self, mel: np.ndarray | torch.Tensor) -> str:
        """A conditional model's label whose conditioning reconstructs the mel best."""
        return self.core.fitting_label(mel)

    # -- encode / decode / invert ----------------------------------------------------------
    def segments_of(self, wave: np.ndarray) -> torch.Tensor:
        """Mono audio at the model's rate -> normalized mels of consecutive segments
        (k, n_mels, frames) on the model's device (:func:`inputs.segments_of`)."""
        return self.core.segments_of(wave)

    def encode_mel(self, mel, label=None, indices: list[int] | None = None) -> np.ndarray:
        """Normalized mels (N, n_mels, frames) -> latent means, (N, latent_dim) or
        (N, latent_channels, latent frames), batched. ``label``: a conditional model's label,
        one name, N names or (N,) indices; ``indices``: the rows to encode."""
        return self.core.encode_mel(mel, label, indices)

    def encode_posterior(self, mel, label=None, indices: list[int] | None = None):
        """The encoder's posterior: (means, log-variances), each as :meth:`encode_mel`'s."""
        return self.core.encode_posterior(mel, label, indices)

    def encode(self, audio, sr: int | None = None, label: str | None = None) -> np.ndarray:
        """Audio (a file, or samples at rate ``sr``) -> latent means of its segments."""
        wave = inputs.mono_audio(audio, sr, self.sample_rate)
        return self.encode_mel(self.segments_of(wave), label)

    def decode(self, z, label=None) -> np.ndarray:
        """Latents (as :meth:`encode` gives them) -> normalized mels (B, n_mels, frames)."""
        z = self._kind.as_batch(_as_tensor(z).to(self.device))
        return self.core.decode(z, label).cpu().numpy()

    def reconstruct_mels(self, mel, label=None) -> np.ndarray:
        """Mean reconstructions (the decoded latent mean) of normalized mels."""
        return self.decode(self.encode_mel(mel, label), label)

    def pool(self, z: np.ndarray) -> np.ndarray:
        """Latent means -> one vector per segment (N, latent_dim)."""
        return self._kind.pool(_as_tensor(z)).numpy()

    def positions(self, z: np.ndarray) -> np.ndarray:
        """Latent means -> every latent position as a row (M, latent_dim)."""
        return self._kind.positions(_as_tensor(z)).numpy()

    def mel_to_audio(self, mel, seed: int | None = 0) -> np.ndarray:
        """Normalized mels (..., n_mels, frames) -> audio (..., samples) through the model's
        mel-to-audio stage; a whole segment's mel gives exactly ``segment_samples``."""
        return self.core.mel_to_audio(mel, seed)

    def mel_to_magnitude(self, mel) -> np.ndarray:
        """Normalized mels -> the linear magnitude (..., n_freqs, frames) they imply."""
        return self.core.mel_to_magnitude(_as_tensor(mel))

    # -- generation (``bpm``: a clocked prior's tempo; BPM, or a list) ----------------------
    def sample_latents(self, n: int, label=None, temperature=1.0, seed=0, bpm=None):
        """n draws from the kind's prior, one segment each."""
        return self._kind.sample(n, label, temperature, seed, bpm)[0].cpu().numpy()

    def generate_mels(
        self, n: int, label=None, temperature=DEFAULT_TEMPERATURE, seed=0, return_labels=False,
        bpm=None, repeat=CLIP_REPEAT,
    ):  # fmt: skip
        """n new normalized mels (n, n_mels, frames); a label-conditioned model with no
        ``label`` draws one per clip in the training data's proportions. ``return_labels``:
        also return each clip's label (None where the model takes none). ``bpm``: at that
        tempo, its draws repeating beat after beat by ``repeat`` (a clocked prior)."""
        if isinstance(temperature, (list, tuple)):
            raise MelvaeError("a clip takes one temperature")
        mels, ids = self._kind.clips(n, label, temperature, seed, bpm, repeat)
        return self._named(mels, ids, label, return_labels)

    def _named(self, mels, ids, label, return_labels: bool = True):
        names = [label] * len(mels) if ids is None else [self.labels[int(i)] for i in ids]
        mels = mels.cpu().numpy()
        return (mels, names) if return_labels else mels

    def generate(
        self, n=1, label=None, temperature=DEFAULT_TEMPERATURE, seed=0, bpm=None,
        repeat=CLIP_REPEAT,
    ):  # fmt: skip
        """n new clips: (audio (n, samples), sample_rate). Same seed, same audio."""
        mels = self.generate_mels(n, label, temperature, seed, bpm=bpm, repeat=repeat)
        return self.mel_to_audio(mels, seed), self.sample_rate

    def loop_mels(
        self, n, bpm, bars, label=None, temperature=DEFAULT_TEMPERATURE, seed=0,
        repeat=LOOP_REPEAT,
    ):  # fmt: skip
        """Mels of n loops of ``bars`` bars at ``bpm``, a beat longer to cross the wrap, and
        their labels (:mod:`melvae.generation.loops` makes them loop); ``repeat``: how much
        each beat's draws repeat the last beat's (:mod:`melvae.generation.grid`)."""
        mels, ids = self._kind.loop(n, bpm, bars, label, temperature, seed, 60.0 / bpm, repeat)
        return self._named(mels, ids, label)

    def endpoint(self, spec, sr: int | None = None, label: str | None = None, seed: int = 0):
        """An interpolation endpoint (:meth:`melvae.kinds.base.Kind.endpoint`)."""
        return self._kind.endpoint(spec, sr, seed, label)

    def interpolate_mels(
        self, a, b, steps=INTERPOLATION_STEPS, sr=None, label_a=None, label_b=None, seed=0,
        bpm=None,
    ) -> np.ndarray:  # fmt: skip
        """Mels of ``steps`` points from a to b, endpoints included (steps, n_mels, frames):
        labels, audio files, samples at ``sr``, mels or latents; a conditional model encodes
        a clip with its label (``label_a`` / ``label_b``, else its fitting label)."""
        if steps < 2:
            raise MelvaeError("steps must be >= 2")
        return self._kind.interpolate(a, b, steps, sr, seed, label_a, label_b, bpm).cpu().numpy()

    def interpolate(
        self, a, b, steps: int = INTERPOLATION_STEPS, sr: int | None = None,
        fade_seconds: float = INTERPOLATION_FADE_SECONDS, seed: int | None = 0,
        label_a: str | None = None, label_b: str | None = None, bpm=None,
    ) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
        """(clips (steps, samples), the clips joined with crossfades, sample_rate)."""
        mels = self.interpolate_mels(a, b, steps, sr, label_a, label_b, seed, bpm)
        clips = self.mel_to_audio(mels, seed)
        joined = crossfade_concat(list(clips), int(fade_seconds * self.sample_rate))
        return clips, joined, self.sample_rate

    # -- long tracks -----------------------------------------------------------------------
    def longform_stream(self, seconds: float, start=None, **request):
        """A long track as a stream: its head (:class:`melvae.kinds.base.TrackHead`), then
        audio blocks and a record per progress step. ``start`` and ``request`` as
        :class:`melvae.kinds.base.TrackRequest` names them (start_sr, label, labels, bpm, seed,
        temperature, steps_per_target); each kind says what it does with them."""
        return self._kind.longform(TrackRequest(seconds, start, **request))

    def longform(self, seconds: float, start=None, **request) -> tuple[np.ndarray, int, dict]:
        """A whole long track in memory: (audio (samples,), sample_rate, info as track.json
        holds it: segments or windows, joins, the labels it followed)."""
        track, info = outputs.collect_longform(self, seconds, start, **request)
        return track, self.sample_rate, info

    # -- files (melvae.generation.outputs) -------------------------------------------------
    def write_clips(self, out_dir, mels, names, **kwargs) -> list[Path]:
        """Invert mels; write OUT_DIR/NAME.wav and a mel PNG each."""
        return outputs.write_clips(self, out_dir, mels, names, **kwargs)

    def write_interpolation(self, out_dir, a, b, **kwargs) -> Path:
        """Steps and their joined transition as WAV."""
        return outputs.write_interpolation(self, out_dir, a, b, **kwargs)

    def write_longform(self, path, seconds: float, start=None, **kwargs) -> dict:
        """Stream a long track to disk with its .json."""
        return outputs.write_longform(self, path, seconds, start, **kwargs)
