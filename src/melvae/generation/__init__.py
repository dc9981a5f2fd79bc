"""Inference tools every kind uses: the inference core (``core``: network, prior, labels,
device and the mel-to-audio stage), the inputs a model takes (``inputs``), label policy
(``labels``), latent draws, paths and schedules (``latents``), long tracks of joined segments
(``joins``), and the files written from what a model makes (``outputs``).

Imports the foundation, ``melvae.audio`` and ``melvae.models``; never training code."""
