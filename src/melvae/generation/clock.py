"""The clock a clocked prior follows: each latent frame's beat phase and tempo.

A clock is a tensor (T, 2): column 0 the beat phase in [0, 1) (0 on a beat), column 1 the
tempo in BPM; NaN in both where there is none (the prior then runs free). A track's clock
either carries on a real start's own beat (its beats tracked by :mod:`melvae.audio.beats`,
the phase continued at the start's tempo or at the one asked) or starts on a beat at the tempo
asked. A tempo schedule (several BPM values, spread evenly over the track) moves the tempo
linearly and the phase integrates it, so the beat never jumps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from melvae.audio.beats import phase_at, track_beats
from melvae.config import MAX_CLOCK_BPM, MIN_CLOCK_BPM, AudioConfig
from melvae.errors import MelvaeError
from melvae.generation.latents import schedule


def check_bpm(bpm) -> list[float] | None:
    """A tempo, or a schedule of tempos, as a list of BPM values (None: none asked)."""
    if bpm is None:
        return None
    values = [float(x) for x in np.atleast_1d(np.asarray(bpm, dtype=np.float64))]
    if not values or not all(MIN_CLOCK_BPM <= v <= MAX_CLOCK_BPM for v in values):  # NaN too
        raise MelvaeError(f"bpm must be from {MIN_CLOCK_BPM:g} to {MAX_CLOCK_BPM:g}, got {bpm}")
    return values


def frame_seconds(cfg: AudioConfig, rate: int) -> float:
    """Seconds per latent frame at ``rate`` mel frames per latent frame."""
    return rate * cfg.hop_length / cfg.sample_rate


def steady_clock(frames: int, dt: float, bpm: list[float], phase0: float = 0.0) -> torch.Tensor:
    """(frames, 2): the phase from ``phase0`` advancing at ``bpm`` (one value, or a schedule
    spread over the frames; the phase integrates the tempo), ``dt`` seconds per frame."""
    tempo = schedule(bpm, frames).double() if frames else torch.zeros(0, dtype=torch.float64)
    # The phase of frame t: phase0 plus the beats elapsed over frames 0 .. t-1.
    beats = torch.cumsum(tempo * dt / 60.0, 0) - tempo * dt / 60.0
    phase = torch.remainder(phase0 + beats, 1.0)
    return torch.stack([phase, tempo], dim=-1).float()


@dataclass
class StartBeat:
    """A real start's beat: its tempo and the phase of each of its latent frames (frames,)."""

    bpm: float
    phases: np.ndarray
    times: np.ndarray  # its beat times, seconds

    def timed(self, rate: float, frames: int, dt: float) -> StartBeat:
        """The same beat played ``rate`` times slower (a beat grid's pace,
        :mod:`melvae.generation.grid`), with the phase of each of its first ``frames`` latent
        frames."""
        times = self.times * rate
        bpm = self.bpm / rate
        phases = phase_at(times, np.arange(frames) * dt, bpm).astype(np.float32)
        return StartBeat(bpm, phases, times)

    def phase_after(self, frames: int, dt: float) -> float:
        """The phase at latent frame ``frames``: the start's beats continued at its tempo."""
        return float(phase_at(self.times, frames * dt, self.bpm))


# A start clip is one segment (10 s), not a whole track: its pulse reads a little weaker. On
# the dev set the first 10 s of clips with a clear beat give the whole clip's tempo (within
# 3%) 86% of the time, and 80% where those 10 s score 0.3-0.4 (README, "Beats in the
# dataset"), so a start needs less clarity than a track to carry its tempo on.
START_CLEAR_PULSE = 0.3


def start_beat(wave: np.ndarray, sample_rate: int, frames: int, dt: float) -> StartBeat | None:
    """The beat of a start clip's audio at its ``frames`` latent frames, or None where it has
    no clear beat."""
    beats = track_beats(wave, sample_rate, clear_pulse=START_CLEAR_PULSE)
    if not beats.clear:
        return None
    phases = phase_at(beats.times, np.arange(frames) * dt, beats.bpm)
    return StartBeat(float(beats.bpm), phases.astype(np.float32), beats.times)


def track_clock(
    frames: int, start_frames: int, dt: float, bpm: list[float] | None, start: StartBeat | None
) -> tuple[torch.Tensor | None, dict]:
    """The clock of a long track of ``frames`` latent frames whose first ``start_frames``
    come from a real start (``start``: its beat, None where it has none or no audio), and
    what track.json says of it. With no tempo asked the start's own carries on; with neither
    there is no clock (None) and the prior runs free."""
    if bpm is None and start is None:
        return None, {"clock": "none: no tempo asked and the start has no clear beat"}
    clock = torch.full((frames, 2), math.nan)
    phase0 = 0.0
    if start is not None:
        clock[:start_frames, 0] = torch.from_numpy(start.phases[:start_frames])
        clock[:start_frames, 1] = start.bpm
        phase0 = start.phase_after(start_frames, dt)
    tempo = bpm or [start.bpm]
    clock[start_frames:] = steady_clock(frames - start_frames, dt, tempo, phase0)
    info = {
        "clock": "asked" if bpm is not None else "the start's own tempo",
        "bpm": tempo if len(tempo) > 1 else tempo[0],
        "start_bpm": None if start is None else round(start.bpm, 2),
    }
    return clock, info
