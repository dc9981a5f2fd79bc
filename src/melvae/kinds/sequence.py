"""The sequence kind: a latent sequence of ``latent_channels`` numbers every ``rate`` mel
frames (:class:`melvae.models.sequence.SeqVAE`), sampled by a learned prior
(:mod:`melvae.models.priors`).

It samples segments from the prior, interpolates latent sequences frame by frame (or the
prior's conditioning between two labels), and makes a long track by continuing one latent
sequence with the prior, decoded in windows and inverted as one stream: no segments and no
joins. Shapes: latent sequences (n, latent_channels, latent frames).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from melvae.audio.features import log_mel, normalized_to_power
from melvae.config import CLIP_REPEAT, LOOP_REPEAT, AudioConfig
from melvae.errors import MelvaeError
from melvae.generation import clock as clocks
from melvae.generation.grid import Grid, StretchStream, beat_grid, grid_frames, stretch
from melvae.generation.inputs import check_endpoint, clip_latent, is_label, mono_audio
from melvae.generation.joins import track_length
from melvae.generation.latents import schedule
from melvae.kinds.base import Endpoint, Kind, TrackHead, TrackRequest
from melvae.models.priors.base import Repeat
from melvae.models.sequence import decode_window


@dataclass
class SequencePlan:
    """A sequence model's track: latent frames decoded in windows, inverted as one stream."""

    total_samples: int
    total_frames: int  # mel frames
    latent_frames: int
    window: int  # latent frames decoded at once
    start_frames: int  # latent frames taken from the real start (0: none)
    rate: int  # mel frames per latent frame
    tempo: dict | None = None  # the clock it followed, for track.json
    stretch: float = 1.0  # decoded mel frames per output frame (a beat grid's, else 1)

    @property
    def decoded_frames(self) -> int:
        """Mel frames decoded: the output's, or those its stretch reads."""
        if self.stretch == 1.0:
            return self.total_frames
        return grid_frames(self.total_frames, self.stretch)

    def seconds_at(self, latent_frame: int, cfg: AudioConfig) -> float:
        """Where a latent frame is heard in the track, seconds."""
        return cfg.frames_to_seconds(latent_frame * self.rate) / self.stretch

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
            "latent_frames": self.latent_frames,
            "start_seconds": round(
                min(self.seconds_at(self.start_frames, cfg), self.total_samples / cfg.sample_rate),
                4,
            ),
            "windows": windows,
            "segments": [],
            "joins": [],
            **({"tempo": self.tempo} if self.tempo else {}),
        }


def plan_sequence(
    seconds: float,
    cfg: AudioConfig,
    rate: int,
    start_frames: int = 0,
    window: int = 256,
    stretch: float = 1.0,
) -> SequencePlan:
    """A sequence model's track of ``seconds``: its latent frames at ``rate``, the first
    ``start_frames`` of them from the real start, decoded ``window`` at a time, the decoded
    mel read ``stretch`` frames per output frame (a beat grid's)."""
    total_samples, total_frames = track_length(seconds, cfg)
    plan = SequencePlan(total_samples, total_frames, 0, window, 0, rate, stretch=stretch)
    plan.latent_frames = math.ceil(plan.decoded_frames / rate)
    plan.start_frames = min(start_frames, plan.latent_frames)
    return plan


def check_repeat(repeat: float) -> float:
    if not 0.0 <= float(repeat) <= 1.0:  # NaN too
        raise MelvaeError(f"repeat must be from 0 to 1, got {repeat}")
    return float(repeat)


class SequenceKind(Kind):
    @property
    def latent_rate(self) -> int:
        return self.core.network.rate

    @property
    def label_conditioned(self) -> bool:
        prior = self.core.prior
        return self.core.conditional or (prior is not None and prior.cfg.n_labels > 0)

    def as_batch(self, z: torch.Tensor) -> torch.Tensor:
        return z.reshape(-1, *z.shape[-2:])

    def _segment_frames(self) -> int:
        return self.core.network.latent_frames(self.core.audio.segment_frames)

    @property
    def frame_seconds(self) -> float:
        return clocks.frame_seconds(self.core.audio, self.latent_rate)

    def clocked_prior(self):
        """The prior, where it keeps a clock it was trained with (else a clear error)."""
        prior = self.core.need_prior()
        if not prior.has_clock or not self.core.info.get("prior_clock_share"):
            why = (
                f"its {prior.cfg.kind!r} prior keeps no clock"
                if not prior.has_clock
                else "its prior was trained on no beats (a dataset preprocessed before beats, "
                "or with no clear beat)"
            )
            raise MelvaeError(
                f"--bpm needs a clocked prior, and {why}: train with --prior beat on a "
                "dataset made by this melvae's preprocess"
            )
        return prior

    def beat_grid(self, tempo: list[float] | None, repeat: float) -> Grid | None:
        """The beat grid a steady ``tempo`` is played on (:mod:`melvae.generation.grid`),
        where its draws repeat (``repeat`` > 0) and the prior can; None for no tempo, a
        schedule of several, or ``repeat`` 0."""
        prior = self.core.need_prior()
        if tempo is None or len(tempo) != 1 or check_repeat(repeat) == 0 or not prior.noise_width:
            return None
        return beat_grid(tempo[0], self.frame_seconds)

    def _steady(self, n: int, frames: int, bpm) -> torch.Tensor | None:
        """n clocks (n, frames, 2) starting on a beat at ``bpm``; None where none is asked."""
        bpm = clocks.check_bpm(bpm)
        if bpm is None:
            return None
        self.clocked_prior()
        return clocks.steady_clock(frames, self.frame_seconds, bpm)[None].expand(n, -1, -1)

    def sample(
        self, n, label, temperature, seed, bpm=None, frames=None, cond=None, repeat=None,
        clock=None,
    ):  # fmt: skip
        """A conditional prior with no label draws one per clip (:meth:`Core.draw_labels`);
        ``bpm``: a clocked prior's clips start on a beat at that tempo (or ``clock`` (n,
        frames, 2) given as such); ``frames``: latent frames of each (default: one
        segment's); ``repeat``: beat-coherent draws (a :class:`Repeat`)."""
        core = self.core
        prior = core.need_prior()
        if temperature < 0:
            raise MelvaeError(f"temperature must be >= 0, got {temperature}")
        frames = frames or self._segment_frames()
        if clock is None:
            clock = self._steady(n, frames, bpm)
        ids = None
        if prior.cfg.n_labels and cond is None:
            names = [label] * n if label is not None else core.draw_labels(n, seed)
            ids = torch.tensor([core.label_index(x) for x in names], dtype=torch.long)
            ids = ids.to(core.device)
        z = prior.sample(n, frames, temperature, seed, ids, cond, clock, repeat)
        return z, ids

    def clips(self, n, label, temperature, seed, bpm=None, repeat=CLIP_REPEAT):
        """One segment each; at one steady ``bpm``, on the beat grid (:meth:`at_tempo`)."""
        tempo = clocks.check_bpm(bpm)
        if tempo is None or self.beat_grid(tempo, repeat) is None:
            return super().clips(n, label, temperature, seed, bpm, repeat)
        frames = self.core.audio.segment_frames
        mels, ids = self.at_tempo(n, tempo[0], frames, label, temperature, seed, repeat)
        return mels[..., :frames], ids

    def loop(self, n, bpm, bars, label, temperature, seed, tail_seconds, repeat=LOOP_REPEAT):
        """Mels of n loops of ``bars`` bars at ``bpm`` (each with ``tail_seconds`` more, to
        cross the wrap): (mels, label ids or None), made by :meth:`at_tempo` with its draws
        cycling every loop, so what plays past the loop's end is what its start played."""
        cfg = self.core.audio
        seconds = bars * 4 * 60.0 / bpm + tail_seconds
        mel_frames = math.ceil(seconds * cfg.sample_rate / cfg.hop_length) + 1
        return self.at_tempo(
            n, float(bpm), mel_frames, label, temperature, seed, repeat, cycle=bars * 4
        )

    def at_tempo(self, n, bpm: float, mel_frames: int, label, temperature, seed, repeat, cycle=0):
        """n clips of at least ``mel_frames`` mel frames at ``bpm``, starting on a beat:
        (mels, label ids or None). On the beat grid (``repeat`` > 0) they are made at the
        grid's tempo, their draws repeating beat after beat, and stretched to ``bpm``.
        ``cycle`` > 0: a loop of that many beats, whose draws come round again every
        ``cycle`` beats; it is played once through first (not kept), so its state at its start
        is the one it has coming round."""
        core = self.core
        self.clocked_prior()
        grid = self.beat_grid([bpm], repeat)
        if grid is None:
            frames = core.network.latent_frames(mel_frames)
            z, ids = self.sample(n, label, temperature, seed, bpm=bpm, frames=frames)
            return core.decode(z, ids if ids is not None else label), ids
        frames = core.network.latent_frames(grid_frames(mel_frames, grid.rate))
        lead = cycle * grid.frames_per_beat  # latent frames of the loop's first time through
        draws = Repeat(grid.frames_per_beat, repeat, cycle)
        # The grid's own tempo may lie just past the tempos one may ask (323 BPM for 300).
        clock = clocks.steady_clock(lead + frames, self.frame_seconds, [grid.tempo])
        clock = clock[None].expand(n, -1, -1)
        z, ids = self.sample(
            n, label, temperature, seed, frames=lead + frames, repeat=draws, clock=clock
        )
        mel = core.decode(z, ids if ids is not None else label)[..., lead * self.latent_rate :]
        return stretch(mel, grid.rate, mel_frames), ids

    def endpoint(self, spec, sr=None, seed=0, label=None) -> Endpoint:
        """A label's prior sample, a clip's middle segment (encoded with its label, or its
        fitting label), or a latent sequence given as such (with ``label`` for a conditional
        model)."""
        core = self.core
        if is_label(core, spec):
            return Endpoint(self.sample(1, spec, 1.0, seed)[0][0], spec, f"label {spec}")
        check_endpoint(core, spec)
        arr = None if isinstance(spec, (str, Path)) else np.asarray(spec, dtype=np.float32)
        is_mel = arr is not None and arr.shape == (core.audio.n_mels, core.audio.segment_frames)
        if arr is not None and not is_mel and arr.ndim == 2 and arr.shape[0] == self.latent_dim:
            if core.conditional and label is None:
                raise MelvaeError("a latent sequence of a conditional model needs its label")
            return Endpoint(torch.from_numpy(arr).to(core.device), label, "latent")
        z, label = clip_latent(core, spec, sr, label)
        return Endpoint(torch.from_numpy(z).to(core.device), label, "audio")

    def interpolate(self, a, b, steps, sr, seed, label_a, label_b, bpm=None) -> torch.Tensor:
        """Between two labels, the prior's (and a conditional decoder's) conditioning moves
        from a to b, each step sampled with the same seed (and ``bpm``, a clocked prior's
        tempo); otherwise the endpoints' latent sequences morph one into the other frame by
        frame, a conditional decoder's label embedding moving from a's label to b's."""
        core = self.core
        labels = is_label(core, a) and is_label(core, b)
        if bpm is not None and not labels:
            raise MelvaeError("--bpm interpolates between labels (clips keep their own tempo)")
        if labels:
            frames = self._segment_frames()
            clock = self._steady(1, frames, bpm)
            prior = core.need_prior()
            p_cond = core.embedding_schedule(prior.label_embedding, [a, b], steps)
            d_cond = core.embedding_schedule(core.network.label_embedding, [a, b], steps)
            z = torch.cat(
                [
                    prior.sample(
                        1,
                        frames,
                        1.0,
                        seed,
                        cond=None if p_cond is None else p_cond[i : i + 1],
                        clock=clock,
                    )
                    for i in range(steps)
                ]
            )
            return core.decode(z, a if d_cond is None else None, cond=d_cond)
        ea, eb = self.endpoint(a, sr, seed, label_a), self.endpoint(b, sr, seed, label_b)
        w = torch.linspace(0, 1, steps, device=core.device)[:, None, None]
        z = (1 - w) * ea.z[None] + w * eb.z[None]
        table = core.network.label_embedding
        return core.decode(z, cond=core.embedding_schedule(table, [ea.label, eb.label], steps))

    def longform(self, request: TrackRequest):
        """The start's latent sequence continued by the prior and decoded and inverted as one
        stream, with no segments and no joins. ``labels`` (the conditioning moving linearly
        between them) and ``temperature`` (a number or a list) are spread evenly over the
        track; with neither ``label`` nor ``labels`` a labelled model uses the start's label
        (a conditional model's fitting label, else the one under which the prior finds the
        start most likely), or with no start a drawn one. At one steady tempo (asked, or the
        start's own) a clocked prior plays on the beat grid, its draws repeating beat after
        beat by ``repeat``, and the mel is stretched to the exact tempo
        (:mod:`melvae.generation.grid`). ``steps_per_target`` does not apply."""
        core, r = self.core, request
        prior = core.need_prior()
        bpm = clocks.check_bpm(r.bpm)
        if bpm is not None:
            self.clocked_prior()
        repeat = check_repeat(r.repeat)
        clocked = prior.has_clock and bool(core.info.get("prior_clock_share"))
        dt = self.frame_seconds
        mel0, wave = (None, None) if r.start is None else self.start_mel(r.start, r.start_sr)
        beat = None
        if clocked and wave is not None:
            beat = clocks.start_beat(wave, core.sample_rate, 0, dt)
        grid = None
        if clocked:
            grid = self.beat_grid(bpm if bpm is not None else beat and [beat.bpm], repeat)
        rate = 1.0 if grid is None else grid.rate
        z0, start_label = None, r.label
        if mel0 is not None:
            if grid is not None:  # the start played at the grid's pace: heard at its own
                mel0 = stretch(mel0, 1.0 / rate, max(1, round(mel0.shape[-1] * rate)))
            z0, start_label = self.encode_start(mel0, r.label)
        try:
            plan = plan_sequence(
                r.seconds,
                core.audio,
                self.latent_rate,
                0 if z0 is None else z0.shape[-1],
                stretch=rate,
            )
        except ValueError as exc:
            raise MelvaeError(str(exc)) from None
        clock = None
        if clocked:
            t0 = plan.start_frames
            own = None if beat is None else round(beat.bpm, 2)
            if beat is not None:
                beat = beat.timed(rate, t0, dt)
            tempo = bpm if grid is None else [grid.tempo]
            clock, plan.tempo = clocks.track_clock(plan.latent_frames, t0, dt, tempo, beat)
            if grid is not None:
                asked = "asked" if bpm is not None else "the start's own tempo"
                plan.tempo.update(clock=asked, bpm=grid.bpm, start_bpm=own, repeat=repeat)
                plan.tempo.update(grid.describe())
        names = list(r.labels or ([start_label] if start_label else []))
        if not names and core.labels and (prior.cfg.n_labels or core.conditional):
            names = [self.likeliest_label(z0) if z0 is not None else core.draw_labels(1, r.seed)[0]]
        for name in names:
            core.label_index(name)
        T = plan.latent_frames
        temps = np.atleast_1d(np.asarray(r.temperature, dtype=np.float32))
        if (temps < 0).any():
            raise MelvaeError("temperature must be >= 0")
        yield TrackHead(plan, names, "window")
        yield from self._render(
            plan,
            z0,
            schedule(list(temps), T),
            core.embedding_schedule(prior.label_embedding, names, T),
            core.embedding_schedule(core.network.label_embedding, names, T),
            r.seed,
            clock,
            None if grid is None else Repeat(grid.frames_per_beat, repeat),
        )

    def _render(
        self, plan, start_z, temperature, prior_cond, decoder_cond, seed, clock=None, repeat=None
    ):
        """Yield the track's audio in blocks (float32, summing to plan.total_samples) and a
        dict per decoding window.

        The latent sequence is ``start_z`` (C, T0) (a real segment's latent means) continued
        by the prior, one frame at a time from its state after the start, with a temperature
        (latent_frames,), label embeddings (latent_frames, E) and a clock (latent_frames, 2) per
        frame (schedules; the clock None for a prior that runs free; ``repeat`` its
        beat-coherent draws, on the plan's beat grid). It is decoded in windows with
        ``context_frames()`` of latent context on both sides (the same mel as one whole
        decode), and the mel is inverted as one stream. Memory is bounded by one window and one
        inversion chunk, whatever the length."""
        core, model, cfg, device = self.core, self.core.network, self.core.audio, self.core.device
        prior = core.prior
        ctx = model.context_frames()
        gen = torch.Generator().manual_seed(seed)
        stream = core.inverter.stream(plan.total_samples, seed)
        stretcher = None if plan.stretch == 1.0 else StretchStream(plan.stretch, plan.total_frames)

        def out(mel: torch.Tensor | None):  # decoded mel (None: the end) -> audio blocks
            if stretcher is not None:
                mel = stretcher.push(mel) if mel is not None else stretcher.finish()
            if mel.shape[-1]:
                yield from stream.push(normalized_to_power(mel, cfg))

        T, t0 = plan.latent_frames, plan.start_frames

        def cond_at(c: torch.Tensor | None, a: int, b: int) -> torch.Tensor | None:
            return None if c is None else c[a:b].to(device)[None]

        if t0:
            start = start_z[:, :t0].to(device)[None]
            state = prior.warm(start, cond=cond_at(prior_cond, 0, t0), clock=cond_at(clock, 0, t0))
        else:
            state = prior.start(1)
        frames = prior.stream(
            state,
            T - t0,
            temperature[t0:],
            cond=cond_at(prior_cond, t0, T),
            generator=gen,
            clock=cond_at(clock, t0, T),
            repeat=repeat,
        )
        # buffer holds latent frames [buf_start, buf_start + buf.shape[-1]) of the sequence
        C = model.cfg.latent_channels
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
            yield from out(mel[:, : max(0, plan.decoded_frames - w_start * r)])
            yield {
                "index": w_start // plan.window,
                "start_seconds": round(plan.seconds_at(w_start, cfg), 4),
                "end_seconds": round(
                    min(plan.seconds_at(w_end, cfg), plan.total_samples / cfg.sample_rate), 4
                ),
                "from": "start clip" if w_start < t0 else "prior",
            }
            keep_from = max(0, w_end - ctx)  # frames before this are never needed again
            buf, buf_start = buf[:, keep_from - buf_start :], keep_from
        if stretcher is not None:
            yield from out(None)
        yield from stream.finish()

    def start_mel(self, start, sr: int | None):
        """A long track's start as (its normalized mel (n_mels, frames), its audio at the
        model's rate or None for a mel): the first segment of a clip, or all of a shorter one,
        never padded (the model takes any length, and padding would open the track with
        silence and warm the prior on it). ``start``: an audio file, samples at ``sr``, or a
        normalized mel (n_mels, frames)."""
        core = self.core
        arr = None if isinstance(start, (str, Path)) else np.asarray(start, dtype=np.float32)
        wave = None
        if arr is not None and arr.ndim == 2 and arr.shape[0] == core.audio.n_mels:
            mel = torch.from_numpy(arr[:, : core.audio.segment_frames])
        else:
            wave = mono_audio(start, sr, core.audio.sample_rate)[: core.audio.segment_samples]
            if len(wave) < core.audio.n_fft:
                raise MelvaeError(f"the start clip is too short: {len(wave)} samples")
            mel = log_mel(torch.from_numpy(np.ascontiguousarray(wave))[None], core.audio)[0]
        return mel.to(core.device), wave

    def encode_start(self, mel: torch.Tensor, label: str | None):
        """A start's mel -> (its latent means (C, T'), its label or None)."""
        core = self.core
        if label is None and core.conditional:
            label = core.fitting_label(mel)
        z = torch.from_numpy(core.encode_mel(mel[None], label)[0]).to(core.device)
        return z, label

    def likeliest_label(self, z: torch.Tensor) -> str:
        """The label under which the prior finds the latent sequence z (C, T') most likely."""
        core = self.core
        prior = core.need_prior()
        if not prior.cfg.n_labels:
            return core.labels[0]
        with torch.no_grad():
            nll = [
                float(prior.nll(z[None], torch.tensor([i], device=core.device)))
                for i in range(prior.cfg.n_labels)
            ]
        return core.labels[int(np.argmin(nll))]
