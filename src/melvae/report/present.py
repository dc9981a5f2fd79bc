"""Results as text: one number formatter, the metric table and JSON files.

>>> from melvae.report.present import format_table, format_value
>>> print(format_table({"latent": {"kl_total": 3.14159, "kl_per_dim": [1.5, 1.64159]}}), end="")
latent
  kl_total                            3.142  KL summed over dimensions, nats per segment
  kl_per_dim                    [1.5 1.642]  KL per latent dimension, nats
>>> format_value([1, 2, 3])
'mean 2 ± 1 sd (n = 3, min 1, max 3)'

:mod:`melvae.evaluation.evaluate` and :mod:`melvae.evaluation.analysis` return plain dicts of
numbers; this module is where they become words, for the terminal (:func:`format_table`), for
the HTML report (:func:`format_value`, shown by :mod:`melvae.report.html`) and for scripts
(:func:`write_metrics`). Every number goes through :func:`format_number`. A list reads
differently in the two places: the terminal table shows its first items (``kl_per_dim``: which
dimensions carry information), the report a summary that stays short for any length.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from melvae.config import jsonable, write_json

# One line per figure of melvae.evaluation.evaluate, shown beside it by format_table.
DESCRIPTIONS = {
    "elapsed_seconds": "wall time of the evaluation",
    "mel_l1_db": "mean |mel - reconstruction|, dB (lower is better)",
    "mel_rmse_db": "RMS mel error, dB (lower is better)",
    "temporal_detail": "1 - SSE / SSE of a time-smeared mel, mean (1 exact, 0 a smear)",
    "temporal_detail_median": "the same, median over segments",
    "temporal_detail_audio": "the same on the log-mel of the model's resynthesized audio",
    "phase_only_temporal_detail_audio": "the same for the true mel through the inversion",
    "sc_db": "spectral convergence of the model's audio (lower is better)",
    "phase_only_sc_db": "the same for the true mel through the inversion (floor)",
    "magnitude_sc_db": "SC of the model's magnitude before phase retrieval",
    "lsd_db": "log-spectral distance of the model's audio (lower is better)",
    "phase_only_lsd_db": "the same for the true mel through the inversion (floor)",
    "kl_total": "KL summed over dimensions, nats per segment",
    "kl_per_dim": "KL per latent dimension, nats",
    "active_units": "dimensions with Var(mu) > 0.01",
    "latent_dim": "latent dimensions",
    "knn_accuracy": "leave-one-out 5-NN label accuracy of latent means",
    "knn_accuracy_other_tracks": "the same, neighbours from other tracks only",
    "knn_chance": "majority label's share (chance level)",
    "frechet": "Frechet distance, real vs generated embeddings",
    "frechet_half": "the same at the floor's set sizes (compare with the floor)",
    "frechet_floor": "Frechet distance between two halves of the real set",
    "frechet_ratio": "frechet_half / frechet_floor (about 1: as close as real to real)",
    "kernel": "kernel distance (KID), real vs generated",
    "kernel_floor": "KID between two halves of the real set",
    "diversity_generated": "mean pairwise embedding distance, generated",
    "diversity_real": "mean pairwise embedding distance, real",
    "diversity_ratio": "diversity_generated / diversity_real (below 1: less varied)",
    "clocked_frechet_ratio": "frechet_ratio of clips drawn at each held-out segment's tempo",
    "clocked_frechet_half": "frechet_half of those clips",
    "clocked_frechet_floor": "frechet_floor for those clips",
    "clocked_diversity_ratio": "diversity_ratio of those clips",
    "clocked_clips": "held-out segments with a tempo (one clip each)",
    "nn_train_generated_db": "median RMS mel distance, generated -> nearest training segment",
    "nn_train_real_db": "the same for held-out real segments (other tracks)",
    "nn_train_generated_min_db": "closest generated clip to any training segment",
    "nn_train_real_min_db": "closest held-out real segment to any training segment",
    "copy_fraction": "share of generated clips nearer than any real held-out one",
    "track_seconds": "length of the long track",
    "joins": "joins listed in the track's .json",
    "seam_score": "flux at joins / flux elsewhere (about 1: seamless)",
    "tempo_window_seconds": "window of each tempo estimate (every half window)",
    "tempo_bpm": "median windowed tempo",
    "tempo_stability_bpm": "std of windowed tempo (lower: steadier beat)",
    "target_bpm": "the tempo the track was made at",
    "tempo_error_bpm": "|median tempo - target|",
    "pulse_clarity": "onset autocorrelation peak at 0.3-1 s lags (1 clear beat, 0 none)",
    "timbre_jump_ratio": "MFCC change across marks / typical change (about 1: no jump)",
}

TABLE_ITEMS = 8  # list items the terminal table shows before "..."


# -- numbers and values ---------------------------------------------------------------------
def is_number(value: Any) -> bool:
    """A Python or numpy int or float; a bool is not a number here."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def format_number(value: float | int) -> str:
    """Integers whole; other numbers to 4 significant digits; inf and nan as words.

    A float with a whole value (12.0, 1234567.0) is written whole below 1e15, where it is
    still exact; beyond that, and for every other float, ``.4g``.
    """
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def format_value(value: Any) -> str:
    """Plain words for a value in the HTML report: a number; a list of numbers summarized
    as mean, sd, n, min and max; a dict as ``key: value`` pairs; yes / no; ``-`` for None."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_number(value):
        return format_number(value)
    if isinstance(value, np.ndarray):
        value = value.ravel().tolist()
    if isinstance(value, (list, tuple)):
        return _summarize(list(value))
    if isinstance(value, dict):
        return ", ".join(f"{k}: {format_value(v)}" for k, v in value.items())
    return str(value)


def _summarize(items: list) -> str:
    """A list of any length in one short line; non-numbers listed (the first six)."""
    if not items:
        return "(empty)"
    if not all(is_number(v) for v in items):
        shown = ", ".join(format_value(v) for v in items[:6])
        return shown + (f", ... ({len(items)} items)" if len(items) > 6 else "")
    arr = np.asarray(items, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    if len(finite) == 0:
        return f"n = {len(arr)}, none finite"
    text = f"mean {format_number(finite.mean())}"
    if len(finite) > 1:
        text += f" ± {format_number(finite.std(ddof=1))} sd"
    text += (
        f" (n = {len(arr)}, min {format_number(finite.min())}, max {format_number(finite.max())})"
    )
    if len(finite) < len(arr):
        text += f"; {len(arr) - len(finite)} not finite"
    return text


# -- the terminal table ---------------------------------------------------------------------
def format_table(result: dict[str, Any]) -> str:
    """An evaluation result ({section: {figure: value}}) as a plain-text table: one block
    per section, one line per figure with a short note on how to read it (DESCRIPTIONS)."""
    lines = []
    for section, values in result.items():
        lines.append(section)
        for key, value in values.items():
            if isinstance(value, str):
                lines.append(f"  {key:<28} {value}")
                continue
            note = DESCRIPTIONS.get(key, "")
            lines.append(f"  {key:<28} {_table_cell(value):>12}  {note}".rstrip())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _table_cell(value: Any) -> str:
    """A number as format_number writes it; a list as its first TABLE_ITEMS items in
    brackets; anything else (True, None) as Python writes it."""
    if is_number(value):
        return format_number(value)
    if isinstance(value, (list, tuple)):
        more = " ..." if len(value) > TABLE_ITEMS else ""
        return "[" + " ".join(_table_cell(v) for v in value[:TABLE_ITEMS]) + more + "]"
    return str(value)


# -- JSON -----------------------------------------------------------------------------------
def write_metrics(
    result: dict[str, Any],
    path: Path | str,
    nonfinite: Literal["null", "str"] = "null",
) -> Path:
    """Write a result as JSON, atomically, creating its folder. A value that is not finite
    is written null (strict JSON has no NaN) or, ``nonfinite="str"``, as "nan" / "inf"."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, jsonable(result, nonfinite=nonfinite))
    return path
