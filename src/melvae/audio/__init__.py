"""Sound and its spectrogram: audio file I/O and resampling (``io``), waveform <-> normalized
log-mel (``features``), and the mel-to-audio stage (``inversion``: fast Griffin-Lim, with the
Phase Gradient Heap Integration start of ``pghi``).

Imports only the foundation modules (``melvae.config``, ``melvae.errors``)."""
