"""Training with Lightning: the only module that imports it.

A run folder holds:

    config.json      the audio, model and training settings and the dataset path
    best.pt          melvae checkpoint with the lowest validation loss (see checkpoint.py)
    last.pt          melvae checkpoint of the last epoch (on Ctrl-C: the interrupted one's
                     weights, with info["finished"] False)
    history.csv      one row per epoch: losses, KL, beta, learning rate, seconds
    curves.png       the loss curves
    resume.ckpt      Lightning's full state (optimizer, schedule, epoch) for --resume

The loop, devices and distribution (CPU, one GPU, DDP over several processes or GPUs) are
Lightning's; the model stays a plain torch module.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import logging
import math
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from melvae.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from melvae.config import (
    DEFAULT_DEVICE,
    DEFAULT_KIND,
    SEQUENCE_CHANNELS,
    ModelConfig,
    TrainConfig,
    default,
    write_json,
)
from melvae.dataset import MelDataset, track_split
from melvae.errors import MelvaeError
from melvae.layout import BEST, CURVES, HISTORY, LAST, RESUME, RUN_CONFIG, read_run_config
from melvae.model import active_units, build_model, vae_loss
from melvae.progress import interactive

# What --resume takes from the new command line: the length of the run, which resuming is
# meant to extend, and the machine's settings (it may go on on another machine). Every other
# training setting is the run's own (config.json).
RESUME_MAY_CHANGE = ("epochs", "max_minutes", "devices", "strategy", "num_workers")


class VAETask(pl.LightningModule):
    """Negative ELBO with a linear KL warm-up over the first ``kl_warmup_epochs``."""

    def __init__(self, model_cfg: ModelConfig, train_cfg: TrainConfig):
        super().__init__()
        self.model = build_model(model_cfg)
        self.train_cfg = train_cfg
        self.minutes = train_cfg.autoencoder_minutes(model_cfg.kind)

    def beta_now(self) -> float:
        cfg = self.train_cfg
        if cfg.kl_warmup_epochs == 0:
            return cfg.beta
        batches = max(1, self.trainer.num_training_batches)
        progress = self.current_epoch + min(self.trainer.fit_loop.batch_idx, batches) / batches
        return cfg.beta * min(1.0, progress / cfg.kl_warmup_epochs)

    def _labels(self, labels: torch.Tensor) -> torch.Tensor | None:
        return labels if self.model.cfg.conditional else None

    def _crop(self, mel: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Sequence kind: a random window of ``crop_frames`` (a whole number of latent frames)
        from each segment, and the factor (segment / crop frames) that scales its loss back to
        a whole segment's. The model is convolutional in time, so short windows teach it the
        same thing at a fraction of the compute per step: more steps in the same minutes."""
        frames = self.train_cfg.crop_frames
        T = mel.shape[-1]
        if self.model.kind != "sequence" or not frames or frames >= T:
            return mel, 1.0
        rate = self.model.rate
        frames = max(rate, frames // rate * rate)
        starts = torch.randint(0, (T - frames) // rate + 1, (mel.shape[0],)) * rate
        idx = (starts[:, None] + torch.arange(frames))[:, None, :].to(mel.device)
        return mel.gather(2, idx.expand(-1, mel.shape[1], -1)), T / frames

    def training_step(self, batch, batch_idx):
        mel, labels = batch
        mel, scale = self._crop(mel)
        recon, mu, logvar = self.model(mel, self._labels(labels))
        beta = self.beta_now()
        terms = vae_loss(recon, mel, mu, logvar, beta=beta, free_bits=self.train_cfg.free_bits)
        if scale != 1.0:  # per-segment figures, comparable with validation's
            terms.total, terms.recon, terms.kl = (
                terms.total * scale,
                terms.recon * scale,
                terms.kl * scale,
            )
        B = mel.shape[0]
        self.log("loss", terms.total, prog_bar=True, on_step=True, on_epoch=False, batch_size=B)
        self.log_dict(
            {"train_loss": terms.total, "train_recon": terms.recon, "train_kl": terms.kl},
            on_step=False,
            on_epoch=True,
            batch_size=B,
            sync_dist=True,
        )
        self.log("beta", beta, on_step=False, on_epoch=True, batch_size=B, sync_dist=True)
        return terms.total

    def validation_step(self, batch, batch_idx):
        mel, labels = batch
        labels_in = self._labels(labels)
        mu, logvar = self.model.encode(mel, labels_in)
        recon = self.model.decode(mu, labels_in)  # the mean reconstruction: deterministic
        # Full beta, no free bits: the objective itself, comparable across epochs.
        terms = vae_loss(recon, mel, mu, logvar, beta=self.train_cfg.beta)
        B = mel.shape[0]
        self.log("val_loss", terms.total, prog_bar=True, batch_size=B, sync_dist=True)
        self.log_dict({"val_recon": terms.recon, "val_kl": terms.kl}, batch_size=B, sync_dist=True)

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.model.parameters(), lr=self.train_cfg.lr)
        if self.train_cfg.schedule == "plateau":
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=5)
            monitor = "val_loss" if self.trainer.limit_val_batches else "train_loss"
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": monitor}}
        # Cosine decay to 5% over whichever ends first, the epochs or --max-minutes: a
        # time-limited run must still reach the low learning rates, not stop half-way down.
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: self._cosine_factor(step))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def progress(self, step: int) -> float:
        """Fraction of the run done, in [0, 1]: by steps, or by time under --max-minutes.

        Time is Lightning's own Timer (the one that stops the run), which --resume restores:
        --max-minutes is the training time of the whole run, resumes included."""
        total = max(1, self.trainer.estimated_stepping_batches)
        done = step / total
        timer = next((c for c in self.trainer.callbacks if isinstance(c, pl.callbacks.Timer)), None)
        if self.minutes and timer is not None:
            done = max(done, timer.time_elapsed("train") / (60.0 * self.minutes))
        return min(1.0, done)

    def _cosine_factor(self, step: int) -> float:
        floor = 0.05
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * self.progress(step)))


class RunFolder(pl.Callback):
    """Writes history.csv, curves.png, best.pt and last.pt; keeps the best score across
    --resume (its state is stored in Lightning's checkpoint). ``log_epochs``: print one line
    per epoch to stderr, in place of Lightning's bar where none can be drawn (a log file)."""

    def __init__(
        self,
        run_dir: Path,
        audio,
        labels: list[str],
        train_set,
        monitor: str,
        train_cfg: TrainConfig,
        log_epochs: bool = False,
    ):
        self.run_dir, self.audio, self.labels = run_dir, audio, labels
        self.train_cfg = train_cfg  # stored in every checkpoint (its validation split)
        self.train_set, self.monitor, self.log_epochs = train_set, monitor, log_epochs
        self.label_counts = label_counts(train_set, len(labels)) if labels else None
        self.best_score = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_info: dict[str, Any] = {}
        self._epoch_start = time.perf_counter()
        self.interrupted = False

    def on_exception(self, trainer, task, exception: BaseException) -> None:
        self.interrupted = isinstance(exception, KeyboardInterrupt)

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_score = state["best_score"]

    def on_train_epoch_start(self, trainer, task) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer, task) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        epoch = trainer.current_epoch
        row = {
            "epoch": epoch + 1,
            "seconds": round(time.perf_counter() - self._epoch_start, 2),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            **{
                k: metrics.get(k, math.nan)
                for k in (
                    "beta",
                    "train_loss",
                    "train_recon",
                    "train_kl",
                    "val_loss",
                    "val_recon",
                    "val_kl",
                )
            },
        }
        _append_history(self.run_dir / HISTORY, row)
        if self.log_epochs:
            losses = ", ".join(
                f"{k} {row[k]:.4g}" for k in ("train_loss", "val_loss") if math.isfinite(row[k])
            )
            print(
                f"epoch {epoch + 1}/{trainer.max_epochs}: {losses}, {row['seconds']} s",
                file=sys.stderr,
                flush=True,
            )
        score = metrics.get(self.monitor, math.inf)
        info = {"epoch": epoch + 1, **{k: v for k, v in row.items() if k != "epoch"}}
        if score < self.best_score:
            self.best_score = score
            self.best_state = copy.deepcopy(task.model.state_dict())
            self.best_info = {**info, "monitor": self.monitor, "best_score": score}
            self._save(BEST, task.model, self.best_info, centroids=False)
        self._save(LAST, task.model, info, centroids=False)
        plot_history(self.run_dir / HISTORY, self.run_dir / CURVES)

    def best_model(self, model: nn.Module) -> nn.Module:
        """A copy of ``model`` with the best epoch's weights (``model`` itself if none)."""
        if self.best_state is None:
            return model
        best = copy.deepcopy(model)
        best.load_state_dict(self.best_state)
        return best

    def finalize(self, model: nn.Module, prior=None, prior_info: dict | None = None) -> None:
        """Rewrite best.pt and last.pt with each label's latent centroid, and best.pt with the
        prior (trained on the best weights' latents, so it belongs to best.pt only)."""
        # After Ctrl-C these are the weights of the interrupted epoch, and say so.
        info = {**self._last_info(), "finished": not self.interrupted}
        self._save(LAST, model, info, centroids=True)
        if self.best_state is not None:
            best_info = {**self.best_info, **(prior_info or {})}
            self._save(BEST, self.best_model(model), best_info, centroids=True, prior=prior)

    def _last_info(self) -> dict[str, Any]:
        path = self.run_dir / HISTORY
        if not path.is_file():
            return {}
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        return {"epoch": int(rows[-1]["epoch"])} if rows else {}

    def _save(self, name: str, model: nn.Module, info: dict, centroids: bool, prior=None) -> None:
        cents = label_centroids(model, self.train_set, len(self.labels)) if centroids else None
        save_checkpoint(
            self.run_dir / name,
            Checkpoint(
                model=model,
                audio=self.audio,
                labels=self.labels,
                label_centroids=cents,
                info=info,
                prior=prior,
                train_config=self.train_cfg.to_dict(),
                label_counts=self.label_counts,
            ),
        )


def label_counts(data, n_labels: int) -> list[int]:
    """Segments of each label in a MelDataset or a Subset of one: (n_labels,) counts, the
    proportions a conditional model draws labels in (api.Melvae.draw_labels)."""
    subset = isinstance(data, Subset)
    ids = data.dataset.label_ids[list(data.indices)] if subset else data.label_ids
    ids = ids[ids >= 0]
    return [int(c) for c in np.bincount(ids, minlength=n_labels)[:n_labels]]


@torch.no_grad()
def label_centroids(
    model: nn.Module, data, n_labels: int, batch_size: int = 32
) -> torch.Tensor | None:
    """Mean (time-pooled) latent mean of each label's segments: (n_labels, latent size), or
    None."""
    if n_labels == 0:
        return None
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums = torch.zeros(n_labels, model.cfg.latent_size)
    counts = torch.zeros(n_labels)
    for mel, labels in DataLoader(data, batch_size=batch_size):
        keep = labels >= 0
        if not keep.any():
            continue
        mel, labels = mel[keep].to(device), labels[keep]
        mu, _ = model.encode(mel, labels.to(device) if model.cfg.conditional else None)
        sums.index_add_(0, labels, model.pool(mu).cpu())
        counts.index_add_(0, labels, torch.ones(len(labels)))
    model.train(was_training)
    return sums / counts.clamp(min=1).unsqueeze(1)


def _append_history(path: Path, row: dict[str, Any]) -> None:
    new = not path.is_file()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def plot_history(history_csv: Path, out_png: Path) -> None:
    """Loss curves (train and validation; reconstruction and KL) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    epoch = [int(r["epoch"]) for r in rows]

    def col(name):
        return [float(r[name]) for r in rows]

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name in ("train_loss", "val_loss"):
        axes[0].plot(epoch, col(name), marker=".", label=name.replace("_", " "))
    axes[0].set(title="negative ELBO per segment", xlabel="epoch", yscale="log")
    for name in ("train_recon", "val_recon", "train_kl", "val_kl"):
        axes[1].plot(epoch, col(name), marker=".", label=name.replace("_", " "))
    axes[1].set(title="reconstruction and KL", xlabel="epoch", yscale="log")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = out_png.with_name("." + out_png.name)
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    tmp.replace(out_png)


@dataclass
class TrainResult:
    run_dir: Path
    epochs: int
    best_score: float
    monitor: str
    active_units: int
    interrupted: bool
    seconds: float
    rank: int = 0  # the process's rank under DDP; only rank 0 reports


def _lightning_device(device: str, count: int) -> tuple[str, int | list[int]]:
    """melvae's --device / --devices -> Lightning's (accelerator, devices)."""
    if device in ("auto", "cpu", "gpu", "mps"):
        return device, count
    if device == "cuda":
        return "gpu", count
    if device.startswith("cuda:") and device[5:].isdigit():
        return "gpu", [int(device[5:])]
    raise MelvaeError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps")


def train(
    data_dir: Path | str,
    run_dir: Path | str,
    train_cfg: TrainConfig = TrainConfig(),
    latent_dim: int = default(ModelConfig, "latent_dim"),
    channels: tuple[int, ...] | None = None,
    resume: bool = False,
    device: str = DEFAULT_DEVICE,
    progress: bool = True,
    kind: str = DEFAULT_KIND,
    latent_channels: int = default(ModelConfig, "latent_channels"),
    rate: int = default(ModelConfig, "rate"),
) -> TrainResult:
    """Train a VAE on a preprocessed dataset folder; writes the run folder described above.

    kind "sequence": the time-resolved model (latent_channels every ``rate`` frames), then its
    prior on the rest of the time budget (``train_cfg.prior_fraction`` of --max-minutes);
    kind "vector": one ``latent_dim`` vector per segment."""
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    t0 = time.perf_counter()
    accelerator, devices = _lightning_device(device, train_cfg.devices)
    data = MelDataset(data_dir)
    if resume:
        if not (run_dir / RUN_CONFIG).is_file():
            raise MelvaeError(f"nothing to resume in {run_dir} (no {RUN_CONFIG})")
        saved = read_run_config(run_dir)
        model_cfg = ModelConfig.from_dict(saved["model"])
        saved_cfg = TrainConfig.from_dict(saved["train"])
        _refuse_changed_settings(train_cfg, saved_cfg)
        keep = {name: getattr(train_cfg, name) for name in RESUME_MAY_CHANGE}
        train_cfg = dataclasses.replace(saved_cfg, **keep)
        data = MelDataset(data_dir, labels=saved["labels"])
        if data.audio.to_dict() != saved["audio"]:
            raise MelvaeError(f"{data_dir} has other audio parameters than the run being resumed")
    else:
        if train_cfg.conditional and not data.labels:
            raise MelvaeError("--conditional needs labelled data (a genre/track.wav layout)")
        default_channels = SEQUENCE_CHANNELS if kind == "sequence" else None
        model_cfg = ModelConfig(
            n_mels=data.audio.n_mels,
            n_frames=data.audio.segment_frames,
            latent_dim=latent_dim,
            n_labels=len(data.labels) if train_cfg.conditional else 0,
            kind=kind,
            latent_channels=latent_channels,
            rate=rate,
            **(
                {"channels": tuple(channels or default_channels)}
                if channels or default_channels
                else {}
            ),
        )
        train_cfg = train_cfg.for_kind(kind)
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in (HISTORY, RESUME, BEST, LAST, CURVES):  # never mix two runs' files
            (run_dir / stale).unlink(missing_ok=True)
        write_json(
            run_dir / RUN_CONFIG,
            {
                "data_dir": str(data_dir.resolve()),
                "labels": data.labels,
                "audio": data.audio.to_dict(),
                "model": model_cfg.to_dict(),
                "train": train_cfg.to_dict(),
            },
        )

    pl.seed_everything(train_cfg.seed, workers=True, verbose=False)
    train_idx, val_idx = track_split(data.segments, train_cfg.val_fraction, train_cfg.seed)
    if not train_idx:
        raise MelvaeError("no training segments after the validation split")
    train_set, val_set = Subset(data, train_idx), Subset(data, val_idx)
    loader_kw = {
        "batch_size": train_cfg.batch_size,
        "num_workers": train_cfg.num_workers,
        "persistent_workers": train_cfg.num_workers > 0,
    }
    train_loader = DataLoader(
        train_set,
        shuffle=True,
        drop_last=len(train_set) > train_cfg.batch_size,
        generator=torch.Generator().manual_seed(train_cfg.seed),
        **loader_kw,
    )
    val_loader = DataLoader(val_set, shuffle=False, **loader_kw) if val_idx else None
    monitor = "val_loss" if val_idx else "train_loss"

    task = VAETask(model_cfg, train_cfg)
    # Lightning's bar redraws with \r: on a terminal only; in a log, one line per epoch.
    draw_bar = progress and interactive()
    folder = RunFolder(
        run_dir,
        data.audio,
        data.labels,
        train_set,
        monitor,
        train_cfg,
        log_epochs=progress and not draw_bar,
    )
    if resume and (run_dir / BEST).is_file():
        # The best epoch so far is in best.pt: if no resumed epoch beats it, the prior and the
        # final best.pt must still be built on it, not on the last weights.
        saved_best = load_checkpoint(run_dir / BEST)
        folder.best_state = saved_best.model.state_dict()
        folder.best_info = {k: v for k, v in saved_best.info.items() if not k.startswith("prior_")}
    resume_ckpt = pl.callbacks.ModelCheckpoint(
        dirpath=run_dir,
        filename=Path(RESUME).stem,
        save_top_k=1,
        every_n_epochs=1,
        enable_version_counter=False,
    )
    ckpt_path = None
    if resume:
        ckpt_path = run_dir / RESUME
        if not ckpt_path.is_file():
            raise MelvaeError(f"nothing to resume in {run_dir} (no {RESUME})")
    with _quiet_lightning():
        trainer = pl.Trainer(
            # Never devices="auto": on a multi-GPU machine that silently takes every GPU.
            accelerator=accelerator,
            devices=devices,
            strategy=train_cfg.strategy,
            max_epochs=train_cfg.epochs,
            max_time=timedelta(minutes=task.minutes) if task.minutes else None,
            callbacks=[folder, resume_ckpt],
            logger=False,
            enable_progress_bar=draw_bar,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=1.0 if val_loader is not None else 0,
            gradient_clip_val=train_cfg.grad_clip or None,
            default_root_dir=run_dir,
            log_every_n_steps=1,
        )
        try:
            trainer.fit(task, train_loader, val_loader, ckpt_path=ckpt_path)
        except SystemExit:
            # Lightning turns Ctrl-C into sys.exit(1) after its own shutdown, leaving SIGINT
            # ignored; we still owe the user last.pt, and best.pt with centroids.
            if not folder.interrupted:
                raise
            signal.signal(signal.SIGINT, signal.default_int_handler)
    prior, prior_info = None, None
    if trainer.is_global_zero:
        if model_cfg.kind == "sequence" and not folder.interrupted:
            # Lightning's teardown moved the model to the CPU: the prior trains where the
            # autoencoder did.
            prior_device = _torch_device(accelerator, devices)
            prior, prior_info = _train_prior(
                folder.best_model(task.model).to(prior_device),
                data,
                train_idx,
                val_idx,
                train_cfg,
                progress,
            )
        folder.finalize(task.model, prior, prior_info)
    mu = _latent_means(task.model, train_set)
    return TrainResult(
        run_dir=run_dir,
        epochs=trainer.current_epoch,
        best_score=folder.best_score,
        monitor=monitor,
        active_units=active_units(mu),
        interrupted=folder.interrupted,
        seconds=time.perf_counter() - t0,
        rank=trainer.global_rank,
    )


def _refuse_changed_settings(given: TrainConfig, saved: TrainConfig) -> None:
    """Raise if ``given`` (the --resume call's settings) asks for another value of a setting
    than the run has, other than RESUME_MAY_CHANGE. A setting at its default counts as not
    given (so a default asked for explicitly goes unnoticed); beta None is the default."""
    default = TrainConfig()
    changed = [
        f"{f.name} is {getattr(saved, f.name)} in the run, {getattr(given, f.name)} given"
        for f in dataclasses.fields(TrainConfig)
        if f.name not in RESUME_MAY_CHANGE
        and getattr(given, f.name) != getattr(default, f.name)
        and getattr(given, f.name) != getattr(saved, f.name)
    ]
    if changed:
        it = "it" if len(changed) == 1 else "them"
        raise MelvaeError(
            f"--resume keeps the run's settings: {'; '.join(changed)}; "
            f"start a new run to change {it}"
        )


def _torch_device(accelerator: str, devices) -> torch.device:
    """Lightning's (accelerator, devices) -> the torch device of the first process."""
    if accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available()):
        index = devices[0] if isinstance(devices, list) else 0
        return torch.device("cuda", index) if torch.cuda.is_available() else torch.device("cpu")
    if accelerator == "mps":
        return torch.device("mps")
    return torch.device("cpu")


def _train_prior(model, data, train_idx, val_idx, train_cfg: TrainConfig, progress: bool):
    """The sequence kind's second stage: its prior, on the best weights' latent sequences."""
    from melvae.train_prior import fit_prior

    minutes = None
    if train_cfg.max_minutes:
        minutes = train_cfg.max_minutes - train_cfg.autoencoder_minutes("sequence")
    return fit_prior(
        model,
        data,
        train_idx,
        val_idx,
        n_labels=len(data.labels),
        epochs=train_cfg.prior_epochs or train_cfg.epochs,
        minutes=minutes,
        seed=train_cfg.seed,
        progress=progress,
    )


@contextlib.contextmanager
def _quiet_lightning():
    """Keep Lightning's banners (accelerator lists, tips) and known-harmless warnings out of
    the user's terminal while training; real warnings still show."""
    log = logging.getLogger("lightning.pytorch")
    level = log.level
    log.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        for pattern in (
            ".*Checkpoint directory .* exists and is not empty.*",
            ".*isinstance.treespec, LeafSpec.*",
            ".*does not have many workers.*",
        ):
            warnings.filterwarnings("ignore", message=pattern)
        try:
            yield
        finally:
            log.setLevel(level)


@torch.no_grad()
def _latent_means(model: nn.Module, data, limit: int = 512) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    mus = []
    seen = 0
    for mel, labels in DataLoader(data, batch_size=32):
        labels_in = labels.to(device) if model.cfg.conditional else None
        mus.append(model.positions(model.encode(mel.to(device), labels_in)[0]).cpu())
        seen += len(mel)
        if seen >= limit:
            break
    return torch.cat(mus)
