"""A prior that knows where the beat is: the GRU mixture prior with a clock.

Each latent frame's input also carries the clock at that frame: the beat phase as a point on
the circle (sin, cos: 0 on a beat), the tempo (log2 of BPM / 120) and whether there is a
clock at all. A GRU left to its own history loses count of 5.04 latent frames per beat at 128
BPM within seconds; told the phase, it only has to learn what the music does at each point of
the beat, and the tempo is then whatever the clock says: the start's own, or the one asked.
The same per-frame phase input is what STAGE (beat and downbeat sinusoids) and msprior's
"sync" descriptor give their models.

In training the clock is dropped for a share of the windows (``PriorConfig.clock_dropout``;
JASCO drops each condition 30% of the time), and tracks with no clear beat never have one, so
the prior still runs free on beatless music or when no tempo is asked.
"""

from __future__ import annotations

import math

import torch

from melvae.models.priors.gru import GRUPrior

REFERENCE_BPM = 120.0


def clock_features(clock: torch.Tensor) -> torch.Tensor:
    """(B, T, 2) beat phase in [0, 1) and tempo in BPM, NaN for none -> (B, T, 4): sin and
    cos of the phase, log2(BPM / 120), and 1 where there is a clock (all four 0 where not)."""
    phase, bpm = clock[..., 0], clock[..., 1]
    on = torch.isfinite(phase) & torch.isfinite(bpm) & (bpm > 0)
    angle = 2 * math.pi * torch.where(on, phase, torch.zeros_like(phase))
    tempo = torch.log2(torch.where(on, bpm, torch.full_like(bpm, REFERENCE_BPM)) / REFERENCE_BPM)
    feats = torch.stack([angle.sin(), angle.cos(), tempo, torch.ones_like(tempo)], dim=-1)
    return feats * on[..., None]


class BeatPrior(GRUPrior):
    """The GRU mixture prior with a per-frame clock (registered as "beat")."""

    clock_width = 4

    def clock_inputs(self, clock: torch.Tensor | None, B: int, T: int) -> torch.Tensor:
        device = self.bos.device
        if clock is None:  # no clock asked: runs free
            return torch.zeros(B, T, self.clock_width, device=device)
        feats = clock_features(clock.to(device, torch.float32))
        if feats.shape[:2] != (B, T):
            raise ValueError(f"clock must be (B, T, 2) = ({B}, {T}, 2), got {tuple(clock.shape)}")
        if self.training and self.cfg.clock_dropout > 0:
            keep = torch.rand(B, 1, 1, device=device) >= self.cfg.clock_dropout
            feats = feats * keep
        return feats
