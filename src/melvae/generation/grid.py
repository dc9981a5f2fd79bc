"""The beat grid: a tempo at which every beat is a whole number of latent frames.

At 128 BPM a beat is 5.04 latent frames (93 ms each): no frame falls twice on the same point
of the beat, so nothing a frame does can recur exactly beat after beat. On the grid a beat is
a whole number N of frames (5 at 128 BPM, so the grid's tempo is 129.2 BPM), the prior's
beat-coherent draws (:class:`melvae.models.priors.base.Repeat`) repeat at exactly one beat,
and the decoded mel is then stretched in time by the small ratio between the grid's tempo and
the one asked (at most 1/(2N) for N frames a beat: 0.9% at 128 BPM, 7.7% at 100 and 150,
14% near 185 and 20% near 258, where a beat is 2.5 frames) so the track is at exactly that
tempo. A stretch of the log-mel along time leaves pitch alone; the inversion
makes its phase afresh anyway.

``rate`` is the grid's mel frames per output mel frame: output frame k is the grid's mel at
position k * rate, linearly interpolated (frames 23 ms apart: a milder blend than any between
latent frames).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Grid:
    """``bpm`` the tempo heard, ``frames_per_beat`` latent frames per beat on the grid,
    ``frame_seconds`` seconds per latent frame."""

    bpm: float
    frames_per_beat: int
    frame_seconds: float

    @property
    def tempo(self) -> float:
        """The grid's own tempo, BPM: a beat of exactly ``frames_per_beat`` frames."""
        return 60.0 / (self.frames_per_beat * self.frame_seconds)

    @property
    def rate(self) -> float:
        """The grid's mel frames per output mel frame (> 1: the grid is played faster)."""
        return self.bpm / self.tempo

    def describe(self) -> dict:
        return {
            "frames_per_beat": self.frames_per_beat,
            "grid_bpm": round(self.tempo, 3),
            "stretch": round(1.0 / self.rate, 5),
        }


def beat_grid(bpm: float, frame_seconds: float) -> Grid:
    """The grid nearest ``bpm``: the whole number of frames per beat nearest its own (at
    least 2)."""
    frames = max(2, round(60.0 / (bpm * frame_seconds)))
    return Grid(float(bpm), frames, frame_seconds)


def grid_frames(frames: int, rate: float) -> int:
    """Grid mel frames that ``frames`` output frames read (their last position, and one to
    interpolate towards)."""
    return math.floor((frames - 1) * rate) + 2 if frames > 0 else 0


def stretch(mel: torch.Tensor, rate: float, frames: int) -> torch.Tensor:
    """(..., F) -> (..., frames): output frame k is ``mel`` at position k * rate, linearly
    interpolated (positions past the end hold the last frame)."""
    pos = torch.arange(frames, dtype=torch.float64, device=mel.device) * rate
    return _interpolate(mel, pos)


def _interpolate(mel: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    last = mel.shape[-1] - 1
    i0 = pos.floor().long().clamp(0, last)
    i1 = (i0 + 1).clamp(max=last)
    w = (pos - i0.double()).clamp(0.0, 1.0).to(mel.dtype)
    return mel[..., i0] * (1 - w) + mel[..., i1] * w


class StretchStream:
    """:func:`stretch` over a mel pushed in blocks: exactly ``frames`` output frames in all,
    the same as one stretch of the whole mel, in memory of one block."""

    def __init__(self, rate: float, frames: int):
        self.rate, self.frames = float(rate), int(frames)
        self.made = 0  # output frames given
        self.offset = 0  # grid frame index of self.held[..., 0]
        self.held: torch.Tensor | None = None

    def push(self, mel: torch.Tensor) -> torch.Tensor:
        """A block of grid mel (..., n) -> the output frames it completes (..., m)."""
        self.held = mel if self.held is None else torch.cat([self.held, mel], dim=-1)
        end = self.offset + self.held.shape[-1]  # grid frames seen
        # Output frame k needs grid frames floor(k * rate) and the one after it.
        ready = min(self.frames, math.floor((end - 2) / self.rate) + 1 if end >= 2 else 0)
        return self._emit(ready)

    def finish(self) -> torch.Tensor:
        """The frames still owed (the last ones hold the final grid frame)."""
        if self.held is None:
            raise ValueError("nothing was pushed")
        return self._emit(self.frames)

    def _emit(self, upto: int) -> torch.Tensor:
        held = self.held
        if upto <= self.made:
            return held[..., :0]
        pos = torch.arange(self.made, upto, dtype=torch.float64, device=held.device)
        pos = pos * self.rate - self.offset
        out = _interpolate(held, pos)
        self.made = upto
        keep = max(0, min(held.shape[-1] - 1, math.floor(upto * self.rate) - self.offset))
        self.held, self.offset = held[..., keep:], self.offset + keep
        return out
