"""A prior that knows where the beat is: the GRU mixture prior with a clock.

Each latent frame's input also carries the clock at that frame: the beat phase as a point on
the circle (sin, cos: 0 on a beat), the tempo (log2 of BPM / 120) and whether there is a
clock at all. A GRU left to its own history loses count of 5.04 latent frames per beat at 128
BPM within seconds; told the phase, it only has to learn what the music does at each point of
the beat, and the tempo is then whatever the clock says: the start's own, or the one asked.
The same per-frame phase input is what STAGE (beat and downbeat sinusoids) and msprior's
"sync" descriptor give their models.

With ``PriorConfig.lag_beats`` (e.g. (1, 4)) each frame also sees the latent frame one beat
back and one bar back, at the clock's tempo: music repeats itself at the beat and the bar, and
a frame a bar back is what a producer copies. Without a clock these inputs are zeros.

In training the clock is dropped for a share of the windows (``PriorConfig.clock_dropout``;
JASCO drops each condition 30% of the time), and tracks with no clear beat never have one, so
the prior still runs free on beatless music or when no tempo is asked.
"""

from __future__ import annotations

import math

import torch

from melvae.config import MIN_CLOCK_BPM
from melvae.models.priors.gru import GRUPrior, PriorState

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


CLOCK_FEATURES = 4


class BeatPrior(GRUPrior):
    """The GRU mixture prior with a per-frame clock (registered as "beat")."""

    @property
    def history_frames(self) -> int:
        """Frames a stream keeps for its lag inputs: the longest lag at the slowest clock, so
        streaming sees every frame back that training does."""
        if not self.cfg.lag_beats:
            return 1
        longest = max(self.cfg.lag_beats) * 60.0 / (MIN_CLOCK_BPM * self.cfg.frame_seconds)
        return math.ceil(longest) + 1

    @property
    def clock_width(self) -> int:
        """The clock's 4 features, and C numbers for each lag."""
        return CLOCK_FEATURES + self.cfg.channels * len(self.cfg.lag_beats)

    def _lags(self, feats: torch.Tensor) -> torch.Tensor:
        """(..., 4) clock features -> (..., len(lag_beats)) lags in whole frames (0: none)."""
        if not self.cfg.lag_beats:
            return torch.zeros(*feats.shape[:-1], 0, dtype=torch.long, device=feats.device)
        on = feats[..., 3] > 0.5
        bpm = REFERENCE_BPM * torch.exp2(feats[..., 2])
        beat = 60.0 / (bpm * self.cfg.frame_seconds)  # frames per beat
        lags = torch.stack([torch.round(beat * b) for b in self.cfg.lag_beats], dim=-1)
        return torch.where(on[..., None], lags.clamp(min=1), torch.zeros_like(lags)).long()

    def frame_inputs(self, prev, clock, B, T):
        feats = self.clock_inputs(clock, B, T)
        if not self.cfg.lag_beats:
            return feats
        # Step t predicts frame t and sees prev[:, t] (frame t - 1): frame t - L is hist[t - L]
        hist = prev[:, 1:]  # frames 0 .. T - 2 (with the training noise, as the GRU sees them)
        t = torch.arange(T, device=prev.device)[None, :, None]
        idx = t - self._lags(feats)  # (B, T, lags)
        ok = (idx >= 0) & (idx < t) & (hist.shape[1] > 0)
        safe = idx.clamp(0, max(0, hist.shape[1] - 1))
        C = self.cfg.channels
        rows = torch.arange(B, device=prev.device)[:, None, None]
        got = (
            hist[rows, safe]
            if hist.shape[1]
            else torch.zeros(B, T, safe.shape[-1], C, device=prev.device)
        )
        lag = (got * ok[..., None]).reshape(B, T, -1)  # (B, T, lags * C)
        return torch.cat([feats, lag], dim=-1)

    def start(self, batch: int) -> PriorState:
        state = super().start(batch)
        state.history = torch.zeros(batch, 0, self.cfg.channels, device=self.bos.device)
        return state

    def warm(self, z, labels=None, cond=None, clock=None) -> PriorState:
        state = super().warm(z, labels, cond, clock)
        state.history = self._norm(z.transpose(1, 2).to(self.bos.device))[:, -self.history_frames :]
        return state

    def step(self, state: PriorState, cond, clock, temperature: float, generator, noise=None):
        if self.cfg.lag_beats:
            hist, lags = state.history, self._lags(clock)  # (B, H, C), (B, lags)
            B, H = hist.shape[:2]
            ok = (lags >= 1) & (lags <= H)
            idx = (H - lags).clamp(0, max(0, H - 1))
            rows = torch.arange(B, device=hist.device)[:, None]
            got = (
                hist[rows, idx]
                if H
                else torch.zeros(B, lags.shape[-1], self.cfg.channels, device=hist.device)
            )
            clock = torch.cat([clock, (got * ok[..., None]).reshape(B, -1)], dim=-1)
        frame = super().step(state, cond, clock, temperature, generator, noise)
        if self.cfg.lag_beats:
            state.history = torch.cat([state.history, state.last[:, None]], dim=1)[
                :, -self.history_frames :
            ]
        return frame

    def clock_inputs(self, clock: torch.Tensor | None, B: int, T: int) -> torch.Tensor:
        device = self.bos.device
        if clock is None:  # no clock asked: runs free
            return torch.zeros(B, T, CLOCK_FEATURES, device=device)
        feats = clock_features(clock.to(device, torch.float32))
        if feats.shape[:2] != (B, T):
            raise ValueError(f"clock must be (B, T, 2) = ({B}, {T}, 2), got {tuple(clock.shape)}")
        if self.training and self.cfg.clock_dropout > 0:
            keep = torch.rand(B, 1, 1, device=device) >= self.cfg.clock_dropout
            feats = feats * keep
        return feats
