"""Model kinds at inference: the written interface (``base.Kind``) and the kinds melvae ships,
each one module: ``sequence`` (a latent sequence continued by a learned prior) and ``vector``
(one latent vector per segment, long tracks joined in the spectrogram). Each kind samples,
interpolates, and plans and renders its own long tracks over the inference core
(:class:`melvae.generation.core.Core`). A kind is found by name through
:data:`melvae.registry.KINDS` (:func:`build_kind`).

Imports the foundation, ``melvae.audio``, ``melvae.models`` and ``melvae.generation``."""

from __future__ import annotations

from melvae import registry


def build_kind(name: str, core):
    """The inference of kind ``name`` over ``core``."""
    return registry.resolve(registry.KINDS.get(name).inference)(core)
