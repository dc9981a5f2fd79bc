"""What both autoencoder kinds share (model.MelVAE, seqmodel.SeqVAE): label conditioning,
the reparameterized forward pass, and the batched encoding of many mels."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from melvae.config import ModelConfig


class VAEBase(nn.Module):
    """What both model kinds share: label conditioning and the reparameterized forward pass.
    A subclass sets ``cfg`` and ``label_embedding`` and defines encode and decode."""

    cfg: ModelConfig
    label_embedding: nn.Embedding | None

    def _condition(self, labels: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        if self.label_embedding is None:
            return None
        if labels is None:
            raise ValueError("this model is conditional: pass labels (B,) of label indices")
        labels = labels.to(self.label_embedding.weight.device).long().reshape(batch)
        return self.label_embedding(labels)

    def forward(
        self,
        mel: torch.Tensor,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (reconstruction (B, n_mels, T), mu, logvar): z = mu + sigma * eps."""
        mu, logvar = self.encode(mel, labels)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + eps * torch.exp(0.5 * logvar)
        return self.decode(z, labels, frames=mel.shape[-1]), mu, logvar

    @torch.no_grad()
    def encode_batched(
        self,
        mels,
        labels: torch.Tensor | None = None,
        indices: list[int] | None = None,
        batch_size: int = 32,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior of many mels, a batch at a time on the model's device: the one loop
        that encodes a dataset (training's summaries and prior, analysis, evaluation).

        mels: (N, n_mels, T), a tensor or an array (a dataset's memory map is read a batch at
        a time); labels: (N,) label indices, used by a conditional model only (an unlabelled
        segment, -1, is encoded as label 0); indices: the rows to encode (default: all).
        Returns (mu, logvar) on the CPU, each (len(indices), latent_dim), or (len, C, T') for a
        sequence."""
        rows = list(range(len(mels))) if indices is None else list(indices)
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        mus, logvars = [], []
        for i in range(0, len(rows), batch_size):
            chunk = rows[i : i + batch_size]
            if isinstance(mels, torch.Tensor):  # np.asarray of a GPU tensor would fail
                mel = mels[chunk].float()
            else:
                mel = torch.from_numpy(np.asarray(mels[chunk], dtype=np.float32))
            ids = None
            if self.label_embedding is not None and labels is not None:
                ids = torch.as_tensor(labels)[chunk].long().clamp(min=0).to(device)
            mu, logvar = self.encode(mel.to(device), ids)
            mus.append(mu.float().cpu())
            logvars.append(logvar.float().cpu())
        self.train(was_training)
        if not mus:
            return torch.zeros(0), torch.zeros(0)
        return torch.cat(mus), torch.cat(logvars)
