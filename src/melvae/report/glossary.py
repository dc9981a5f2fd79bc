"""What each figure of :func:`melvae.evaluation.evaluate.evaluate` is, in the report's words:
a name a musician reads, its unit, and which way is better.

>>> from melvae.report.glossary import describe
>>> describe("sc_db")
Figure(name='spectral convergence of the reconstructed audio', unit='dB', better='lower')

``better`` is "lower", "higher", "near 1" or "" (a count, a setting: no direction). A key
not listed here is shown under its own name, with no unit or direction.
"""

from __future__ import annotations

from typing import NamedTuple


class Figure(NamedTuple):
    name: str
    unit: str = ""
    better: str = ""


FIGURES: dict[str, Figure] = {
    # settings
    "run_dir": Figure("run folder"),
    "data_dir": Figure("dataset folder"),
    "same_dataset_as_training": Figure("dataset is the one it trained on (held-out tracks)"),
    "split": Figure("segments taken from (val: tracks held out of training)"),
    "segments": Figure("segments evaluated"),
    "tracks": Figure("tracks they come from"),
    "generated": Figure("clips generated"),
    "inverter": Figure("mel-to-audio stage of every clip"),
    "n_iter": Figure("Griffin-Lim iterations per clip"),
    "seed": Figure("seed"),
    "elapsed_seconds": Figure("time the evaluation took", "s"),
    # reconstruction
    "reference": Figure("audio measured against"),
    "mel_l1_db": Figure("mel error, mean absolute", "dB", "lower"),
    "mel_rmse_db": Figure("mel error, RMS", "dB", "lower"),
    "temporal_detail": Figure(
        "temporal detail, mean (0: a blur over time, 1: exact)", "", "higher"
    ),
    "temporal_detail_median": Figure("temporal detail, median", "", "higher"),
    "temporal_detail_audio": Figure("temporal detail of the reconstructed audio", "", "higher"),
    "phase_only_temporal_detail_audio": Figure(
        "the same, true mel through the inversion alone", "", "higher"
    ),
    "sc_db": Figure("spectral convergence of the reconstructed audio", "dB", "lower"),
    "phase_only_sc_db": Figure(
        "the same, true mel through the inversion alone (its limit)", "dB", "lower"
    ),
    "magnitude_sc_db": Figure("spectral convergence before phase retrieval", "dB", "lower"),
    "lsd_db": Figure("log-spectral distance of the reconstructed audio", "dB", "lower"),
    "phase_only_lsd_db": Figure("the same, true mel through the inversion alone", "dB", "lower"),
    # latent
    "latent_dim": Figure("latent dimensions (channels)"),
    "latent_frames": Figure("latent frames per segment"),
    "active_units": Figure("active latent dimensions", "", "higher"),
    "kl_total": Figure("KL, summed over dimensions", "nats per segment"),
    "kl_per_dim": Figure("KL per latent dimension", "nats"),
    "knn_accuracy": Figure("style told by its 5 nearest neighbours", "share", "higher"),
    "knn_accuracy_other_tracks": Figure(
        "the same, neighbours from other tracks only", "share", "higher"
    ),
    "knn_chance": Figure("chance level (the largest style's share)", "share"),
    # generation
    "frechet": Figure("Frechet distance, generated vs real", "", "lower"),
    "frechet_half": Figure("the same, at the floor's set sizes", "", "lower"),
    "frechet_floor": Figure("Frechet distance, real vs real (the floor)"),
    "frechet_ratio": Figure(
        "Frechet distance / its floor (1: as close as real to real)", "x", "lower"
    ),
    "kernel": Figure("kernel distance (KID), generated vs real", "", "lower"),
    "kernel_floor": Figure("kernel distance, real vs real (the floor)"),
    "diversity_generated": Figure("variety of generated clips (mean pairwise distance)"),
    "diversity_real": Figure("variety of real clips (mean pairwise distance)"),
    "diversity_ratio": Figure("variety, generated / real", "x", "near 1"),
    "clocked_frechet_ratio": Figure(
        "Frechet distance / its floor, clips at the real segments' tempos", "x", "lower"
    ),
    "clocked_frechet_half": Figure("the same distance, at the floor's set sizes", "", "lower"),
    "clocked_frechet_floor": Figure("its floor, real vs real"),
    "clocked_diversity_ratio": Figure(
        "variety, clips at the real segments' tempos / real", "x", "near 1"
    ),
    "clocked_clips": Figure("clips drawn at a real segment's tempo", "clips"),
    "nn_train_generated_db": Figure(
        "distance to the nearest training segment, generated (median)", "dB", "higher"
    ),
    "nn_train_generated_min_db": Figure("the same, the closest generated clip", "dB", "higher"),
    "nn_train_real_db": Figure("the same for held-out real segments (median)", "dB"),
    "nn_train_real_min_db": Figure("the same, the closest held-out real segment", "dB"),
    "copy_fraction": Figure(
        "share of clips nearer a training segment than any held-out real one", "share", "lower"
    ),
    # long track
    "track_seconds": Figure("length", "s"),
    "joins": Figure("joins between segments"),
    "seam_score": Figure("seam score: change at joins / elsewhere", "x", "near 1"),
    "tempo_window_seconds": Figure("window of each tempo estimate", "s"),
    "tempo_bpm": Figure("median tempo over the windows", "BPM"),
    "tempo_stability_bpm": Figure("tempo spread over windows (std)", "BPM", "lower"),
    "target_bpm": Figure("tempo asked for", "BPM"),
    "tempo_error_bpm": Figure("tempo error, |median - asked|", "BPM", "lower"),
    "held_bpm": Figure("tempo it followed (asked, or its start's own)", "BPM"),
    "tempo_held": Figure(
        "share of 20 s windows that hold that tempo (within 3%)", "share", "higher"
    ),
    "beat_locked_pulse": Figure(
        "onsets locked to that tempo's beat grid (real music: about 0.09)", "", "higher"
    ),
    "pulse_clarity": Figure("pulse clarity (0: no beat, 1: a clear beat)", "", "higher"),
    "timbre_marks": Figure("timbre compared at"),
    "timbre_jump_ratio": Figure("timbre jumps at marks / elsewhere", "x", "near 1"),
}

ARROWS = {"lower": "↓ lower", "higher": "↑ higher", "near 1": "≈ 1 best"}

SECTIONS = {
    "settings": "How it was evaluated",
    "reconstruction": "Reconstruction: held-out segments through the model",
    "latent": "Latent space",
    "generation": "Generation: clips from the prior against held-out real music",
    "longform": "The long track",
}


def describe(key: str) -> Figure:
    """The figure's name, unit and direction; a ``*_skipped`` key is the reason its figure
    is missing."""
    if key in FIGURES:
        return FIGURES[key]
    if key.endswith("_skipped"):
        base = FIGURES.get(key[: -len("_skipped")])
        name = base.name.split(":")[0] if base else key[: -len("_skipped")]
        return Figure(f"{name}: not measured, because")
    return Figure(key)
