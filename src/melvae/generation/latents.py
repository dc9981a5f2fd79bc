"""Latent-space operations: sampling, spherical interpolation, schedules over time, and
joining clips.

Pure functions on tensors and arrays; :mod:`melvae.api` ties them to a loaded model.
"""

from __future__ import annotations

import numpy as np
import torch


def sample_latents(
    n: int,
    latent_dim: int,
    temperature: float = 1.0,
    seed: int | None = 0,
    center: torch.Tensor | None = None,
) -> torch.Tensor:
    """n draws from N(center, temperature^2 I): (n, latent_dim). Same seed, same draws."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.randn(n, latent_dim, generator=gen) * temperature
    return z + center.reshape(1, latent_dim) if center is not None else z


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation between vectors a and b (latent_dim,) at fractions t (k,):
    (k, latent_dim). Follows the great circle between the directions (White 2016, "Sampling
    generative networks") while the norm moves linearly from |a| to |b|, so intermediate points
    keep the norm typical of the prior instead of shrinking towards the origin as a straight
    line does. t=0 gives a and t=1 gives b exactly."""
    t = torch.as_tensor(t, dtype=a.dtype).reshape(-1, 1)
    na, nb = a.norm(), b.norm()
    if na < 1e-8 or nb < 1e-8:
        return (1 - t) * a + t * b
    ua, ub = a / na, b / nb
    omega = torch.arccos(torch.clamp((ua * ub).sum(), -1.0, 1.0))
    if omega < 1e-4:  # (anti)parallel to float precision: a straight line is as good
        direction = (1 - t) * ua + t * ub
    else:
        so = torch.sin(omega)
        direction = (torch.sin((1 - t) * omega) / so) * ua + (torch.sin(t * omega) / so) * ub
    out = direction * ((1 - t) * na + t * nb)
    out[t.reshape(-1) == 0] = a
    out[t.reshape(-1) == 1] = b
    return out


def crossfade_concat(clips: list[np.ndarray], fade_samples: int) -> np.ndarray:
    """Join audio clips end to start, overlapping each pair by ``fade_samples`` with an
    equal-power crossfade (cos / sin gains, squares summing to 1): clips decoded and inverted
    separately have unrelated phases, so their powers add, not their amplitudes."""
    if not clips:
        raise ValueError("nothing to join")
    fade = int(min([fade_samples] + [len(c) // 2 for c in clips]))
    out = np.asarray(clips[0], dtype=np.float32)
    if fade <= 0:
        return np.concatenate([out] + [np.asarray(c, np.float32) for c in clips[1:]])
    theta = 0.5 * np.pi * (np.arange(fade) + 0.5) / fade
    fade_in, fade_out = np.sin(theta), np.cos(theta)
    for clip in clips[1:]:
        clip = np.asarray(clip, dtype=np.float32)
        mixed = out[-fade:] * fade_out + clip[:fade] * fade_in
        out = np.concatenate([out[:-fade], mixed, clip[fade:]])
    return out.astype(np.float32)


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
