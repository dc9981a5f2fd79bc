"""Training the learned prior of a sequence model, after its autoencoder (or again, on an
existing run's autoencoder: :func:`fit_prior_on_run`).

The prior learns p(z_t | z_<t, label) on the latent sequences of whole training tracks: each
track's segments are encoded (latent means) and laid on one time line by their start sample
from the manifest, so a sequence runs across segment boundaries the way a long track will.
Training sees windows of ``window`` latent frames (24 s at rate 4), half-overlapping and
covering each track to its end, in shuffled order; that is also the context it learns to
use, and sampling runs on for any length from the GRU state.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from melvae import registry
from melvae.config import PriorConfig, TrainConfig, write_json
from melvae.errors import MelvaeError
from melvae.layout import BEST, RUN_CONFIG, read_run_config
from melvae.models.priors import build_prior
from melvae.models.priors.base import Prior
from melvae.progress import progress_bar


@dataclass
class TrackSequence:
    z: torch.Tensor  # (C, T) latent means on the track's time line
    label: int  # label index, -1 where unlabelled
    clock: torch.Tensor | None = None  # (T, 2) beat phase and BPM per frame, NaN for none


def track_sequences(
    latents: torch.Tensor, data, indices: list[int], rate: int
) -> list[TrackSequence]:
    """Latent sequences of whole tracks from the latent means ``latents`` (N, C, T') of a
    MelDataset's segments ``indices`` (N,), encoded at ``rate`` mel frames per latent frame.

    Segment starts are placed at round(start_sample / (hop_length * rate)) latent frames;
    overlapping segments are averaged; a gap (segments further apart than their length) starts
    a new sequence. Where the dataset has beats (``data.beat_phase``), each latent frame gets
    the clock of the mel frame it starts on: its beat phase and its track's tempo (NaN, no
    clock, for a track with no clear beat)."""
    hop = data.audio.hop_length
    by_track: dict[str, list[int]] = {}
    for i in indices:
        by_track.setdefault(data.segments[i].source, []).append(i)
    latents = dict(zip(indices, latents))
    out = []
    for track in sorted(by_track):
        segs = sorted(by_track[track], key=lambda i: data.segments[i].start_sample)
        starts = [max(0, round(data.segments[i].start_sample / (hop * rate))) for i in segs]
        length = max(s + latents[i].shape[-1] for s, i in zip(starts, segs))
        C = latents[segs[0]].shape[0]
        acc, count = torch.zeros(C, length), torch.zeros(length)
        clock = torch.full((length, 2), math.nan) if data.beat_phase is not None else None
        for s, i in zip(starts, segs):
            n = latents[i].shape[-1]
            acc[:, s : s + n] += latents[i]
            count[s : s + n] += 1
            if clock is not None:  # segments of one track share its beat grid
                phase = torch.from_numpy(np.asarray(data.beat_phase[i][::rate][:n]))
                clock[s : s + len(phase), 0] = phase
                clock[s : s + len(phase), 1] = float(data.bpm[i])
        label = int(data.label_ids[segs[0]])
        covered = (count > 0).numpy()
        # contiguous runs of covered frames
        edges = np.flatnonzero(np.diff(np.concatenate([[0], covered.astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            out.append(
                TrackSequence(
                    acc[:, a:b] / count[a:b], label, None if clock is None else clock[a:b]
                )
            )
    return out


class _Windows(Dataset):
    """Windows of ``window`` frames every ``window // 2`` along each sequence (a shorter
    sequence is one window of its own length, padded by repeating its end)."""

    def __init__(self, seqs: list[TrackSequence], window: int):
        self.items = []
        for seq in seqs:
            T = seq.z.shape[-1]
            starts = list(range(0, max(1, T - window + 1), max(1, window // 2)))
            if window < T and starts[-1] != T - window:
                starts.append(T - window)  # the track's last frames too
            for s in starts:
                z = seq.z[:, s : s + window]
                clock = torch.full((window, 2), math.nan)  # padding frames: no clock
                if seq.clock is not None:
                    clock[: z.shape[-1]] = seq.clock[s : s + window]
                if z.shape[-1] < window:
                    z = torch.cat([z, z[:, -1:].expand(-1, window - z.shape[-1])], dim=-1)
                self.items.append((z, seq.label, clock))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        z, label, clock = self.items[i]
        return z, torch.tensor(label), clock


def fit_prior(
    train_latents: torch.Tensor,
    val_latents: torch.Tensor,
    data,
    train_idx: list[int],
    val_idx: list[int],
    rate: int,
    n_labels: int,
    epochs: int,
    minutes: float | None,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: bool = True,
    window: int = 256,
    batch_size: int = 16,
    lr: float = 2e-3,
    **prior_settings,
) -> tuple[Prior, dict]:
    """Train a prior for ``epochs`` or ``minutes``, whichever ends first, with a cosine
    learning-rate decay over that budget, on the tracks of a MelDataset's segments
    ``train_idx`` (validation: ``val_idx``) given as the autoencoder's latent means of each
    segment (N, C, T'), encoded at ``rate`` mel frames per latent frame; returns the prior
    (eval mode, on ``device``) and facts for the checkpoint's info.
    ``prior_settings``: PriorConfig fields (kind, hidden, layers, mixtures, input_noise, ...).

    A plain loop on one device, not Lightning: it runs after the autoencoder's fit, in the
    rank-0 process only, where a second Lightning Trainer would find the DDP launcher's
    environment and try to join the finished process group. Ctrl-C stops it early and keeps
    the prior as trained so far."""
    train_seqs = track_sequences(train_latents, data, train_idx, rate)
    val_seqs = track_sequences(val_latents, data, val_idx, rate) if val_idx else []
    channels = train_latents.shape[1]
    frame_seconds = rate * data.audio.hop_length / data.audio.sample_rate
    kind = prior_settings.get("kind", PriorConfig.kind)
    defaults = registry.PRIORS.get(kind).defaults
    prior_settings = {"frame_seconds": frame_seconds, **defaults, **prior_settings}
    cfg = PriorConfig(channels=channels, n_labels=n_labels, **prior_settings)
    torch.manual_seed(seed)
    prior = build_prior(cfg)
    prior.set_statistics(torch.cat([s.z for s in train_seqs], dim=-1).T)
    prior.to(device)
    loader = DataLoader(
        _Windows(train_seqs, window),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    val_loader = DataLoader(_Windows(val_seqs, window), batch_size=batch_size) if val_seqs else None
    opt = torch.optim.Adam(prior.parameters(), lr=lr)
    budget = 60.0 * minutes if minutes is not None else math.inf
    total_steps = max(1, epochs * len(loader))
    t0, step, epoch, interrupted = time.perf_counter(), 0, 0, False
    train_nll = math.nan
    bar = progress_bar(epochs, "prior", "epoch", progress)
    try:
        while epoch < epochs and time.perf_counter() - t0 < budget:
            prior.train()
            losses = []
            for z, labels, clock in loader:
                done = max(step / total_steps, (time.perf_counter() - t0) / budget)
                if done >= 1:
                    break
                for group in opt.param_groups:
                    group["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done)))
                loss = prior.nll(
                    z.to(device), _labels(labels, n_labels, device), clock=_clock(prior, clock)
                )
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
                opt.step()
                losses.append(loss.item())
                step += 1
            epoch += 1
            train_nll = float(np.mean(losses)) if losses else train_nll
            bar.set_postfix(nll=f"{train_nll:.3f}")  # first: a log line is written on update
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    prior.eval()
    info = {
        "prior_epochs": epoch,
        "prior_seconds": round(time.perf_counter() - t0, 1),
        "prior_train_nll": train_nll,
        "prior_val_nll": prior_nll(prior, val_loader, n_labels) if val_loader else None,
        "prior_sequences": len(train_seqs),
        "prior_frames": int(sum(s.z.shape[-1] for s in train_seqs)),
        "prior_finished": not interrupted,
        "prior_clock_share": clock_share(train_seqs) if prior.has_clock else 0.0,
    }
    return prior, info


def _labels(labels: torch.Tensor, n_labels: int, device) -> torch.Tensor | None:
    return labels.clamp(min=0).to(device) if n_labels else None


def _clock(prior: Prior, clock: torch.Tensor) -> torch.Tensor | None:
    return clock if prior.has_clock else None


def clock_share(seqs: list[TrackSequence]) -> float:
    """The share of latent frames that have a clock: 0 for a dataset with no beats, or none
    clear; a clocked prior fitted on it cannot hold a tempo."""
    total = sum(s.z.shape[-1] for s in seqs)
    on = sum(int(torch.isfinite(s.clock[:, 0]).sum()) for s in seqs if s.clock is not None)
    return round(on / max(1, total), 4)


@torch.no_grad()
def prior_nll(prior: Prior, loader, n_labels: int) -> float:
    """Mean NLL per latent number (nats) over a loader of (z, label) windows."""
    device = next(prior.parameters()).device
    total, count = 0.0, 0
    for z, labels, clock in loader:
        nll = prior.nll(z.to(device), _labels(labels, n_labels, device), clock=_clock(prior, clock))
        total += float(nll) * len(z)
        count += len(z)
    return total / max(1, count)


def fit_prior_on_run(
    run_dir: Path | str,
    out_dir: Path | str,
    minutes: float | None,
    prior: str = "gru",
    epochs: int = 10_000,
    device: str = "cpu",
    progress: bool = True,
    **prior_settings,
) -> dict:
    """Train a new prior on the latents of an existing sequence run's autoencoder (its
    best.pt) for ``minutes`` (or ``epochs``), on the run's own dataset and split, and write
    ``out_dir`` as a run folder of its own: config.json copied, best.pt the same autoencoder
    with the new prior. So several priors compare on one autoencoder. ``prior``: one of
    melvae.registry.PRIORS; ``prior_settings``: PriorConfig fields. Returns the prior's facts
    (as in the checkpoint's info)."""
    from melvae.data.dataset import MelDataset, track_split
    from melvae.generation.inputs import pick_device
    from melvae.models.checkpoint import load_checkpoint, save_checkpoint
    from melvae.safeio import folder_lock

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    registry.PRIORS.get(prior)  # an unknown prior: one clear error, before any work
    if (out_dir / BEST).is_file():  # never another run's model (nor this run's own)
        raise MelvaeError(f"{out_dir} already holds a model ({BEST}): write to another folder")
    config = read_run_config(run_dir)
    ckpt = load_checkpoint(run_dir / BEST, device=pick_device(device))
    kind = ckpt.model.cfg.kind
    if not registry.KINDS.get(kind).has_prior:
        raise MelvaeError(f"{run_dir} holds a {kind} model, which samples without a prior")
    train_cfg = TrainConfig.from_dict(config["train"])
    data = MelDataset(config["data_dir"], labels=config["labels"])
    train_idx, val_idx = track_split(data.segments, train_cfg.val_fraction, train_cfg.seed)
    mu = ckpt.model.encode_batched(data.mels, data.label_ids, train_idx + val_idx)[0]
    ckpt.prior, facts = fit_prior(
        mu[: len(train_idx)],
        mu[len(train_idx) :],
        data,
        train_idx,
        val_idx,
        rate=ckpt.model.latent_rate,
        n_labels=len(data.labels),
        epochs=epochs,
        minutes=minutes,
        device=next(ckpt.model.parameters()).device,
        seed=train_cfg.seed,
        progress=progress,
        kind=prior,
        **prior_settings,
    )
    facts["prior_kind"] = prior
    ckpt.info = {k: v for k, v in ckpt.info.items() if not k.startswith("prior_")} | facts
    with folder_lock(out_dir, "train"):
        write_json(out_dir / RUN_CONFIG, config)
        save_checkpoint(out_dir / BEST, ckpt)
    return facts
