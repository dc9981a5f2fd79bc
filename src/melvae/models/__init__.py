"""The networks and their files: the autoencoders (``vector``, ``sequence`` over ``vae_base``),
the learned prior over latent sequences (``prior``), and checkpoints that carry their own
configuration and rebuild them (``checkpoint``).

Imports the foundation and ``melvae.audio``; never the generation, evaluation or training
code."""
