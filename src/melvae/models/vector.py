"""The convolutional VAE over a (n_mels, frames) log-mel image, and its loss.

A plain ``torch.nn.Module``: inference loads it without Lightning (see checkpoint.py).

Shapes: mel (B, n_mels, T) with values in [0, 1]; latent (B, latent_dim).
The time axis is zero-padded up to a multiple of 2**depth inside the model and cropped back,
so any segment length works. The dense bottleneck sees a small map (n_mels / 2**depth by
T / 2**depth by the last channel count), which keeps the parameter count modest: the
reference design's Flatten -> Dense(512) held 56 M of its 64 M weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from melvae.config import ModelConfig
from melvae.models.vae_base import VAEBase


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2),
    )


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2),
    )


class MelVAE(VAEBase):
    """Conv encoder -> (mu, logvar) -> z -> conv decoder, optionally conditioned on a label."""

    latent_rate = None  # one latent vector per segment, not a time-resolved sequence

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        depth = len(cfg.channels)
        self.scale = 2**depth
        self.pad_mels = math.ceil(cfg.n_mels / self.scale) * self.scale - cfg.n_mels
        self.pad_frames = math.ceil(cfg.n_frames / self.scale) * self.scale - cfg.n_frames
        self.map_shape = (
            cfg.channels[-1],
            (cfg.n_mels + self.pad_mels) // self.scale,
            (cfg.n_frames + self.pad_frames) // self.scale,
        )
        flat = math.prod(self.map_shape)
        cond = cfg.label_embedding_dim if cfg.conditional else 0
        self.label_embedding = (
            nn.Embedding(cfg.n_labels, cfg.label_embedding_dim) if cfg.conditional else None
        )

        chans = (1, *cfg.channels)
        self.encoder = nn.Sequential(*[_down(a, b) for a, b in zip(chans[:-1], chans[1:])])
        self.to_moments = nn.Linear(flat + cond, 2 * cfg.latent_dim)
        self.from_latent = nn.Linear(cfg.latent_dim + cond, flat)
        rev = cfg.channels[::-1]
        self.decoder = nn.Sequential(*[_up(a, b) for a, b in zip(rev[:-1], rev[1:])])
        self.head = nn.ConvTranspose2d(rev[-1], 1, kernel_size=4, stride=2, padding=1)

    # -- facts the inference core asks of every model kind (see seqmodel.SeqVAE) ----------
    def pool(self, mu: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) -> (B, latent_dim): already one vector per segment."""
        return mu

    def positions(self, mu: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) -> (B, latent_dim): one latent position per segment."""
        return mu

    def encode(
        self, mel: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (B, n_mels, T) in [0, 1] -> mu, logvar, each (B, latent_dim)."""
        B = mel.shape[0]
        x = F.pad(mel.unsqueeze(1), (0, self.pad_frames, 0, self.pad_mels))
        h = self.encoder(x).flatten(1)
        cond = self._condition(labels, B)
        if cond is not None:
            h = torch.cat([h, cond], dim=1)
        mu, logvar = self.to_moments(h).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
        frames: int | None = None,
    ) -> torch.Tensor:
        """z (B, latent_dim) -> mel (B, n_mels, T) in [0, 1] (``frames``: always T here).

        A conditional model takes label indices (B,), or ``cond``: label embeddings
        (B, label_embedding_dim) given directly, e.g. a blend of two labels' embeddings.
        """
        B = z.shape[0]
        if cond is None:
            cond = self._condition(labels, B)
        if cond is not None:
            z = torch.cat([z, cond], dim=1)
        h = self.from_latent(z).view(B, *self.map_shape)
        x = self.head(self.decoder(h))
        x = x[:, 0, : self.cfg.n_mels, : self.cfg.n_frames]
        return torch.sigmoid(x)


@dataclass
class LossTerms:
    total: torch.Tensor  # scalar, what is minimised
    recon: torch.Tensor  # scalar, summed squared error per segment, batch mean
    kl: torch.Tensor  # scalar, KL summed over latent dims, batch mean
    kl_per_dim: torch.Tensor  # (latent_dim,) or (latent_channels, frames), batch mean


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per sample and dimension:
    1/2 (mu^2 + sigma^2 - log sigma^2 - 1). Same shape as mu."""
    return 0.5 * (mu.square() + logvar.exp() - logvar - 1.0)


def vae_loss(
    recon: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float = 1.0,
    free_bits: float = 0.0,
) -> LossTerms:
    """Negative ELBO with a Gaussian likelihood of fixed variance 1/2: the squared error
    summed over every (mel, frame) pixel, plus beta x the KL summed over latent dimensions
    (not averaged: averaging hides a 1/latent_dim weight). Both are batch means.

    free_bits (Kingma et al. 2016): each dimension's batch-mean KL below this many nats is not
    penalised, which keeps units from collapsing to the prior early in training.
    """
    rec = (recon - target).square().flatten(1).sum(1).mean()
    kl_dim = kl_divergence(mu, logvar).mean(0)
    kl = kl_dim.sum()
    penalised = torch.clamp(kl_dim, min=free_bits).sum() if free_bits > 0 else kl
    return LossTerms(total=rec + beta * penalised, recon=rec, kl=kl, kl_per_dim=kl_dim)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    """Latent dimensions whose mean varies across inputs: Var_x(E[z|x]) > threshold
    (Burda et al. 2016). mu: (N, latent_dim) over a dataset."""
    if mu.shape[0] < 2:
        return 0
    return int((mu.var(dim=0) > threshold).sum())
