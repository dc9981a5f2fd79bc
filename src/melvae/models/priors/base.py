"""The interface of a prior over latent sequences, as the generation code uses it.

A prior models p(z_t | z_<t, conditioning) over an autoencoder's latent frames z_t (C numbers
each). It is fitted after the autoencoder, on its latent means (``melvae.training.prior``),
and at inference it samples segments, continues a real start, and streams a long track one
frame at a time from a state it carries.

Shapes: z (B, C, T) as the autoencoder gives it; ``labels`` (B,) label indices, or ``cond``
label embeddings given directly: (B, E) for all frames or (B, T, E), a schedule over time
(``label_embedding`` is the table they come from, None for an unconditional prior).
``clock`` (B, T, 2): each frame's beat phase in [0, 1) (0 on a beat) and tempo in BPM, NaN
where there is none; a prior with ``clock_width`` 0 keeps no clock and ignores it.
``temperature`` scales the draw's spread: a number, or (steps,) one per frame.

A prior whose draws are made from standard normal numbers it is given (``noise_width`` > 0)
can also be sampled with *beat-coherent draws* (:class:`Repeat`): the numbers behind the
frames of one beat form a pattern that the next beat takes up again (its correlation with the
last beat's is ``weight``), so what the prior plays at each point of the beat recurs beat
after beat while the music it conditions on (its own history, the label, the clock) moves on.
Each pattern is centred and scaled over its beat, every number zero-mean and unit-spread
across the beat's frames: the repeat shapes the beat without a steady push in any direction
(an uncentred repeat walks the music off into silence within a minute on real music), and the
draw's spread stays the prior's own: unlike averaging latent frames, nothing is smeared or
shrunk.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from melvae.config import PriorConfig


@dataclass(frozen=True)
class Repeat:
    """Beat-coherent draws: ``frames`` latent frames per beat (a whole number, at least 2:
    the beat's grid, :mod:`melvae.generation.grid`), ``weight`` in [0, 1] how much of each
    beat's pattern the next takes up (0: a new pattern every beat; 1: the same every beat).
    ``cycle`` > 0: from beat ``cycle`` on, every beat's pattern is the one ``cycle`` beats
    earlier (a loop of that many beats, its repeat drawn as its first time through)."""

    frames: int
    weight: float
    cycle: int = 0

    def __post_init__(self):
        if self.frames < 2 or not 0.0 <= self.weight <= 1.0 or self.cycle < 0:
            raise ValueError(
                f"a Repeat needs frames >= 2, a weight in [0, 1] and cycle >= 0, got {self}"
            )

    def patterns(self, batch: int, width: int, generator) -> Iterator[torch.Tensor]:
        """Each beat's numbers (frames, batch, width), one beat after another."""
        shape = (self.frames, batch, width)
        drawn: list[torch.Tensor] = []
        last = None
        while True:
            if self.cycle and len(drawn) == self.cycle:
                yield from drawn  # a loop: the same beats again, forever
                continue
            fresh = torch.randn(shape, generator=generator)
            w = self.weight
            mixed = fresh if last is None else w * last + math.sqrt(max(0.0, 1 - w * w)) * fresh
            last = mixed - mixed.mean(0)
            # zero mean and unit mean square over the beat (at 2 frames a beat: +-1)
            last = last / last.std(0, correction=0).clamp(min=1e-6)
            if self.cycle:
                drawn.append(last)
            yield last


class Prior(nn.Module, ABC):
    """What every prior provides. ``cfg.kind`` is its name in :data:`melvae.registry.PRIORS`."""

    cfg: PriorConfig
    label_embedding: nn.Embedding | None
    clock_width = 0  # clock features per frame it takes (0: no clock)
    noise_width = 0  # standard normal numbers one draw is made from (0: draws its own only)

    @property
    def has_clock(self) -> bool:
        """Whether it takes a clock (beat phase and tempo per frame)."""
        return self.clock_width > 0

    # -- conditioning ------------------------------------------------------------------------
    def condition(
        self, labels: torch.Tensor | None, cond: torch.Tensor | None, B: int, T: int
    ) -> torch.Tensor | None:
        """-> (B, T, E) label embeddings, or None for an unconditional prior."""
        if self.label_embedding is None:
            return None
        device = self.label_embedding.weight.device
        if cond is None:
            if labels is None:
                raise ValueError("this prior is conditional: pass labels or cond")
            cond = self.label_embedding(labels.long().reshape(B).to(device))
        if cond.dim() == 2:
            cond = cond[:, None, :].expand(B, T, -1)
        return cond.to(device, self.label_embedding.weight.dtype)

    def clock_inputs(self, clock: torch.Tensor | None, B: int, T: int) -> torch.Tensor | None:
        """The clock (B, T, 2) as per-frame features (B, T, clock_width); None for a prior
        that keeps no clock."""
        return None

    # -- fitting ---------------------------------------------------------------------------
    @abstractmethod
    def set_statistics(self, z: torch.Tensor) -> None:
        """Called once before fitting with the training data's latent frames z (N, C)."""

    @abstractmethod
    def nll(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
        clock: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The fitting loss: negative log-likelihood per latent number (nats), teacher forced,
        a scalar to minimise. z (B, C, T)."""

    # -- sampling ----------------------------------------------------------------------------
    @abstractmethod
    def start(self, batch: int) -> Any:
        """The state before the first frame of ``batch`` sequences."""

    @abstractmethod
    def warm(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
        clock: torch.Tensor | None = None,
    ) -> Any:
        """The state after given frames z (B, C, T) (a real start to continue)."""

    @abstractmethod
    def step(
        self,
        state: Any,
        cond: torch.Tensor | None,
        clock: torch.Tensor | None,
        temperature: float,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """One new frame (B, C) drawn given the state, which moves on with it; ``cond``
        (B, E) and ``clock`` (B, clock_width) are this frame's conditioning, as
        :meth:`condition` and :meth:`clock_inputs` give them. A prior with ``noise_width``
        > 0 also takes ``noise=`` (B, noise_width) standard normal numbers to draw from
        (instead of the generator's)."""

    @torch.no_grad()
    def stream(
        self,
        state: Any,
        steps: int,
        temperature: float | torch.Tensor = 1.0,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        clock: torch.Tensor | None = None,
        repeat: Repeat | None = None,
    ) -> Iterator[torch.Tensor]:
        """Yield ``steps`` new frames (B, C), each drawn given all before it, with
        ``temperature`` a number or (steps,), ``cond`` (B, E) or (B, steps, E) and ``clock``
        (B, steps, 2) for these frames; ``state`` (from :meth:`start` or :meth:`warm`) moves
        on with them. ``repeat``: beat-coherent draws (a prior with ``noise_width`` > 0)."""
        B = self.batch_size(state)
        c, k = self.condition(labels, cond, B, steps), self.clock_inputs(clock, B, steps)
        temps = torch.as_tensor(temperature, dtype=torch.float32).expand(steps)
        if repeat is not None and not self.noise_width:
            raise ValueError(f"the {self.cfg.kind!r} prior cannot make beat-coherent draws")
        beats = None if repeat is None else repeat.patterns(B, self.noise_width, generator)
        pattern = None
        for t in range(steps):
            extra = {}
            if beats is not None:
                if t % repeat.frames == 0:
                    pattern = next(beats)
                extra["noise"] = pattern[t % repeat.frames]
            yield self.step(
                state,
                None if c is None else c[:, t],
                None if k is None else k[:, t],
                float(temps[t]),
                generator,
                **extra,
            )

    @staticmethod
    def batch_size(state: Any) -> int:
        """Sequences a state holds (a state with a ``last`` frame (B, C), or a tensor)."""
        return getattr(state, "last", state).shape[0]

    def sample(
        self,
        n: int,
        steps: int,
        temperature: float = 1.0,
        seed: int | None = 0,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
        clock: torch.Tensor | None = None,
        repeat: Repeat | None = None,
    ) -> torch.Tensor:
        """n new latent sequences (n, C, steps). Same seed, same sequences."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        state = self.start(n)
        frames = list(self.stream(state, steps, temperature, labels, cond, gen, clock, repeat))
        return torch.stack(frames, dim=-1)
