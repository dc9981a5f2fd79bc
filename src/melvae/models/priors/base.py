"""The interface of a prior over latent sequences, as the generation code uses it.

A prior models p(z_t | z_<t, conditioning) over an autoencoder's latent frames z_t (C numbers
each). It is fitted after the autoencoder, on its latent means (``melvae.training.prior``),
and at inference it samples segments, continues a real start, and streams a long track one
frame at a time from a state it carries.

Shapes: z (B, C, T) as the autoencoder gives it; ``labels`` (B,) label indices, or ``cond``
label embeddings given directly: (B, E) for all frames or (B, T, E), a schedule over time
(``label_embedding`` is the table they come from, None for an unconditional prior).
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

    # -- fitting ---------------------------------------------------------------------------
    @abstractmethod
    def set_statistics(self, z: torch.Tensor) -> None:
        """Called once before fitting with the training data's latent frames z (N, C)."""

    @abstractmethod
    def nll(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The fitting loss: negative log-likelihood per latent number (nats), teacher forced,
        a scalar to minimise. z (B, C, T)."""

    # -- sampling ----------------------------------------------------------------------------
    @abstractmethod
    def start(self, batch: int) -> Any:
        """The state before the first frame of ``batch`` sequences."""

    @abstractmethod
    def warm(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, cond: torch.Tensor | None = None
    ) -> Any:
        """The state after given frames z (B, C, T) (a real start to continue)."""

    @abstractmethod
    def stream(
        self,
        state: Any,
        steps: int,
        temperature: float | torch.Tensor = 1.0,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Iterator[torch.Tensor]:
        """Yield ``steps`` new frames (B, C), each drawn given all before it; the state moves
        on with them."""

    def sample(
        self,
        n: int,
        steps: int,
        temperature: float = 1.0,
        seed: int | None = 0,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """n new latent sequences (n, C, steps). Same seed, same sequences."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        frames = list(self.stream(self.start(n), steps, temperature, labels, cond, gen))
        return torch.stack(frames, dim=-1)
