"""Priors over a sequence model's latent frames: the written interface every prior implements
(``base.Prior``) and the ones melvae ships (``gru``: an autoregressive GRU with a
mixture-density head). A checkpoint records its prior's ``PriorConfig.kind`` and rebuilds it
through :data:`melvae.registry.PRIORS` (:func:`build_prior`).

Imports the foundation only (``melvae.config``, ``melvae.registry``) and torch."""

from __future__ import annotations

from melvae import registry
from melvae.config import PriorConfig


def build_prior(cfg: PriorConfig):
    """The prior ``cfg.kind`` names, built from its settings (untrained)."""
    return registry.resolve(registry.PRIORS.get(cfg.kind).cls)(cfg)
