"""A learned prior over latent sequences: an autoregressive GRU with a mixture-density head.

It models p(z_t | z_<t, label) for the time-resolved model's latent frames z_t (C numbers
each) as a mixture of K diagonal Gaussians (Graves 2013, "Generating sequences with recurrent
neural networks"; the same head as SketchRNN), so sampling is one GRU step per latent frame:
93 ms of music per step at rate 4, cheap on a CPU. A continuous mixture, not a quantized code
as in RAVE's prior, keeps the autoencoder untouched: the prior is trained afterwards on its
latent means, which are normalized per channel with statistics stored in the prior.

Shapes: z (B, C, T) as the autoencoder gives it; labels (B,) label indices, or ``cond``
(B, E) / (B, T, E) label embeddings given directly (a blend of two labels, or a schedule over
time). Temperature scales every standard deviation and flattens the mixture weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from melvae.config import PriorConfig
from melvae.models.priors.base import Prior


@dataclass
class PriorState:
    """Where a sampling run stands: the GRU state and the last frame (normalized)."""

    hidden: torch.Tensor  # (layers, B, hidden)
    last: torch.Tensor  # (B, C), normalized; the BOS vector before the first frame
    history: torch.Tensor | None = None  # (B, H, C) the last frames, normalized (lag inputs)


class GRUPrior(Prior):
    """The GRU mixture-density prior (registered as "gru")."""

    @property
    def noise_width(self) -> int:
        """One number picks the mixture component (through the normal CDF), C the offsets."""
        return 1 + self.cfg.channels

    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.cfg = cfg
        C, H, K = cfg.channels, cfg.hidden, cfg.mixtures
        self.label_embedding = (
            nn.Embedding(cfg.n_labels, cfg.label_embedding_dim) if cfg.n_labels else None
        )
        cond = cfg.label_embedding_dim if cfg.n_labels else 0
        self.bos = nn.Parameter(torch.zeros(C))
        self.inp = nn.Linear(C + cond + self.clock_width, H)
        self.gru = nn.GRU(H, H, num_layers=cfg.layers, batch_first=True, dropout=cfg.dropout)
        self.head = nn.Linear(H, K * (1 + 2 * C))
        self.register_buffer("mean", torch.zeros(C))
        self.register_buffer("std", torch.ones(C))

    # -- normalization of the autoencoder's latents ----------------------------------------
    def set_statistics(self, z: torch.Tensor) -> None:
        """z (N, C): latent frames of the training data."""
        self.mean.copy_(z.mean(0))
        self.std.copy_(z.std(0).clamp(min=1e-3))

    def _norm(self, z: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        return (z - self.mean) / self.std

    def _denorm(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean

    def frame_inputs(
        self, prev: torch.Tensor, clock: torch.Tensor | None, B: int, T: int
    ) -> torch.Tensor | None:
        """The per-frame inputs beside the previous frame and the label, for a teacher-forced
        run whose step t sees ``prev[:, t]`` (B, T, C; the BOS vector, then frames 0 .. T-2):
        the clock's (:meth:`clock_inputs`)."""
        return self.clock_inputs(clock, B, T)

    def _step_input(self, prev: torch.Tensor, *extra: torch.Tensor | None) -> torch.Tensor:
        parts = [prev, *(e for e in extra if e is not None)]
        return self.inp(parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1))

    def _mixture(self, out: torch.Tensor):
        """GRU output (..., H) -> logits (..., K), means and log-stds (..., K, C)."""
        K, C = self.cfg.mixtures, self.cfg.channels
        p = self.head(out)
        logits = p[..., :K]
        means, log_std = p[..., K:].reshape(*p.shape[:-1], K, 2 * C).chunk(2, dim=-1)
        return logits, means, log_std.clamp(-7.0, 3.0)

    # -- training ----------------------------------------------------------------------------
    def nll(self, z, labels=None, cond=None, clock=None) -> torch.Tensor:  # types: Prior.nll
        """Negative log-likelihood per latent number (nats), teacher forced. z (B, C, T)."""
        B, C, T = z.shape
        x = self._norm(z.transpose(1, 2))  # (B, T, C)
        prev = x[:, :-1]
        if self.training and self.cfg.input_noise > 0:
            # A history with errors in it, like the one sampling feeds back: the prior learns
            # to pull a drifting sequence back instead of compounding the drift.
            prev = prev + self.cfg.input_noise * torch.randn_like(prev)
        prev = torch.cat([self.bos.expand(B, 1, C), prev], dim=1)
        c, k = self.condition(labels, cond, B, T), self.frame_inputs(prev, clock, B, T)
        out, _ = self.gru(self._step_input(prev, c, k))
        logits, means, log_std = self._mixture(out)
        # log N(x | mean, std) summed over channels, for each component: (B, T, K)
        diff = (x[:, :, None, :] - means) / log_std.exp()
        comp = -0.5 * diff.square() - log_std - 0.5 * math.log(2 * math.pi)
        logp = torch.logsumexp(F.log_softmax(logits, -1) + comp.sum(-1), dim=-1)
        # In the units of the autoencoder's latents: the normalization's log-Jacobian.
        return -(logp.mean() - self.std.log().sum()) / C

    # -- sampling ----------------------------------------------------------------------------
    def start(self, batch: int) -> PriorState:
        H, L = self.cfg.hidden, self.cfg.layers
        dev = self.bos.device
        return PriorState(torch.zeros(L, batch, H, device=dev), self.bos.expand(batch, -1))

    @torch.no_grad()
    def warm(self, z, labels=None, cond=None, clock=None) -> PriorState:  # types: Prior.warm
        """Run the GRU over given frames z (B, C, T) (a real start): the state after them."""
        B, C, T = z.shape
        x = self._norm(z.transpose(1, 2).to(self.bos.device))
        prev = torch.cat([self.bos.expand(B, 1, C), x], dim=1)
        c, k = self.condition(labels, cond, B, T), self.frame_inputs(prev[:, :-1], clock, B, T)
        _, hidden = self.gru(self._step_input(prev[:, :-1], c, k))
        return PriorState(hidden, prev[:, -1])

    def step(self, state: PriorState, cond, clock, temperature: float, generator, noise=None):
        x = self._step_input(state.last, cond, clock)
        out, state.hidden = self.gru(x[:, None, :], state.hidden)
        logits, means, log_std = self._mixture(out[:, 0])
        state.last = self._draw(logits, means, log_std, temperature, generator, noise)
        return self._denorm(state.last)

    @staticmethod
    def _draw(logits, means, log_std, temperature: float, generator, noise=None):
        """A frame from the mixture: with the generator, or from ``noise`` (B, 1 + C)
        standard normal numbers (the first picks the component by inverse CDF)."""
        dev = logits.device
        if temperature <= 0:
            k = logits.argmax(-1)
            return means[torch.arange(len(k), device=dev), k]
        probs = F.softmax(logits / temperature, -1)
        if noise is None:
            k = torch.multinomial(probs.cpu(), 1, generator=generator).to(dev)[:, 0]
            eps = torch.randn(means[:, 0].shape, generator=generator).to(dev)
        else:
            noise = noise.to(dev, probs.dtype)
            u = torch.special.ndtr(noise[:, :1]).clamp(max=1.0 - 1e-6)  # uniform in [0, 1)
            k = torch.searchsorted(probs.cumsum(-1), u)[:, 0].clamp(max=probs.shape[-1] - 1)
            eps = noise[:, 1:]
        idx = torch.arange(len(k), device=dev)
        return means[idx, k] + eps * log_std[idx, k].exp() * temperature
