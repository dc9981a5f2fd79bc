"""The run folder while training runs: history.csv, curves.png, best.pt and last.pt.

A Lightning callback writes them each epoch and keeps the best score across --resume;
at the end, :meth:`RunFolder.finalize` rewrites both checkpoints with each label's latent
centroid (and best.pt with the sequence kind's prior). Every file is written whole and
atomically (melvae.safeio), history.csv included; :class:`SealedCheckpointIO` writes
Lightning's resume.ckpt the same way, with a checksum checked by --resume.
"""

from __future__ import annotations

import copy
import csv
import functools
import inspect
import io
import math
import sys
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn

from melvae.config import AudioConfig, TrainConfig
from melvae.errors import MelvaeError
from melvae.layout import BEST, CURVES, HISTORY, LAST, RESUME
from melvae.models.checkpoint import Checkpoint, save_checkpoint
from melvae.models.integrity import save_sealed, verify
from melvae.plots import plot_history
from melvae.safeio import folder_lock, is_helper_rank, write_text

# curves.png is redrawn at most this often while training runs, and at its end: a redraw
# costs about 0.8 s on a laptop CPU (log axes and layout), as much as a short epoch.
CURVES_EVERY_SECONDS = 30.0

# history.csv: epoch, seconds, lr, then these (NaN where an epoch has none, e.g. no val set)
LOGGED = ("beta", "train_loss", "train_recon", "train_kl", "val_loss", "val_recon", "val_kl")


class RunFolder(pl.Callback):
    """Writes history.csv, curves.png, best.pt and last.pt; keeps the best score across
    --resume (its state is stored in Lightning's checkpoint). ``log_epochs``: print one line
    per epoch to stderr, in place of Lightning's bar where none can be drawn (a log file)."""

    def __init__(
        self,
        run_dir: Path,
        audio: AudioConfig,
        labels: list[str],
        label_counts: list[int] | None,
        monitor: str,
        train_cfg: TrainConfig,
        log_epochs: bool = False,
    ):
        self.run_dir, self.audio, self.labels = run_dir, audio, labels
        self.train_cfg = train_cfg  # stored in every checkpoint (its validation split)
        self.label_counts, self.monitor, self.log_epochs = label_counts, monitor, log_epochs
        self.best_score = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_info: dict[str, Any] = {}
        self.best_is_last = False  # the latest epoch was the best: last.pt == best.pt weights
        self._epoch_start = time.perf_counter()
        self._curves_drawn = -math.inf  # perf_counter time of the last curves.png
        self.interrupted = False

    def on_exception(self, trainer, task, exception: BaseException) -> None:
        self.interrupted = isinstance(exception, KeyboardInterrupt)

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_score = state["best_score"]

    def on_train_epoch_start(self, trainer, task) -> None:
        self._epoch_start = time.perf_counter()
        self.best_is_last = False  # this epoch changes the weights (even if Ctrl-C ends it)

    def on_train_epoch_end(self, trainer, task) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        epoch = trainer.current_epoch
        row = {
            "epoch": epoch + 1,
            "seconds": round(time.perf_counter() - self._epoch_start, 2),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            **{k: metrics.get(k, math.nan) for k in LOGGED},
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
        self.best_is_last = score < self.best_score
        if self.best_is_last:
            self.best_score = score
            self.best_state = copy.deepcopy(task.model.state_dict())
            self.best_info = {**info, "monitor": self.monitor, "best_score": score}
            self._save(BEST, task.model, self.best_info)
        self._save(LAST, task.model, info)
        if time.perf_counter() - self._curves_drawn >= CURVES_EVERY_SECONDS:
            self._draw_curves()

    def _draw_curves(self) -> None:
        if (self.run_dir / HISTORY).is_file():
            plot_history(self.run_dir / HISTORY, self.run_dir / CURVES)
            self._curves_drawn = time.perf_counter()

    def best_model(self, model: nn.Module) -> nn.Module:
        """A copy of ``model`` with the best epoch's weights (``model`` itself if none)."""
        if self.best_state is None:
            return model
        best = copy.deepcopy(model)
        best.load_state_dict(self.best_state)
        return best

    def finalize(
        self,
        model: nn.Module,
        best: nn.Module,
        centroids: torch.Tensor | None,
        centroids_of_last=None,
        prior=None,
        prior_info: dict | None = None,
    ) -> None:
        """Rewrite best.pt (the weights ``best``, with the label ``centroids`` of its
        latents and the prior trained on them) and last.pt (``model``, the last weights).

        last.pt's own centroids come from ``centroids_of_last()``, called only where its
        weights are not the best's: the training set is encoded once per set of weights."""
        # After Ctrl-C these are the weights of the interrupted epoch, and say so.
        info = {**self._last_info(), "finished": not self.interrupted}
        same = self.best_is_last or self.best_state is None
        last_centroids = centroids if same or centroids_of_last is None else centroids_of_last()
        self._save(LAST, model, info, last_centroids)
        if self.best_state is not None:
            best_info = {**self.best_info, **(prior_info or {})}
            self._save(BEST, best, best_info, centroids, prior=prior)
        self._draw_curves()  # every epoch, whatever the last redraw missed

    def _last_info(self) -> dict[str, Any]:
        path = self.run_dir / HISTORY
        if not path.is_file():
            return {}
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        return {"epoch": int(rows[-1]["epoch"])} if rows else {}

    def _save(self, name: str, model: nn.Module, info: dict, centroids=None, prior=None) -> None:
        save_checkpoint(
            self.run_dir / name,
            Checkpoint(
                model=model,
                audio=self.audio,
                labels=self.labels,
                label_centroids=centroids,
                info=info,
                prior=prior,
                train_config=self.train_cfg.to_dict(),
                label_counts=self.label_counts,
            ),
        )


def label_counts(label_ids: np.ndarray, n_labels: int) -> list[int]:
    """Segments of each label among ``label_ids`` (N,) (-1: unlabelled): (n_labels,) counts,
    the proportions a conditional model draws labels in (api.Melvae.draw_labels)."""
    ids = np.asarray(label_ids)
    ids = ids[ids >= 0]
    return [int(c) for c in np.bincount(ids, minlength=n_labels)[:n_labels]]


def label_centroids(
    pooled: torch.Tensor, label_ids: np.ndarray, n_labels: int
) -> torch.Tensor | None:
    """Mean of each label's time-pooled latent means: pooled (N, latent size) and their label
    ids (N,) (-1: unlabelled, left out) -> (n_labels, latent size), or None without labels."""
    if n_labels == 0:
        return None
    ids = torch.as_tensor(np.asarray(label_ids), dtype=torch.long)
    keep = ids >= 0
    sums = torch.zeros(n_labels, pooled.shape[1]).index_add_(0, ids[keep], pooled[keep].float())
    counts = torch.bincount(ids[keep], minlength=n_labels)[:n_labels].float()
    return sums / counts.clamp(min=1).unsqueeze(1)


def _append_history(path: Path, row: dict[str, Any]) -> None:
    """Add a row to history.csv by writing the whole file anew, atomically: an append cut by
    a full disk would leave half a row. Rows of this epoch or later go: a run resumed from
    an earlier resume.ckpt (its write failed, or the process was killed) trains them again."""
    rows = []
    if path.is_file():
        with open(path, newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if int(r["epoch"]) < row["epoch"]]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(row))
    writer.writeheader()
    writer.writerows([*rows, row])
    write_text(path, out.getvalue())


def one_writer(train):
    """``train(data_dir, run_dir, ..., resume, ..., overwrite)`` with its run folder locked
    while it runs (melvae.safeio.folder_lock: a second writer is refused in one line), and a
    folder that already holds a run refused unless ``resume`` continues it or ``overwrite``
    replaces it: a trained model is never replaced unasked. The processes a DDP launcher
    starts beside the first run unlocked: the first holds the lock for all of them."""
    signature = inspect.signature(train)

    @functools.wraps(train)
    def locked(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        run_dir, resume = Path(call.arguments["run_dir"]), call.arguments["resume"]
        overwrite = call.arguments["overwrite"]
        if resume and overwrite:
            raise MelvaeError("--resume continues the run, --overwrite replaces it: give one")
        if is_helper_rank():
            return train(*args, **kwargs)
        with folder_lock(run_dir, "train"):
            held = [name for name in (BEST, LAST, RESUME, HISTORY) if (run_dir / name).is_file()]
            if held and not resume and not overwrite:
                raise MelvaeError(
                    f"{run_dir} already holds a trained run ({', '.join(held)}): continue it "
                    "with --resume, replace it with --overwrite, or train into another folder"
                )
            return train(*args, **kwargs)

    return locked


RESUME_ADVICE = "--resume cannot go on from it: start afresh with --overwrite"


class SealedCheckpointIO(pl.plugins.TorchCheckpointIO):
    """Lightning's checkpoints (resume.ckpt) written atomically with a checksum of their
    contents, which loading checks (melvae.models.integrity); a file without one, from an
    earlier melvae, loads unchecked. Lightning's own writer copies the file from a temporary
    folder that may be on another disk, so a full disk could leave it torn."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError("storage_options are not supported")
        save_sealed(path, checkpoint)

    def load_checkpoint(self, path, map_location=lambda storage, loc: storage, weights_only=None):
        try:
            payload = super().load_checkpoint(path, map_location, weights_only)
        except OSError:
            raise
        except Exception as exc:
            raise MelvaeError(
                f"{path} is damaged ({exc.__class__.__name__}); {RESUME_ADVICE}"
            ) from None
        return verify(path, payload, RESUME_ADVICE)
