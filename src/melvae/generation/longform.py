"""Long tracks: a latent walk from a real segment, decoded segment by segment and joined
without seams, in bounded memory for any length.

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
   spectrogram is inverted in one continuous pass by :class:`StreamingInverter`, in
   overlapping chunks that carry their phase over, so there is no per-segment inversion and
   no butt join anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from melvae.audio.features import normalized_to_power
from melvae.audio.inversion import DEFAULT_ITERATIONS, StreamingInverter, mel_power_to_linear_power
from melvae.config import DEFAULT_TEMPERATURE, STEPS_PER_TARGET, AudioConfig
from melvae.generation.latents import sample_latents, slerp
from melvae.models.sequence import decode_window


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


def track_length(seconds: float, cfg: AudioConfig) -> tuple[int, int]:
    """A track of ``seconds``: (samples, exact; centered STFT frames covering them)."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
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


class _TrackStream:
    """Mel power in, the track's audio out: one continuous StreamingInverter whose blocks are
    cut at exactly ``total_samples`` (and padded at the end, should it fall short)."""

    def __init__(self, cfg: AudioConfig, total_samples: int, n_iter, seed, chunk_frames, device):
        self.cfg, self.total, self.emitted = cfg, total_samples, 0
        self.inverter = StreamingInverter(
            cfg,
            chunk_frames=chunk_frames,
            overlap_frames=min(64, chunk_frames // 4),
            n_iter=n_iter,
            seed=seed,
            device=device,
        )

    def _trimmed(self, blocks: list[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            block = block[: self.total - self.emitted]
            self.emitted += len(block)
            if len(block):
                yield block

    def push(self, mel_power: torch.Tensor) -> Iterator[np.ndarray]:
        """Mel power (n_mels, frames) of the next frames of the track."""
        linear = torch.sqrt(mel_power_to_linear_power(mel_power, self.cfg))
        yield from self._trimmed(self.inverter.push(linear))

    def finish(self) -> Iterator[np.ndarray]:
        yield from self._trimmed(self.inverter.finish())
        if self.emitted < self.total:  # never expected: pad rather than mislabel the length
            yield np.zeros(self.total - self.emitted, dtype=np.float32)


def _crossfade_window(used: int, overlap: int) -> torch.Tensor:
    """Raised-cosine ramps over ``overlap`` frames at both ends, 1 between: (used,)."""
    w = torch.ones(used)
    ramp = torch.sin(0.5 * math.pi * (torch.arange(overlap) + 0.5) / overlap) ** 2
    w[:overlap] = ramp
    w[used - overlap :] = torch.minimum(w[used - overlap :], ramp.flip(0))
    return w


def render_longform(
    decode: Callable[[torch.Tensor], torch.Tensor],
    cfg: AudioConfig,
    plan: SegmentPlan,
    walk: Iterator[WalkPoint],
    n_iter: int = DEFAULT_ITERATIONS,
    seed: int = 0,
    batch_size: int = 8,
    chunk_frames: int = 1024,
    device: torch.device | str = "cpu",
) -> Iterator[np.ndarray | dict]:
    """Yield the track's audio in blocks (float32 arrays, summing to plan.total_samples), and
    a dict per segment (index, start/end seconds, source) as soon as it is placed.

    decode: latents (B, latent_dim) -> normalized mel (B, n_mels, frames).
    Memory is bounded by batch_size segments plus one inversion chunk.
    """
    n_seg, used, overlap = len(plan.positions), plan.used_frames, plan.overlap_frames
    window = _crossfade_window(used, max(1, overlap)).to(device)
    stream = _TrackStream(cfg, plan.total_samples, n_iter, seed, chunk_frames, device)
    # Running overlap-add: acc/weight hold frames from `origin` on, not yet final.
    acc = torch.zeros(cfg.n_mels, 0, device=device)
    weight = torch.zeros(0, device=device)
    origin = 0

    index = 0
    points = iter(walk)
    while index < n_seg:
        batch = [next(points) for _ in range(min(batch_size, n_seg - index))]
        with torch.no_grad():
            mels = decode(torch.stack([p.z for p in batch]).to(device))[..., :used]
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


# -- the sequence kind: one latent sequence, continued by the prior, no joins ----------------


@dataclass
class SequencePlan:
    """A sequence model's track: latent frames decoded in windows, inverted as one stream."""

    total_samples: int
    total_frames: int  # mel frames
    latent_frames: int
    window: int  # latent frames decoded at once
    start_frames: int  # latent frames taken from the real start (0: none)
    rate: int  # mel frames per latent frame

    @property
    def positions(self) -> list[int]:
        """First latent frame of each decoding window (one progress step each)."""
        return list(range(0, self.latent_frames, self.window))

    def describe(self, windows: list[dict], cfg: AudioConfig) -> dict:
        """The track.json content: no segments and no joins, one continuous sequence."""
        return {
            "seconds": self.total_samples / cfg.sample_rate,
            "samples": self.total_samples,
            "sample_rate": cfg.sample_rate,
            "kind": "sequence",
            "latent_frames": self.latent_frames,
            "start_seconds": round(
                cfg.frames_to_seconds(min(self.total_frames, self.start_frames * self.rate)), 4
            ),
            "windows": windows,
            "segments": [],
            "joins": [],
        }


def plan_sequence(
    seconds: float, cfg: AudioConfig, rate: int, start_frames: int = 0, window: int = 256
) -> SequencePlan:
    """A sequence model's track of ``seconds``: its latent frames at ``rate``, the first
    ``start_frames`` of them from the real start, decoded ``window`` at a time."""
    total_samples, total_frames = track_length(seconds, cfg)
    latent = math.ceil(total_frames / rate)
    return SequencePlan(
        total_samples, total_frames, latent, window, min(start_frames, latent), rate
    )


def schedule(values: list, steps: int) -> torch.Tensor:
    """Piecewise-linear path through ``values`` (k, ...) spread evenly over ``steps``:
    (steps, ...). One value holds for the whole track."""
    v = torch.as_tensor(np.asarray(values, dtype=np.float32))
    if len(v) == 1 or steps == 1:
        return v[:1].expand(steps, *v.shape[1:]).clone()
    pos = torch.linspace(0, len(v) - 1, steps)
    lo = pos.floor().long().clamp(max=len(v) - 2)
    frac = (pos - lo).reshape(-1, *([1] * (v.dim() - 1)))
    return v[lo] * (1 - frac) + v[lo + 1] * frac


def render_sequence(
    model,
    prior,
    cfg: AudioConfig,
    plan: SequencePlan,
    start_z: torch.Tensor | None,
    temperature: torch.Tensor,
    prior_cond: torch.Tensor | None,
    decoder_cond: torch.Tensor | None,
    n_iter: int = DEFAULT_ITERATIONS,
    seed: int = 0,
    chunk_frames: int = 1024,
    device: torch.device | str = "cpu",
) -> Iterator[np.ndarray | dict]:
    """Yield the track's audio in blocks (float32, summing to plan.total_samples) and a dict
    per decoding window.

    The latent sequence is ``start_z`` (C, T0) (a real segment's latent means) continued by
    the prior, one frame at a time from the GRU state after the start, with a temperature
    (latent_frames,) and label embeddings (latent_frames, E) per frame (a schedule). It is
    decoded in windows with ``model.context_frames()`` of latent context on both sides (the
    same mel as one whole decode), and the mel is inverted as one stream. Memory is bounded by
    one window and one inversion chunk, whatever the length.
    """
    C = model.cfg.latent_channels
    ctx = model.context_frames()
    gen = torch.Generator().manual_seed(seed)
    stream = _TrackStream(cfg, plan.total_samples, n_iter, seed, chunk_frames, device)
    T = plan.latent_frames
    t0 = plan.start_frames

    def cond_at(c: torch.Tensor | None, a: int, b: int) -> torch.Tensor | None:
        return None if c is None else c[a:b].to(device)[None]

    if t0:
        start = start_z[:, :t0].to(device)[None]
        state = prior.warm(start, cond=cond_at(prior_cond, 0, t0))
    else:
        state = prior.start(1)
    frames = prior.stream(
        state,
        T - t0,
        temperature[t0:],
        cond=cond_at(prior_cond, t0, T),
        generator=gen,
    )
    # buffer holds latent frames [buf_start, buf_start + buf.shape[-1]) of the sequence
    buf = start_z[:, :t0].to(device) if t0 else torch.zeros(C, 0, device=device)
    buf_start, made, r = 0, t0, model.rate
    for w_start in plan.positions:
        w_end = min(T, w_start + plan.window)
        need = min(T, w_end + ctx)
        new = [next(frames)[0] for _ in range(need - made)]
        if new:
            buf = torch.cat([buf, torch.stack(new, dim=-1)], dim=-1)
            made = need
        with torch.no_grad():  # the buffer holds every frame of context the window needs
            mel = decode_window(
                model,
                buf[None, :, : need - buf_start],
                w_start - buf_start,
                w_end - buf_start,
                cond=cond_at(decoder_cond, buf_start, need),
            )
        mel = mel[:, : max(0, plan.total_frames - w_start * r)]
        yield from stream.push(normalized_to_power(mel, cfg))
        yield {
            "index": w_start // plan.window,
            "start_seconds": round(cfg.frames_to_seconds(w_start * r), 4),
            "end_seconds": round(
                min(cfg.frames_to_seconds(w_end * r), plan.total_samples / cfg.sample_rate), 4
            ),
            "from": "start clip" if w_start < t0 else "prior",
        }
        keep_from = max(0, w_end - ctx)  # frames before this are never needed again
        buf, buf_start = buf[:, keep_from - buf_start :], keep_from
    yield from stream.finish()
