"""The networks and their files: the autoencoders (``vector``, ``sequence`` over ``vae_base``),
the priors over latent sequences (``priors``), and checkpoints that carry their own
configuration and rebuild them (``checkpoint``), each part through its registry.

Imports the foundation and ``melvae.audio``; never the generation, evaluation or training
code."""

from __future__ import annotations

from melvae import registry
from melvae.config import ModelConfig


def build_network(cfg: ModelConfig):
    """The autoencoder of the kind ``cfg.kind`` names (:data:`melvae.registry.KINDS`), built
    from its settings (untrained)."""
    return registry.resolve(registry.KINDS.get(cfg.kind).network)(cfg)
