"""melvae: learn music from a folder of audio with a mel-spectrogram VAE, and generate from it.

Importing the package is cheap (no torch); :func:`load` brings in the model.

>>> import melvae
>>> model = melvae.load("runs/demo")               # doctest: +SKIP
>>> audio, sr = model.generate(4, seed=0)           # doctest: +SKIP
"""

from melvae.errors import MelvaeError
from melvae.version import __version__

__all__ = ["MelvaeError", "__version__", "load"]


def load(run_dir, device: str | None = None, inverter: str | None = None, **inverter_options):
    """Load a trained model from its run folder (or a checkpoint file) for inference, with
    the mel-to-audio stage ``inverter`` (default: fast Griffin-Lim) and that stage's own
    options (Griffin-Lim's ``n_iter`` and ``init``): :meth:`melvae.api.Melvae.load`."""
    from melvae.api import Melvae

    return Melvae.load(run_dir, device, inverter, **inverter_options)
