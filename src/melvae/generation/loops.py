"""Seamless loops: audio exactly a whole number of bars long that repeats without a click or
a jump, the producer's unit.

A loop is rendered a little longer than its length (a tail of about one beat past its end, at
the same clock), and the tail is crossfaded into its head with equal-power curves: where the
loop wraps, its last sample is followed by what the music played next (the first sample of
the tail, faded in at the head), so the repeat continues the sound rather than cutting it.
Bar-aligned, the tail is the same point of the beat as the head it blends into.
"""

from __future__ import annotations

import numpy as np


def loop_samples(bpm: float, bars: int, sample_rate: int, beats_per_bar: int = 4) -> int:
    """A loop's exact length in samples: ``bars`` bars of ``beats_per_bar`` beats."""
    return int(round(bars * beats_per_bar * 60.0 * sample_rate / bpm))


def seamless(audio: np.ndarray, length: int, fade: int) -> np.ndarray:
    """Audio (..., >= length + fade samples) -> loops (..., length): the ``fade`` samples
    after the end crossfaded (equal power) into the first ``fade``."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.shape[-1] < length + fade:
        raise ValueError(f"need {length + fade} samples to loop {length}, got {audio.shape[-1]}")
    out = audio[..., :length].copy()
    ramp = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / fade)  # head fades in
    tail = audio[..., length : length + fade]
    out[..., :fade] = out[..., :fade] * ramp + tail * np.sqrt(1.0 - ramp**2)
    return out
