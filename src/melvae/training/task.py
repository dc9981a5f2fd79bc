"""The Lightning task that trains an autoencoder: the loss, its KL warm-up, window crops for
a time-resolved kind, the optimizer and its time-aware learning-rate schedule.

The model stays a plain torch module (``task.model``); train.py runs the task.
"""

from __future__ import annotations

import math

import lightning.pytorch as pl
import torch

from melvae.config import ModelConfig, TrainConfig
from melvae.models import build_network
from melvae.models.vector import vae_loss


class VAETask(pl.LightningModule):
    """Negative ELBO with a linear KL warm-up over the first ``kl_warmup_epochs``."""

    def __init__(self, model_cfg: ModelConfig, train_cfg: TrainConfig):
        super().__init__()
        self.model = build_network(model_cfg)
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
        """A time-resolved kind: a random window of ``crop_frames`` (whole latent frames)
        from each segment, and the factor (segment / crop frames) that scales its loss back to
        a whole segment's. The model is convolutional in time, so short windows teach it the
        same thing at a fraction of the compute per step: more steps in the same minutes."""
        frames = self.train_cfg.crop_frames
        T = mel.shape[-1]
        rate = self.model.latent_rate  # None: one latent per segment, never cropped
        if rate is None or not frames or frames >= T:
            return mel, 1.0
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
