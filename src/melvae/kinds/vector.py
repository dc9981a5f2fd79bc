"""The vector kind: one latent vector per segment (:class:`melvae.models.vector.MelVAE`).

It samples N(0, I) (near a label's centroid for an unconditional model), interpolates on the
sphere, and makes a long track by a latent walk whose decoded segments are joined in the
spectrogram (:mod:`melvae.generation.joins`: bar-aligned with a tempo, crossfaded in power,
inverted in one continuous stream).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from melvae.errors import MelvaeError
from melvae.generation.inputs import check_endpoint, clip_latent, is_label
from melvae.generation.joins import latent_walk, plan_segments, render_segments
from melvae.generation.latents import sample_latents, slerp
from melvae.kinds.base import Endpoint, Kind, TrackHead, TrackRequest

_NO_TEMPO = (
    "--bpm on a clip needs a sequence model with a clocked prior (the vector kind holds a "
    "tempo only in long tracks, by bar-aligned joins)"
)


class VectorKind(Kind):
    @property
    def has_plane(self) -> bool:
        return self.latent_dim == 2

    def as_batch(self, z: torch.Tensor) -> torch.Tensor:
        return z.reshape(-1, self.latent_dim)

    def sample(self, n, label, temperature, seed, bpm=None):
        """N(0, I) at ``temperature`` (a clip holds no tempo: ``bpm`` is an error). A
        conditional model takes ``label``, or draws one per clip in the training data's
        proportions; an unconditional one with a ``label`` draws around that label's centroid
        at half the temperature (near its region of the prior)."""
        core, ids, center = self.core, None, None
        if bpm is not None:
            raise MelvaeError(_NO_TEMPO)
        if core.conditional:
            names = core.draw_labels(n, seed) if label is None else [label] * n
            ids = torch.tensor([core.label_index(x) for x in names], device=core.device)
        elif label is not None:
            center, temperature = self.centroid(label), temperature * 0.5
        return sample_latents(n, self.latent_dim, temperature, seed, center=center), ids

    def centroid(self, label: str) -> torch.Tensor:
        """The mean latent of ``label``'s training segments (latent_dim,), as stored in the
        checkpoint."""
        idx = self.core.label_index(label)
        if self.core.label_centroids is None:
            raise MelvaeError("this checkpoint holds no label centroids")
        return self.core.label_centroids[idx].float()

    def endpoint(self, spec, sr=None, seed=0, label=None) -> Endpoint:
        """On a conditional model a clip keeps its own label: ``label`` if given, else the one
        whose conditioning reconstructs it best (:meth:`Core.fitting_label`); it is encoded
        with that label, which comes back for the decoder's conditioning to move along the
        path. A label endpoint is the prior's centre (zeros) under that label (an
        unconditional model's: the label's centroid, and no label comes back). ``seed`` is
        unused: the vector kind's endpoints have no randomness."""
        core, cond_model = self.core, self.core.conditional
        if is_label(core, spec):
            if cond_model:
                return Endpoint(torch.zeros(self.latent_dim), spec, f"label {spec}")
            return Endpoint(self.centroid(spec), None, f"label {spec}")
        check_endpoint(core, spec)
        arr = None if isinstance(spec, (str, Path)) else np.asarray(spec, dtype=np.float32)
        if arr is not None and arr.shape == (self.latent_dim,):
            if cond_model and label is None:
                raise MelvaeError("a latent vector of a conditional model needs its label")
            return Endpoint(torch.from_numpy(arr), label if cond_model else None, "latent")
        z, label = clip_latent(core, spec, sr, label)
        desc = f"audio {Path(spec).name}" if arr is None else "audio"
        if not cond_model:
            return Endpoint(torch.from_numpy(z), None, desc)
        return Endpoint(torch.from_numpy(z), label, f"{desc} (label {label})")

    def interpolate(self, a, b, steps, sr, seed, label_a, label_b, bpm=None) -> torch.Tensor:
        """Mels along the spherical path between the endpoints' latents, a conditional
        decoder's label embedding moving from a's label to b's."""
        if bpm is not None:
            raise MelvaeError(_NO_TEMPO)
        ea, eb = self.endpoint(a, sr, seed, label_a), self.endpoint(b, sr, seed, label_b)
        z = slerp(ea.z.float(), eb.z.float(), torch.linspace(0, 1, steps))
        table = self.core.network.label_embedding  # None for an unconditional model
        return self.core.decode(
            z, cond=self.core.embedding_schedule(table, [ea.label, eb.label], steps)
        )

    def longform(self, request: TrackRequest):
        """A latent walk from the start, segments joined in the spectrogram.

        A conditional model is conditioned on ``label``, else on the start's fitting label,
        else on a drawn label; ``labels`` moves its decoder's label embedding through the
        names instead, segment k of n taking the schedule's value at k / (n - 1) (the start is
        still encoded with its own label). On an unconditional model ``label`` walks near that
        label's centroid, and ``labels`` is an error. ``temperature`` is one number; ``bpm``
        makes segments, steps and overlaps whole bars."""
        core, r = self.core, request
        cond_model, label, labels = core.conditional, r.label, r.labels
        temps = np.atleast_1d(np.asarray(r.temperature, dtype=np.float64))
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
            core.label_index(name)
        bpm = None if r.bpm is None else np.atleast_1d(np.asarray(r.bpm, dtype=np.float64))
        if bpm is not None and bpm.size != 1:
            raise MelvaeError("a tempo schedule needs a sequence model; give one tempo")
        try:
            plan = plan_segments(r.seconds, core.audio, bpm=None if bpm is None else float(bpm[0]))
        except ValueError as exc:
            raise MelvaeError(str(exc)) from None
        if r.start is not None:
            z0, start_label = clip_latent(core, r.start, r.start_sr, label, where="first")
            z0 = torch.from_numpy(z0)
            origin = {"from": str(r.start) if isinstance(r.start, (str, Path)) else "given clip"}
        else:
            start_label = label
            if cond_model and label is None:
                start_label = labels[0] if labels else core.draw_labels(1, r.seed)[0]
            z0 = self.sample(1, label, temperature, r.seed)[0][0]
            near = f" near label {label}" if label and not cond_model else ""
            origin = {"from": "random draw" + near}
        if cond_model:
            origin["label"] = start_label
        center, spread = None, 1.0
        if label is not None and not cond_model:
            center, spread = self.centroid(label), 0.5
        names = list(labels or [start_label]) if cond_model else []
        walk = latent_walk(
            z0,
            len(plan.positions),
            r.steps_per_target,
            temperature,
            r.seed,
            target_center=center,
            target_spread=spread,
            start_source=origin,
        )
        # A conditional decoder's label embedding per segment: segment k of n gets the
        # schedule's value at k / (n - 1). render_segments decodes the segments in order.
        cond_path = core.embedding_schedule(
            core.network.label_embedding, names, len(plan.positions)
        )
        decoded = 0

        def decode(z: torch.Tensor) -> torch.Tensor:
            nonlocal decoded
            if cond_path is None:
                return core.decode(z, label)
            cond = cond_path[decoded : decoded + len(z)]
            decoded += len(z)
            return core.decode(z, cond=cond)

        yield TrackHead(plan, names, "segment")
        yield from render_segments(
            decode, core.audio, plan, walk, core.inverter.stream(plan.total_samples, r.seed)
        )
