"""The reference project's VAE, rebuilt for comparison (not part of melvae).

Encoder: Conv 32/64/128 (3 x 3, stride 2, 'same' padding, ReLU) -> Flatten -> Dense 512 ->
latent mean and log-variance (64 each). Decoder, mirrored: Dense to the flattened map ->
ConvTranspose 128/64/32 (stride 2) -> a 3 x 3 conv to one channel -> sigmoid. Over a
128 x 431 log-mel this holds about 64 M weights, 56.6 M of them in Flatten -> Dense(512).
Same interface as :class:`melvae.models.vector.MelVAE` (encode, decode, forward), so the same loss
and training loop drive both.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ReferenceVAE(nn.Module):
    def __init__(self, n_mels: int = 128, n_frames: int = 431, latent_dim: int = 64):
        super().__init__()
        self.n_mels, self.n_frames = n_mels, n_frames
        chans = (1, 32, 64, 128)
        self.encoder = nn.Sequential(
            *[
                layer
                for a, b in zip(chans[:-1], chans[1:])
                for layer in (nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU())
            ]
        )
        h, w = n_mels, n_frames
        for _ in range(3):
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        self.map_shape = (128, h, w)
        flat = math.prod(self.map_shape)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(flat, 512), nn.ReLU())
        self.mu = nn.Linear(512, latent_dim)
        self.logvar = nn.Linear(512, latent_dim)
        self.from_latent = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU())
        rev = chans[::-1]  # 128, 64, 32, 1
        ups = []
        for a, b in zip(rev[:-2], rev[1:-1]):
            ups += [nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1), nn.ReLU()]
        ups += [
            nn.ConvTranspose2d(rev[-2], rev[-2], 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.Conv2d(rev[-2], 1, 3, padding=1),
        ]
        self.decoder = nn.Sequential(*ups)

    def encode(self, mel: torch.Tensor, labels=None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.dense(self.encoder(mel.unsqueeze(1)))
        return self.mu(h), self.logvar(h).clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        x = self.from_latent(z).view(z.shape[0], *self.map_shape)
        return torch.sigmoid(self.decoder(x)[:, 0, : self.n_mels, : self.n_frames])

    def forward(self, mel: torch.Tensor, labels=None, generator=None):
        mu, logvar = self.encode(mel)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return self.decode(mu + eps * torch.exp(0.5 * logvar)), mu, logvar
