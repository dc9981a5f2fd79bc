"""The interface of a model kind at inference.

A kind is built over a :class:`melvae.generation.core.Core` (network, prior, labels, device,
inverter) and does each job one way, with one signature; the API calls nothing else. Latents
are tensors on the core's device: a batch is (B, ...) in the kind's own latent shape.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from melvae.config import (
    CLIP_REPEAT,
    DEFAULT_REPEAT,
    DEFAULT_TEMPERATURE,
    LOOP_REPEAT,
    STEPS_PER_TARGET,
)
from melvae.errors import MelvaeError
from melvae.generation.core import Core


@dataclass(frozen=True)
class TrackRequest:
    """What a long track is asked to be (the arguments of ``Melvae.longform_stream``).

    start: an audio file, samples at ``start_sr`` or a normalized mel (n_mels, frames) whose
    (first) segment opens the track; None starts from a prior (or label) sample. label /
    labels: one label, or labels to travel through, spread evenly over the track.
    temperature: a number, or a list spread the same way (where the kind takes one). bpm:
    a tempo the kind holds (where it can). repeat: at a steady tempo, how much each beat's
    draws repeat the last beat's (a clocked prior; 0: none). steps_per_target: the vector
    kind's walk."""

    seconds: float
    start: Any = None
    start_sr: int | None = None
    label: str | None = None
    labels: list[str] | None = None
    bpm: float | None = None
    seed: int = 0
    temperature: float | list[float] = DEFAULT_TEMPERATURE
    repeat: float = DEFAULT_REPEAT
    steps_per_target: int = STEPS_PER_TARGET


@dataclass
class TrackHead:
    """The first item a long-track stream yields: how the track is laid out (``plan``: its
    ``total_samples``, its progress steps' ``positions`` and its ``describe(records, audio)``
    for track.json), the labels it follows, and what each progress step is called."""

    plan: Any
    labels: list[str] = field(default_factory=list)
    unit: str = "segment"

    def describe(self, records: list[dict], audio) -> dict:
        info = self.plan.describe(records, audio)
        if self.labels:
            info["labels"] = list(self.labels)  # the label, or the schedule's, it followed
        return info


@dataclass
class Endpoint:
    """An interpolation endpoint: its latent (one position of the kind's latent shape), the
    label it carries (None for none) and a description."""

    z: torch.Tensor
    label: str | None
    description: str


class Kind(ABC):
    """What every model kind does at inference."""

    def __init__(self, core: Core):
        self.core = core

    # -- facts the API, the evaluation and the report ask ------------------------------------
    @property
    def latent_rate(self) -> int | None:
        """Mel frames per latent frame for a time-resolved latent; None for one per segment."""
        return None

    @property
    def has_plane(self) -> bool:
        """Whether its latent is a 2-D plane (the latent map is then the plane itself)."""
        return False

    @property
    def latent_dim(self) -> int:
        """Numbers per latent position."""
        return self.core.network.cfg.latent_size

    @property
    def label_conditioned(self) -> bool:
        """Whether generation is conditioned on a label."""
        return self.core.conditional

    def pool(self, z: torch.Tensor) -> torch.Tensor:
        """Latent means -> one vector per segment (N, latent_dim)."""
        return self.core.network.pool(z)

    def positions(self, z: torch.Tensor) -> torch.Tensor:
        """Latent means -> every latent position as a row (M, latent_dim)."""
        return self.core.network.positions(z)

    # -- the jobs --------------------------------------------------------------------------
    @abstractmethod
    def as_batch(self, z: torch.Tensor) -> torch.Tensor:
        """Latents as given (one, or a batch) -> a batch (B, ...) of the kind's shape."""

    @abstractmethod
    def sample(
        self, n: int, label: str | None, temperature: float, seed: int | None, bpm=None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """n latents of one segment each from the kind's prior: (z (n, ...), the label ids
        (n,) the decoder takes, or None); ``bpm``: at that tempo, where the kind can."""

    def clips(
        self, n: int, label, temperature: float, seed, bpm=None, repeat: float = CLIP_REPEAT
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """n new clips of one segment each: (normalized mels (n, n_mels, frames), the label
        ids or None); ``bpm`` and ``repeat`` as in :class:`TrackRequest`, where the kind can."""
        z, ids = self.sample(n, label, temperature, seed, bpm)
        return self.core.decode(z, ids if ids is not None else label), ids

    @abstractmethod
    def endpoint(self, spec, sr: int | None, seed: int, label: str | None) -> Endpoint:
        """An interpolation endpoint: a label, an audio file (its middle segment), samples at
        ``sr``, a normalized mel, or a latent of the kind's shape (with ``label`` on a
        conditional model)."""

    @abstractmethod
    def interpolate(
        self,
        a,
        b,
        steps: int,
        sr: int | None,
        seed: int,
        label_a: str | None,
        label_b: str | None,
        bpm=None,
    ) -> torch.Tensor:
        """Mels (steps, n_mels, frames) from a to b, both included (``bpm``: at that tempo,
        where the kind can)."""

    def loop(self, n, bpm, bars, label, temperature, seed, tail_seconds, repeat=LOOP_REPEAT):
        """Normalized mels of n loops of ``bars`` bars at ``bpm`` with at least
        ``tail_seconds`` more each, to cross the wrap: (mels (n, n_mels, frames), label ids
        or None). ``repeat`` as in :class:`TrackRequest`. Only a kind that holds a tempo
        can."""
        raise MelvaeError(
            f"loops need a sequence model with a clocked prior; this is a {type(self).__name__}"
        )

    @abstractmethod
    def longform(self, request: TrackRequest) -> Iterator[TrackHead | dict | np.ndarray]:
        """A long track as a stream: a :class:`TrackHead` first, then audio blocks (float32,
        summing to the track's exact length) and a record (dict) per progress step."""
