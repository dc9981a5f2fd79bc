"""Datasets on disk: an audio folder made into fixed-length log-mel segments with their
manifest and audio parameters (``preprocess``), read back for training (``dataset``), and the
demo's synthetic music (``synth``).

Imports the foundation and ``melvae.audio``."""
