"""Training: a dataset folder in, a run folder out.

The training modules, and the only ones that import Lightning: this one (settings, data,
the Trainer, the end of the run), train_task.py (the loss and optimizer), train_run.py (what
is written while training runs) and train_prior.py (the sequence kind's prior).

A run folder holds:

    config.json      the audio, model and training settings and the dataset path
    best.pt          melvae checkpoint with the lowest validation loss (see checkpoint.py)
    last.pt          melvae checkpoint of the last epoch (on Ctrl-C: the interrupted one's
                     weights, with info["finished"] False)
    history.csv      one row per epoch: losses, KL, beta, learning rate, seconds
    curves.png       the loss curves
    resume.ckpt      Lightning's full state (optimizer, schedule, epoch) for --resume
    .melvae.lock     held while training runs (melvae.safeio.folder_lock)

Every file is written atomically (melvae.safeio); the checkpoints carry a checksum of their
contents (melvae.models.integrity), resume.ckpt too (run_folder.SealedCheckpointIO).

The loop, devices and distribution (CPU, one GPU, DDP over several processes or GPUs) are
Lightning's; the model stays a plain torch module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import time
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Subset

from melvae import registry
from melvae.config import (
    DEFAULT_DEVICE,
    DEFAULT_KIND,
    ModelConfig,
    TrainConfig,
    default,
    write_json,
)
from melvae.data.dataset import MelDataset, track_split
from melvae.errors import MelvaeError
from melvae.layout import BEST, CURVES, HISTORY, LAST, RESUME, RUN_CONFIG, read_run_config
from melvae.models.checkpoint import load_checkpoint
from melvae.models.vector import active_units
from melvae.progress import interactive
from melvae.training.run_folder import (
    RunFolder,
    SealedCheckpointIO,
    label_centroids,
    label_counts,
    one_writer,
)
from melvae.training.task import VAETask

# What --resume takes from the new command line: the length of the run, which resuming is
# meant to extend, and the machine's settings (it may go on on another machine). Every other
# training setting is the run's own (config.json).
RESUME_MAY_CHANGE = ("epochs", "max_minutes", "devices", "strategy", "num_workers")


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
    # the sequence kind's prior: epochs trained, of how many; False where Ctrl-C stopped it
    prior_epochs: int | None = None
    prior_planned: int | None = None
    prior_finished: bool = True


def _lightning_device(device: str, count: int) -> tuple[str, int | list[int]]:
    """melvae's --device / --devices -> Lightning's (accelerator, devices)."""
    if device in ("auto", "cpu", "gpu", "mps"):
        return device, count
    if device == "cuda":
        return "gpu", count
    if device.startswith("cuda:") and device[5:].isdigit():
        return "gpu", [int(device[5:])]
    raise MelvaeError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps")


@one_writer  # the run folder locked; a trained run refused unless resumed or overwritten
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
    overwrite: bool = False,
) -> TrainResult:
    """Train a VAE on a preprocessed dataset folder; writes the run folder described above.

    kind "sequence": the time-resolved model (latent_channels every ``rate`` frames), then its
    prior on the rest of the time budget (``train_cfg.prior_fraction`` of --max-minutes);
    kind "vector": one ``latent_dim`` vector per segment.

    The run folder is locked while training runs (one writer); a folder that already holds
    a run is continued with ``resume``, replaced with ``overwrite``, and refused otherwise
    (:func:`melvae.training.run_folder.one_writer`)."""
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    t0 = time.perf_counter()
    accelerator, devices = _lightning_device(device, train_cfg.devices)
    data = MelDataset(data_dir, verify=True)  # every byte is read anyway, epoch after epoch
    if resume:
        if not (run_dir / RUN_CONFIG).is_file():
            raise MelvaeError(f"nothing to resume in {run_dir} (no {RUN_CONFIG})")
        saved = read_run_config(run_dir)
        model_cfg = ModelConfig.from_dict(saved["model"])
        saved_cfg = TrainConfig.from_dict(saved["train"])
        _refuse_changed_settings(train_cfg, saved_cfg)
        keep = {name: getattr(train_cfg, name) for name in RESUME_MAY_CHANGE}
        train_cfg = dataclasses.replace(saved_cfg, **keep)
        data = MelDataset(data_dir, labels=saved["labels"], verify=True)
        if data.audio.to_dict() != saved["audio"]:
            raise MelvaeError(f"{data_dir} has other audio parameters than the run being resumed")
    else:
        if train_cfg.conditional and not data.labels:
            raise MelvaeError("--conditional needs labelled data (a genre/track.wav layout)")
        default_channels = registry.KINDS.get(kind).defaults.get("channels")
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
        label_counts(data.label_ids[train_idx], len(data.labels)) if data.labels else None,
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
            plugins=[SealedCheckpointIO()],  # resume.ckpt: atomic, with a checksum
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
    active, prior_info = 0, None
    if trainer.is_global_zero:
        # Lightning's teardown moved the model to the CPU: the summaries and the prior are
        # computed where the autoencoder trained.
        device = _torch_device(accelerator, devices)
        active, prior_info = _finish(
            folder, task.model, device, data, train_idx, val_idx, train_cfg, progress
        )
    prior_info = prior_info or {}
    return TrainResult(
        run_dir=run_dir,
        epochs=trainer.current_epoch,
        best_score=folder.best_score,
        monitor=monitor,
        active_units=active,
        interrupted=folder.interrupted,
        seconds=time.perf_counter() - t0,
        rank=trainer.global_rank,
        prior_epochs=prior_info.get("prior_epochs"),
        prior_planned=(train_cfg.prior_epochs or train_cfg.epochs) if prior_info else None,
        prior_finished=prior_info.get("prior_finished", True),
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


def _finish(folder: RunFolder, model, device, data, train_idx, val_idx, train_cfg, progress):
    """The end of a run (rank 0): best.pt and last.pt with their label centroids, the
    sequence kind's prior; returns the count of active latent units and the prior's facts
    (None without a prior).

    One pass over the training segments with the best weights serves best.pt's centroids,
    the active units and the prior's sequences (which also take the validation segments);
    last.pt's centroids need a second pass only where the last weights are not the best."""
    best = folder.best_model(model).to(device)
    wants_prior = registry.KINDS.get(best.cfg.kind).has_prior and not folder.interrupted
    rows = train_idx + val_idx if wants_prior else train_idx
    ids = data.label_ids
    mu = best.encode_batched(data.mels, ids, rows)[0]
    n_labels = len(data.labels)
    centroids = label_centroids(best.pool(mu[: len(train_idx)]), ids[train_idx], n_labels)

    def centroids_of_last():
        pooled = model.to(device).pool(model.encode_batched(data.mels, ids, train_idx)[0])
        model.cpu()  # where Lightning left it
        return label_centroids(pooled, ids[train_idx], n_labels)

    prior, prior_info = None, None
    if wants_prior:
        from melvae.training.prior import fit_prior

        minutes = None
        if train_cfg.max_minutes:
            minutes = train_cfg.max_minutes - train_cfg.autoencoder_minutes(best.cfg.kind)
        prior, prior_info = fit_prior(
            mu[: len(train_idx)],
            mu[len(train_idx) :],
            data,
            train_idx,
            val_idx,
            rate=best.latent_rate,
            n_labels=n_labels,
            epochs=train_cfg.prior_epochs or train_cfg.epochs,
            minutes=minutes,
            device=device,
            seed=train_cfg.seed,
            progress=progress,
            kind=train_cfg.prior,
        )
    folder.finalize(model, best, centroids, centroids_of_last, prior, prior_info)
    return active_units(best.positions(mu[: len(train_idx)])), prior_info


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
