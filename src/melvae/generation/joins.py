"""Long tracks of joined segments (the vector kind's): a latent walk from a real segment,
decoded segment by segment and joined without seams, in bounded memory for any length.

How a track is made:

1. **Plan**: segment k is placed at frame ``round(k * step)``; consecutive segments overlap.
   With a tempo, segment length, step and overlap are whole bars, so every segment starts on
   a bar line and the beat keeps its phase across joins (positions are rounded per segment,
   never accumulated, so the error stays under half a frame).
2. **Walk**: segment 0 is the start latent (a real segment's mean). The walk then heads for
   a random target (from the prior, or near a label) in ``steps_per_target`` spherical steps,
   then for the next target, and so on. Each leg excludes its starting point, so no latent
   (no segment) is ever used twice.
3. **Join**: decoded mel segments are converted to power and overlap-added with raised-cosine
   crossfades whose weights sum to 1 (a DJ-style crossfade, in the spectrogram). The joined
   spectrogram is inverted in one continuous pass by the inverter's stream
   (:meth:`melvae.audio.inverters.Inverter.stream`), so there is no per-segment inversion and
   no butt join anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from melvae.audio.features import normalized_to_power
from melvae.config import (
    DEFAULT_TEMPERATURE,
    MAX_LONGFORM_SECONDS,
    STEPS_PER_TARGET,
    AudioConfig,
)
from melvae.generation.latents import sample_latents, slerp


@dataclass
class SegmentPlan:
    """Where each segment goes, in STFT frames."""

    positions: list[int]  # first frame of each segment in the track
    used_frames: int  # frames of each decoded segment that are used
    overlap_frames: int  # nominal overlap of consecutive segments
    total_frames: int  # frames of the whole track
    total_samples: int
    bar_frames: float | None = None

    def seconds(self, frame: float, cfg: AudioConfig) -> float:
        return frame * cfg.hop_length / cfg.sample_rate

    def describe(self, segments: list[dict], cfg: AudioConfig) -> dict:
        """The track.json content: segment records and join times (centre of each overlap)."""
        joins = []
        for prev, nxt in zip(self.positions[:-1], self.positions[1:]):
            joins.append(round(self.seconds((nxt + prev + self.used_frames) / 2, cfg), 4))
        return {
            "seconds": self.total_samples / cfg.sample_rate,
            "samples": self.total_samples,
            "sample_rate": cfg.sample_rate,
            "segment_seconds": round(self.seconds(self.used_frames, cfg), 4),
            "overlap_seconds": round(self.seconds(self.overlap_frames, cfg), 4),
            "bar_seconds": None
            if self.bar_frames is None
            else round(self.seconds(self.bar_frames, cfg), 6),
            "segments": segments,
            "joins": joins,
        }


def track_length(seconds: float, cfg: AudioConfig) -> tuple[int, int]:
    """A track of ``seconds``: (samples, exact; centered STFT frames covering them)."""
    if not 0 < seconds <= MAX_LONGFORM_SECONDS:  # NaN and infinity too
        raise ValueError(f"seconds must be from 0 to {MAX_LONGFORM_SECONDS:g}, got {seconds}")
    total_samples = int(round(seconds * cfg.sample_rate))
    if total_samples < cfg.hop_length:
        raise ValueError(f"a track must last at least one hop ({cfg.frames_to_seconds(1):.3f} s)")
    return total_samples, math.ceil(total_samples / cfg.hop_length) + 1


def plan_segments(
    seconds: float,
    cfg: AudioConfig,
    bpm: float | None = None,
    overlap_fraction: float = 0.25,
    overlap_bars: int = 1,
) -> SegmentPlan:
    """Segment placement for a track of ``seconds`` (exact, in samples)."""
    total_samples, total_frames = track_length(seconds, cfg)
    seg = cfg.segment_frames
    bar_frames = None
    if bpm is not None:
        if bpm <= 0:
            raise ValueError("bpm must be positive")
        bar_frames = 4 * 60.0 / bpm * cfg.sample_rate / cfg.hop_length
        bars = int(seg // bar_frames)
        if bars < overlap_bars + 1:
            raise ValueError(
                f"at {bpm:g} BPM a segment ({cfg.segment_seconds:.2f} s) holds {bars} whole "
                f"bar(s); need at least {overlap_bars + 1} to overlap by {overlap_bars}"
            )
        used = int(round(bars * bar_frames))
        step = (bars - overlap_bars) * bar_frames
        overlap = used - int(round(step))
    else:
        if not 0 < overlap_fraction < 0.5:
            raise ValueError("overlap_fraction must be in (0, 0.5)")
        used = seg
        overlap = max(1, int(round(overlap_fraction * seg)))
        step = seg - overlap
    positions = [0]
    while positions[-1] + used < total_frames:
        positions.append(int(round(len(positions) * step)))
    return SegmentPlan(positions, used, overlap, total_frames, total_samples, bar_frames)


@dataclass
class WalkPoint:
    z: torch.Tensor  # (latent_dim,)
    source: dict = field(default_factory=dict)  # where it came from, for track.json


def latent_walk(
    start: torch.Tensor,
    n: int,
    steps_per_target: int = STEPS_PER_TARGET,
    temperature: float = DEFAULT_TEMPERATURE,
    seed: int = 0,
    target_center: torch.Tensor | None = None,
    target_spread: float = 1.0,
    start_source: dict | None = None,
) -> Iterator[WalkPoint]:
    """n latents: ``start`` then spherical steps towards a fresh random target every
    ``steps_per_target`` segments. Targets ~ N(target_center, (temperature*target_spread)^2)."""
    if steps_per_target < 1:
        raise ValueError("steps_per_target must be >= 1")
    yield WalkPoint(start, {"kind": "start", **(start_source or {})})
    anchor, leg = start, 0
    fractions = torch.arange(1, steps_per_target + 1, dtype=start.dtype) / steps_per_target
    # A stream of its own, derived from the seed: the targets must never coincide with a start
    # drawn from the prior with that same seed (a walk that stands still).
    walk_seed = int(np.random.SeedSequence([seed, 0x5EED_1A1C]).generate_state(1)[0])
    emitted = 1
    while emitted < n:
        target = sample_latents(
            1,
            start.numel(),
            temperature * target_spread,
            seed=walk_seed + leg,
            center=target_center,
        )[0]
        path = slerp(anchor, target, fractions)
        for i, z in enumerate(path):
            if emitted >= n:
                return
            yield WalkPoint(
                z, {"kind": "walk", "target": leg, "step": i + 1, "steps": steps_per_target}
            )
            emitted += 1
        anchor, leg = target, leg + 1


def _crossfade_window(used: int, overlap: int) -> torch.Tensor:
    """Raised-cosine ramps over ``overlap`` frames at both ends, 1 between: (used,)."""
    w = torch.ones(used)
    ramp = torch.sin(0.5 * math.pi * (torch.arange(overlap) + 0.5) / overlap) ** 2
    w[:overlap] = ramp
    w[used - overlap :] = torch.minimum(w[used - overlap :], ramp.flip(0))
    return w


def render_segments(
    decode: Callable[[torch.Tensor], torch.Tensor],
    cfg: AudioConfig,
    plan: SegmentPlan,
    walk: Iterator[WalkPoint],
    stream,
    batch_size: int = 8,
) -> Iterator[np.ndarray | dict]:
    """Yield the track's audio in blocks (float32 arrays, summing to plan.total_samples), and
    a dict per segment (index, start/end seconds, source) as soon as it is placed.

    decode: latents (B, latent_dim) -> normalized mel (B, n_mels, frames) on one device.
    stream: the inverter's stream for the track (:class:`melvae.audio.inverters.InverterStream`).
    Memory is bounded by batch_size segments plus one inversion chunk.
    """
    n_seg, used, overlap = len(plan.positions), plan.used_frames, plan.overlap_frames
    window = torch.zeros(0)
    device = None
    # Running overlap-add: acc/weight hold frames from `origin` on, not yet final.
    acc = weight = None
    origin = 0

    index = 0
    points = iter(walk)
    while index < n_seg:
        batch = [next(points) for _ in range(min(batch_size, n_seg - index))]
        with torch.no_grad():
            mels = decode(torch.stack([p.z for p in batch]))[..., :used]
        if device is None:  # the decoder's device: the overlap-add runs there
            device = mels.device
            window = _crossfade_window(used, max(1, overlap)).to(device)
            acc = torch.zeros(cfg.n_mels, 0, device=device)
            weight = torch.zeros(0, device=device)
        power = normalized_to_power(mels, cfg) * window
        for point, seg_power in zip(batch, power):
            pos = plan.positions[index]
            end = pos + used
            grow = end - origin - acc.shape[-1]
            if grow > 0:
                acc = torch.cat([acc, torch.zeros(cfg.n_mels, grow, device=device)], dim=-1)
                weight = torch.cat([weight, torch.zeros(grow, device=device)])
            acc[:, pos - origin : end - origin] += seg_power
            weight[pos - origin : end - origin] += window
            yield {
                "index": index,
                "start_seconds": round(plan.seconds(pos, cfg), 4),
                "end_seconds": round(
                    min(plan.seconds(end - 1, cfg), plan.total_samples / cfg.sample_rate), 4
                ),
                "source": point.source,
            }
            # Frames before the next segment's start receive nothing more: they are final.
            final_until = plan.positions[index + 1] if index + 1 < n_seg else plan.total_frames
            final_until = min(final_until, plan.total_frames)
            k = final_until - origin
            if k > 0:
                ready = acc[:, :k] / weight[:k].clamp(min=1e-6)
                acc, weight, origin = acc[:, k:], weight[k:], final_until
                yield from stream.push(ready)
            index += 1
    yield from stream.finish()
