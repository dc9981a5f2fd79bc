"""Training, the only layer that imports Lightning: the run's settings, data and Trainer
(``train``), the loss, optimizer and schedule (``task``), the run folder's history, curves and
checkpoints (``run_folder``), and the sequence kind's prior (``prior``).

Imports the layers it trains (``melvae.data``, ``melvae.models``) and the foundation; nothing
outside it imports training."""
