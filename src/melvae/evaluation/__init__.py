"""What a model learned, measured offline: comparisons (``metrics``), per-frame features and the
clip embedding (``descriptors``), tempo, pulse and seams (``rhythm``), the evaluation itself
(``evaluate`` over ``reconstruction`` and ``generation``), and reconstructions and latent maps
(``analysis``).

Imports everything below it and the API (``melvae.api``); never training code."""
