"""The mel-to-audio stage: one interface, with a batch call and a streaming call, that every
kind's clips and long tracks go through, so another stage (a neural vocoder, say) has one
place to go.

An inverter is built from the audio settings, a device and its own options
(:func:`build_inverter`, through :data:`melvae.registry.INVERTERS`); :meth:`Inverter.describe`
is what a run records of it. Fast Griffin-Lim (:class:`GriffinLim`) is the first one; its
``n_iter`` and ``init`` are its own options, and no other module knows them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from melvae import registry
from melvae.audio import inversion
from melvae.config import DEFAULT_INVERTER, AudioConfig
from melvae.errors import MelvaeError


class InverterStream(ABC):
    """One long track's mel in, its audio out, in bounded memory: exactly ``total_samples``
    samples in all, in blocks."""

    @abstractmethod
    def push(self, mel_power: torch.Tensor) -> Iterator[np.ndarray]:
        """Mel power (n_mels, frames) of the next frames; yields audio that became final."""

    @abstractmethod
    def finish(self) -> Iterator[np.ndarray]:
        """Yields the rest of the audio."""


class Inverter(ABC):
    """Normalized mel -> audio at ``audio.sample_rate``."""

    name: str = ""

    def __init__(self, audio: AudioConfig, device: torch.device | str = "cpu", **options: Any):
        self.audio, self.device = audio, torch.device(device)
        self.options = options

    def describe(self) -> dict[str, Any]:
        """What a run records: the stage's name and its options."""
        return {"name": self.name, **self.options}

    def summary(self) -> str:
        """The stage in words, e.g. "griffin-lim (n_iter 32, init random)"."""
        opts = ", ".join(f"{k} {v}" for k, v in self.options.items())
        return f"{self.name} ({opts})" if opts else self.name

    @abstractmethod
    def invert(
        self, mel: np.ndarray | torch.Tensor, seed: int | None = 0, length: int | None = None
    ) -> np.ndarray:
        """Normalized mels (..., n_mels, frames) -> float32 audio (..., samples), samples =
        ``length`` or (frames - 1) x hop_length. Same seed, same audio."""

    @abstractmethod
    def stream(self, total_samples: int, seed: int | None = 0) -> InverterStream:
        """A stream for one track of ``total_samples`` samples."""


class GriffinLim(Inverter):
    """Mel -> linear magnitude (accelerated NNLS) -> fast Griffin-Lim, batched in torch; long
    tracks through :class:`melvae.audio.inversion.StreamingInverter` (chunks that carry their
    phase over). Options: ``n_iter`` (iterations) and ``init`` ("random" or "pghi")."""

    name = DEFAULT_INVERTER

    def __init__(self, audio, device="cpu", n_iter: int = 32, init: str = "random"):
        if int(n_iter) < 0:
            raise MelvaeError(f"n_iter must be >= 0, got {n_iter}")
        if init not in inversion.INITS:
            raise MelvaeError(f"init must be one of {inversion.INITS}, got {init!r}")
        super().__init__(audio, device, n_iter=int(n_iter), init=init)

    def invert(self, mel, seed=0, length=None) -> np.ndarray:
        return inversion.mel_to_audio(
            mel,
            self.audio,
            n_iter=self.options["n_iter"],
            seed=seed,
            device=self.device,
            init=self.options["init"],
            length=length,
        )

    def stream(
        self, total_samples: int, seed: int | None = 0, chunk_frames: int = 1024
    ) -> InverterStream:
        """``chunk_frames``: STFT frames inverted at once (memory), overlapping by 64."""
        return _GriffinLimStream(self, total_samples, seed, chunk_frames)


class _GriffinLimStream(InverterStream):
    """One continuous StreamingInverter whose blocks are cut at exactly ``total_samples`` (and
    padded at the end, should it fall short)."""

    def __init__(self, owner: GriffinLim, total_samples: int, seed, chunk_frames: int = 1024):
        self.cfg, self.total, self.emitted = owner.audio, total_samples, 0
        self.inverter = inversion.StreamingInverter(
            owner.audio,
            chunk_frames=chunk_frames,
            overlap_frames=min(64, chunk_frames // 4),
            n_iter=owner.options["n_iter"],
            seed=seed,
            device=owner.device,
            init=owner.options["init"],
        )

    def _trimmed(self, blocks: list[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            block = block[: self.total - self.emitted]
            self.emitted += len(block)
            if len(block):
                yield block

    def push(self, mel_power: torch.Tensor) -> Iterator[np.ndarray]:
        linear = torch.sqrt(inversion.mel_power_to_linear_power(mel_power, self.cfg))
        yield from self._trimmed(self.inverter.push(linear))

    def finish(self) -> Iterator[np.ndarray]:
        yield from self._trimmed(self.inverter.finish())
        if self.emitted < self.total:  # never expected: pad rather than mislabel the length
            yield np.zeros(self.total - self.emitted, dtype=np.float32)


def build_inverter(
    audio: AudioConfig,
    device: torch.device | str = "cpu",
    name: str | None = None,
    **options: Any,
) -> Inverter:
    """The mel-to-audio stage ``name`` (default: fast Griffin-Lim) with its registered
    default options, overridden by ``options``; an option it does not take is a clear
    error."""
    name = name or DEFAULT_INVERTER
    spec = registry.INVERTERS.get(name)
    unknown = set(options) - set(spec.options)
    if unknown:
        raise MelvaeError(
            f"the {name} stage takes no option {', '.join(sorted(unknown))} "
            f"(it takes: {', '.join(spec.options) or 'none'})"
        )
    return registry.resolve(spec.cls)(audio, device, **{**spec.options, **options})
