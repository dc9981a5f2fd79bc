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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from melvae.config import PriorConfig


class Prior(nn.Module, ABC):
    """What every prior provides. ``cfg.kind`` is its name in :data:`melvae.registry.PRIORS`."""

    cfg: PriorConfig
    label_embedding: nn.Embedding | None
    clock_width = 0  # clock features per frame it takes (0: no clock)

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
        :meth:`condition` and :meth:`clock_inputs` give them."""

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
    ) -> Iterator[torch.Tensor]:
        """Yield ``steps`` new frames (B, C), each drawn given all before it, with
        ``temperature`` a number or (steps,), ``cond`` (B, E) or (B, steps, E) and ``clock``
        (B, steps, 2) for these frames; ``state`` (from :meth:`start` or :meth:`warm`) moves
        on with them."""
        B = self.batch_size(state)
        c, k = self.condition(labels, cond, B, steps), self.clock_inputs(clock, B, steps)
        temps = torch.as_tensor(temperature, dtype=torch.float32).expand(steps)
        for t in range(steps):
            yield self.step(
                state,
                None if c is None else c[:, t],
                None if k is None else k[:, t],
                float(temps[t]),
                generator,
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
    ) -> torch.Tensor:
        """n new latent sequences (n, C, steps). Same seed, same sequences."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        state = self.start(n)
        frames = list(self.stream(state, steps, temperature, labels, cond, gen, clock))
        return torch.stack(frames, dim=-1)
