"""Sound and its spectrogram: audio file I/O and resampling (``io``), waveform <-> normalized
log-mel (``features``), the mel-to-audio stage (``inversion``: fast Griffin-Lim, with the
Phase Gradient Heap Integration start of ``pghi``), the onset envelope and its periodicity
(``onsets``) and the beat tracker over it (``beats``).

Imports only the foundation modules (``melvae.config``, ``melvae.errors``)."""
