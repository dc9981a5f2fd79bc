"""The sequence kind's inference: sampling its prior, interpolating latent sequences, and
long tracks continued by the prior with no joins.

Functions of a loaded :class:`melvae.api.Melvae` ``m`` whose model is a SeqVAE; the API
dispatches here by ``m.kind``, so this module is where the sequence kind plugs into every
command. Shapes: latent sequences (n, latent_channels, latent frames).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from melvae.audio.features import log_mel
from melvae.errors import MelvaeError
from melvae.generation.inputs import check_endpoint, clip_latent, is_label, mono_audio
from melvae.generation.longform import plan_sequence, render_sequence, schedule


def sample(m, n, label, temperature, seed, cond=None):
    """n latent sequences of one segment from the prior: (z (n, C, T'), label ids (n,) or
    None). A conditional prior with no label draws one per clip (:meth:`draw_labels`)."""
    prior = m._need_prior()
    if temperature < 0:
        raise MelvaeError(f"temperature must be >= 0, got {temperature}")
    ids = None
    if prior.cfg.n_labels and cond is None:
        if label is not None:
            ids = torch.full((n,), m.label_index(label), dtype=torch.long)
        else:
            names = m.draw_labels(n, seed)
            ids = torch.tensor([m.label_index(x) for x in names], dtype=torch.long)
        ids = ids.to(m.device)
    steps = m.model.latent_frames(m.audio.segment_frames)
    z = prior.sample(n, steps, temperature, seed, labels=ids, cond=cond)
    return z, ids


def interpolate_mels(
    m,
    a,
    b,
    steps: int,
    sr: int | None,
    seed: int = 0,
    label_a: str | None = None,
    label_b: str | None = None,
):
    """Sequence kind: between two labels, the prior's (and a conditional decoder's)
    conditioning moves from a to b, each step sampled with the same seed; otherwise each
    endpoint is a latent sequence (a clip's middle segment, or a prior sample of a label)
    and the steps morph one into the other frame by frame, a conditional decoder's label
    embedding moving from a's label to b's (a clip's: ``label_a`` / ``label_b``, else its
    :meth:`fitting_label`, and it is encoded with it). -> mels (steps, n_mels, T)."""
    if is_label(m, a) and is_label(m, b):
        prior = m._need_prior()
        p_cond = m._embedding_schedule(prior.label_embedding, [a, b], steps)
        d_cond = m._embedding_schedule(m.model.label_embedding, [a, b], steps)
        frames = m.model.latent_frames(m.audio.segment_frames)
        z = torch.cat(
            [
                prior.sample(
                    1, frames, 1.0, seed, cond=None if p_cond is None else p_cond[i : i + 1]
                )
                for i in range(steps)
            ]
        )
        return m._decode(z, a if d_cond is None else None, cond=d_cond)
    (za, la), (zb, lb) = (endpoint(m, x, sr, seed, lab) for x, lab in ((a, label_a), (b, label_b)))
    w = torch.linspace(0, 1, steps, device=m.device)[:, None, None]
    z = (1 - w) * za[None] + w * zb[None]
    return m._decode(z, cond=m._embedding_schedule(m.model.label_embedding, [la, lb], steps))


def endpoint(
    m, spec, sr: int | None, seed: int, label: str | None = None
) -> tuple[torch.Tensor, str | None]:
    """An interpolation endpoint as (a latent sequence (C, T'), its label or None): a
    label's prior sample, a clip's middle segment (encoded as :meth:`latent_of` does), or a
    latent sequence given as such (with ``label`` for a conditional model)."""
    if is_label(m, spec):
        return sample(m, 1, spec, 1.0, seed)[0][0], spec
    check_endpoint(m, spec)
    arr = None if isinstance(spec, (str, Path)) else np.asarray(spec, dtype=np.float32)
    is_mel = arr is not None and arr.shape == (m.audio.n_mels, m.audio.segment_frames)
    if arr is not None and not is_mel and arr.ndim == 2 and arr.shape[0] == m.latent_dim:
        if m.conditional and label is None:
            raise MelvaeError("a latent sequence of a conditional model needs its label")
        return torch.from_numpy(arr).to(m.device), label
    z, label = clip_latent(m, spec, sr, label)
    return torch.from_numpy(z).to(m.device), label


def longform_stream(m, seconds, start, label, labels, seed, temperature, n_iter, sr):
    """The sequence kind's long track: the start's latent sequence continued by the prior and
    decoded and inverted as one stream, with no segments and no joins (the arguments as
    :meth:`Melvae.longform_stream`).

    ``labels`` (names spread evenly over the track, the conditioning moving linearly between
    them) and ``temperature`` (a number or a list, spread the same way) steer it; with neither
    ``label`` nor ``labels`` a labelled model uses the start's label (a conditional model's
    :meth:`fitting_label`, else the one under which the prior finds the start most likely),
    or with no start a drawn one (:meth:`draw_labels`)."""
    prior = m._need_prior()
    z0, start_label = None, label
    if start is not None:
        z0, start_label = start_sequence(m, start, sr, label)
    try:
        plan = plan_sequence(seconds, m.audio, m.model.rate, 0 if z0 is None else z0.shape[-1])
    except ValueError as exc:
        raise MelvaeError(str(exc)) from None
    names = list(labels or ([start_label] if start_label else []))
    if not names and m.labels and (prior.cfg.n_labels or m.conditional):
        names = [likeliest_label(m, z0) if z0 is not None else m.draw_labels(1, seed)[0]]
    for name in names:
        m.label_index(name)
    T = plan.latent_frames

    temps = np.atleast_1d(np.asarray(temperature, dtype=np.float32))
    if (temps < 0).any():
        raise MelvaeError("temperature must be >= 0")
    yield {"plan": plan, "labels": names}
    yield from render_sequence(
        m.model,
        prior,
        m.audio,
        plan,
        z0,
        schedule(list(temps), T),
        m._embedding_schedule(prior.label_embedding, names, T),
        m._embedding_schedule(m.model.label_embedding, names, T),
        n_iter=n_iter,
        seed=seed,
        device=m.device,
    )


def start_sequence(m, start, sr: int | None, label: str | None):
    """A long track's start as (latent means (C, T'), its label or None): the first segment of
    a clip, or all of a shorter one, never padded (the model takes any length, and padding
    would open the track with silence and warm the prior on it). ``start``: an audio file,
    samples at ``sr``, or a normalized mel (n_mels, frames)."""
    arr = None if isinstance(start, (str, Path)) else np.asarray(start, dtype=np.float32)
    if arr is not None and arr.ndim == 2 and arr.shape[0] == m.audio.n_mels:
        mel = torch.from_numpy(arr[:, : m.audio.segment_frames])
    else:
        wave = mono_audio(start, sr, m.sample_rate)[: m.audio.segment_samples]
        if len(wave) < m.audio.n_fft:
            raise MelvaeError(f"the start clip is too short: {len(wave)} samples")
        mel = log_mel(torch.from_numpy(np.ascontiguousarray(wave))[None], m.audio)[0]
    mel = mel.to(m.device)
    if label is None and m.conditional:
        label = m.fitting_label(mel)
    return torch.from_numpy(m.encode_mel(mel[None], label)[0]).to(m.device), label


def likeliest_label(m, z: torch.Tensor) -> str:
    """The label under which the prior finds the latent sequence z (C, T') most likely."""
    prior = m._need_prior()
    if not prior.cfg.n_labels:
        return m.labels[0]
    with torch.no_grad():
        nll = [
            float(prior.nll(z[None], torch.tensor([i], device=m.device)))
            for i in range(prior.cfg.n_labels)
        ]
    return m.labels[int(np.argmin(nll))]
