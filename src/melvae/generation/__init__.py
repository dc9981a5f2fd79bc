"""Inference: the inputs a model takes (``inputs``), label policy (``labels``), latent draws and
paths (``latents``), each kind's sampling, interpolation and long tracks (``vector_ops``,
``sequence_ops``, over ``longform``), and the files written from them (``outputs``).

Imports the foundation, ``melvae.audio`` and ``melvae.models``; never training code."""
