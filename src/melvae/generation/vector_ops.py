"""The vector kind's inference: interpolation endpoints and long tracks made by a latent
walk whose decoded segments are joined in the spectrogram.

Functions of a loaded :class:`melvae.api.Melvae` ``m`` whose model is a MelVAE (one latent
vector per segment); the API dispatches here by ``m.kind``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from melvae.errors import MelvaeError
from melvae.generation.inputs import check_endpoint, clip_latent, is_label
from melvae.generation.latents import sample_latents, slerp
from melvae.generation.longform import latent_walk, plan_segments, render_longform


def sample(m, n, label, temperature, seed) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n latent vectors from N(0, I) at ``temperature``: (z (n, latent_dim), label ids (n,)
    or None). A conditional model takes ``label``, or draws one per clip in the training
    data's proportions (:meth:`draw_labels`); an unconditional one with a ``label`` draws
    around that label's centroid at half the temperature (near its region of the prior)."""
    ids, center = None, None
    if m.conditional:
        names = m.draw_labels(n, seed) if label is None else [label] * n
        ids = torch.tensor([m.label_index(x) for x in names], device=m.device)
    elif label is not None:
        center, temperature = centroid(m, label), temperature * 0.5
    return sample_latents(n, m.latent_dim, temperature, seed, center=center), ids


def centroid(m, label: str) -> torch.Tensor:
    """The mean latent of ``label``'s training segments (latent_dim,), as stored in the
    checkpoint."""
    idx = m.label_index(label)
    if m.ckpt.label_centroids is None:
        raise MelvaeError("this checkpoint holds no label centroids")
    return m.ckpt.label_centroids[idx].float()


def interpolate_mels(m, a, b, steps: int, sr, seed, label_a, label_b) -> torch.Tensor:
    """Mels (steps, n_mels, frames) along the spherical path between the endpoints' latents
    (:func:`endpoint`), a conditional decoder's label embedding moving from a's label to
    b's. ``seed`` is unused: the path has no randomness."""
    (za, la, _), (zb, lb, _) = endpoint(m, a, sr, label_a), endpoint(m, b, sr, label_b)
    z = slerp(za.float(), zb.float(), torch.linspace(0, 1, steps))
    table = m.model.label_embedding  # None for an unconditional model
    return m._decode(z, cond=m._embedding_schedule(table, [la, lb], steps))


def endpoint(
    m, spec, sr: int | None = None, label: str | None = None
) -> tuple[torch.Tensor, str | None, str]:
    """Resolve an interpolation endpoint to (latent, its label or None, description).

    spec: a label name, an audio file (its middle segment), samples at ``sr`` (their
    middle segment), a normalized mel (n_mels, frames) or a latent vector (latent_dim,).
    On a conditional model a clip keeps its own label: ``label`` if given, else the one
    whose conditioning reconstructs it best (:meth:`fitting_label`); it is encoded with
    that label, which comes back for the decoder's conditioning to move along the path. A
    label endpoint is the prior's centre (zeros) under that label (an unconditional model's:
    the label's centroid, and no label comes back).
    """
    cond_model = m.conditional
    if is_label(m, spec):
        if cond_model:
            return torch.zeros(m.latent_dim), spec, f"label {spec}"
        return centroid(m, spec), None, f"label {spec}"
    check_endpoint(m, spec)
    arr = None if isinstance(spec, (str, Path)) else np.asarray(spec, dtype=np.float32)
    if arr is not None and arr.shape == (m.latent_dim,):
        if cond_model and label is None:
            raise MelvaeError("a latent vector of a conditional model needs its label")
        return torch.from_numpy(arr), label if cond_model else None, "latent"
    z, label = clip_latent(m, spec, sr, label)
    desc = f"audio {Path(spec).name}" if arr is None else "audio"
    if not cond_model:
        return torch.from_numpy(z), None, desc
    return torch.from_numpy(z), label, f"{desc} (label {label})"


def longform_stream(
    m,
    seconds: float,
    start,
    label: str | None,
    labels: list[str] | None,
    bpm: float | None,
    seed: int,
    temperature: float,
    steps_per_target: int,
    n_iter: int,
    start_sr: int | None,
):
    """The vector kind's long track: a latent walk from the start, segments joined in the
    spectrogram (:mod:`melvae.generation.longform`); the arguments as
    :meth:`Melvae.longform_stream`.

    A conditional model is conditioned on ``label``, else on the start's
    :meth:`fitting_label`, else on a drawn label; ``labels`` moves its decoder's label
    embedding through the names instead, segment k of n taking the schedule's value at
    k / (n - 1) (the start is still encoded with its own label). On an unconditional model
    ``label`` walks near that label's centroid, and ``labels`` is an error. ``temperature``
    is one number."""
    cond_model = m.conditional
    temps = np.atleast_1d(np.asarray(temperature, dtype=np.float64))
    if temps.size != 1:
        raise MelvaeError("a temperature schedule needs a sequence model; give one temperature")
    temperature = float(temps[0])
    if temperature < 0:
        raise MelvaeError("temperature must be >= 0")
    if labels and not cond_model:
        raise MelvaeError(
            "a label schedule (labels) needs a conditional or a sequence model; "
            "give one label (the walk stays near it)"
        )
    for name in labels or []:
        m.label_index(name)
    try:
        plan = plan_segments(seconds, m.audio, bpm=bpm)
    except ValueError as exc:
        raise MelvaeError(str(exc)) from None
    if start is not None:
        z0, start_label = clip_latent(m, start, start_sr, label, where="first")
        z0 = torch.from_numpy(z0)
        origin = {"from": str(start) if isinstance(start, (str, Path)) else "given clip"}
    else:
        start_label = label
        if cond_model and label is None:
            start_label = labels[0] if labels else m.draw_labels(1, seed)[0]
        z0 = m._sample(1, label, temperature, seed)[0]
        near = f" near label {label}" if label and not cond_model else ""
        origin = {"from": "random draw" + near}
    if cond_model:
        origin["label"] = start_label
    center, spread = None, 1.0
    if label is not None and not cond_model:
        center, spread = centroid(m, label), 0.5
    names = list(labels or [start_label]) if cond_model else []
    walk = latent_walk(
        z0,
        len(plan.positions),
        steps_per_target,
        temperature,
        seed,
        target_center=center,
        target_spread=spread,
        start_source=origin,
    )

    # A conditional decoder's label embedding per segment: segment k of n gets the
    # schedule's value at k / (n - 1). render_longform decodes the segments in order.
    cond_path = m._embedding_schedule(m.model.label_embedding, names, len(plan.positions))
    decoded = 0

    def decode(z: torch.Tensor) -> torch.Tensor:
        nonlocal decoded
        if cond_path is None:
            return m._decode(z, label)
        cond = cond_path[decoded : decoded + len(z)]
        decoded += len(z)
        return m._decode(z, cond=cond)

    yield {"plan": plan, "labels": names}
    yield from render_longform(
        decode, m.audio, plan, walk, n_iter=n_iter, seed=seed, device=m.device
    )
