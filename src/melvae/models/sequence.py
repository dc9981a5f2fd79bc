"""The time-resolved VAE: a latent *sequence*, one frame every ``rate`` mel frames.

Shapes: mel (B, n_mels, T) with values in [0, 1]; latent (B, latent_channels, T / rate)
(T is zero-padded up to a multiple of ``rate`` and cropped back). Every layer is a
convolution, so the model encodes and decodes any length, and decoding a long latent sequence
in overlapping windows gives the same mel as decoding it whole (tested): that is how
``longform`` streams a track of any length.

Layout (why: a 2-D front end is cheap where the map is large, a 1-D trunk is cheap where the
frequency axis has been folded into channels):

    encoder  mel (B, 1, M, T)
             -> 2-D convs, each halving frequency; the first log2(rate) also halve time
             -> fold frequency into channels: (B, C2 * M / 8, T / rate)
             -> 1-D conv to ``width`` channels, residual dilated 1-D conv blocks
             -> 1x1 conv to (mu, logvar), each (B, latent_channels, T / rate)
    decoder  the mirror image, ending in a sigmoid.

Published audio autoencoders that reconstruct sharply keep one latent frame every 20-100 ms
(RAVE, Stable Audio Open, Music2Latent); at 22,050 Hz and hop 512, rate 4 is 93 ms.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from melvae.config import ModelConfig
from melvae.models.vae_base import VAEBase

FREQ_LAYERS = 3  # 2-D layers, each halving the mel axis: 128 bands -> 16 rows


class _Residual(nn.Module):
    """x + conv(act(conv(act(x)))), dilated in time (WaveNet-style context at little cost)."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm1d(width),
            nn.LeakyReLU(0.2),
            nn.Conv1d(width, width, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _trunk(width: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*[_Residual(width, 3 ** (i % 2)) for i in range(blocks)])


class SeqVAE(VAEBase):
    """Conv encoder -> latent sequence (mu, logvar) -> conv decoder, optionally conditioned on
    a label (its embedding joins every latent frame)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.rate = self.latent_rate = cfg.rate  # mel frames per latent frame
        time_layers = int(math.log2(cfg.rate))
        self.pad_mels = math.ceil(cfg.n_mels / 2**FREQ_LAYERS) * 2**FREQ_LAYERS - cfg.n_mels
        rows = (cfg.n_mels + self.pad_mels) // 2**FREQ_LAYERS
        c2 = cfg.channels[-1]
        folded = c2 * rows
        cond = cfg.label_embedding_dim if cfg.conditional else 0
        self.label_embedding = (
            nn.Embedding(cfg.n_labels, cfg.label_embedding_dim) if cfg.conditional else None
        )
        chans = (1, *cfg.channels)
        down, up = [], []
        for i in range(FREQ_LAYERS):
            t_stride = 2 if i < time_layers else 1
            k = (4, 4 if t_stride == 2 else 3)
            down += [
                nn.Conv2d(chans[i], chans[i + 1], k, stride=(2, t_stride), padding=1),
                nn.BatchNorm2d(chans[i + 1]),
                nn.LeakyReLU(0.2),
            ]
        for i in reversed(range(FREQ_LAYERS)):
            t_stride = 2 if i < time_layers else 1
            k = (4, 4 if t_stride == 2 else 3)
            last = i == 0
            up += [nn.ConvTranspose2d(chans[i + 1], chans[i], k, stride=(2, t_stride), padding=1)]
            if not last:
                up += [nn.BatchNorm2d(chans[i]), nn.LeakyReLU(0.2)]
        self.down2d = nn.Sequential(*down)
        self.up2d = nn.Sequential(*up)
        self.rows = rows
        self.enc1d = nn.Sequential(
            nn.Conv1d(folded + cond, cfg.width, 3, padding=1),
            _trunk(cfg.width, cfg.blocks),
            nn.LeakyReLU(0.2),
            nn.Conv1d(cfg.width, 2 * cfg.latent_channels, 1),
        )
        self.dec1d = nn.Sequential(
            nn.Conv1d(cfg.latent_channels + cond, cfg.width, 3, padding=1),
            _trunk(cfg.width, cfg.blocks),
            nn.LeakyReLU(0.2),
            nn.Conv1d(cfg.width, folded, 1),
            nn.BatchNorm1d(folded),
            nn.LeakyReLU(0.2),
        )

    # -- facts the inference core asks of every model kind -----------------------------------
    def latent_frames(self, frames: int) -> int:
        """Latent frames for a mel of ``frames`` frames."""
        return math.ceil(frames / self.rate)

    def pool(self, mu: torch.Tensor) -> torch.Tensor:
        """(B, C, T') -> (B, C): one vector per segment (its time average), for maps and kNN."""
        return mu.mean(-1)

    def positions(self, mu: torch.Tensor) -> torch.Tensor:
        """(B, C, T') -> (B * T', C): every latent frame as a sample of the code."""
        return mu.transpose(1, 2).reshape(-1, mu.shape[1])

    def context_frames(self) -> int:
        """Latent frames on each side beyond which a decoded frame no longer depends on z:
        the decoder's receptive field, with margin (checked against a full decode in tests)."""
        dil = sum(3 ** (i % 2) for i in range(self.cfg.blocks))
        return 2 + dil + 2

    # -- the model ---------------------------------------------------------------------------
    @staticmethod
    def _join(x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """x (B, C, T) and label embeddings (B, E), or (B, T, E) one per frame."""
        if cond is None:
            return x
        if cond.dim() == 2:
            cond = cond[:, :, None].expand(-1, -1, x.shape[-1])
        else:
            cond = cond.transpose(1, 2)
        return torch.cat([x, cond.to(x.dtype)], dim=1)

    def encode(
        self, mel: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (B, n_mels, T) in [0, 1] -> mu, logvar, each (B, latent_channels, ceil(T/rate))."""
        B, _, T = mel.shape
        pad_t = self.latent_frames(T) * self.rate - T
        x = F.pad(mel.unsqueeze(1), (0, pad_t, 0, self.pad_mels))
        h = self.down2d(x)  # (B, C2, rows, T')
        h = h.flatten(1, 2)
        mu, logvar = self.enc1d(self._join(h, self._condition(labels, B))).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
        frames: int | None = None,
    ) -> torch.Tensor:
        """z (B, latent_channels, T') -> mel (B, n_mels, frames) in [0, 1]; ``frames`` defaults
        to the segment's frames for a segment's latent, else T' * rate. ``cond``: label
        embeddings (B, E), or (B, T', E) one per frame, given directly."""
        B, _, Tz = z.shape
        if frames is None:
            segment = Tz == self.latent_frames(self.cfg.n_frames)
            frames = self.cfg.n_frames if segment else Tz * self.rate
        if cond is None:
            cond = self._condition(labels, B)
        h = self.dec1d(self._join(z, cond))
        h = h.view(B, self.cfg.channels[-1], self.rows, Tz)
        x = self.up2d(h)[:, 0, : self.cfg.n_mels, :frames]
        return torch.sigmoid(x)


def decode_window(
    model: SeqVAE,
    z: torch.Tensor,
    start: int,
    end: int,
    labels: torch.Tensor | None = None,
    cond: torch.Tensor | None = None,
) -> torch.Tensor:
    """The mel of latent frames [start, end) of z (1, C, T'): (n_mels, (end - start) * rate).

    They are decoded with ``context_frames`` of latent context on each side where z has it,
    which is then thrown away, so the result equals that part of ``model.decode(z)``.
    ``cond``: label embeddings (1, E), or (1, T', E) one per frame of z."""
    ctx, r = model.context_frames(), model.rate
    lo, hi = max(0, start - ctx), min(z.shape[-1], end + ctx)
    if cond is not None and cond.dim() == 3:
        cond = cond[:, lo:hi]
    mel = model.decode(z[..., lo:hi], labels, cond, frames=(hi - lo) * r)
    return mel[0, :, (start - lo) * r : (end - lo) * r]


def decode_windows(
    model: SeqVAE,
    z: torch.Tensor,
    window: int = 256,
    labels: torch.Tensor | None = None,
    cond: torch.Tensor | None = None,
):
    """Decode a long latent sequence z (1, C, T') in windows of ``window`` latent frames
    (:func:`decode_window`); yields consecutive mel blocks whose concatenation equals
    ``model.decode(z)``, in memory bounded by the window."""
    for start in range(0, z.shape[-1], window):
        yield decode_window(model, z, start, min(z.shape[-1], start + window), labels, cond)
