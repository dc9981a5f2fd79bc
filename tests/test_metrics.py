import numpy as np
import pytest

from melvae.metrics import (
    log_spectral_distance_db,
    magnitude,
    seam_score,
    spectral_convergence_db,
)

from .conftest import TINY_AUDIO, tone_track


def test_spectral_convergence_known_values():
    ref = np.abs(np.random.default_rng(0).standard_normal((10, 20))) + 0.1
    assert spectral_convergence_db(ref, ref) == float("-inf")
    assert spectral_convergence_db(ref, ref * 1.1) == pytest.approx(-20.0)  # 10% error: -20 dB
    assert spectral_convergence_db(ref, 0 * ref) == pytest.approx(0.0)
    worse = spectral_convergence_db(ref, ref * 1.5)
    assert worse > spectral_convergence_db(ref, ref * 1.1)


def test_log_spectral_distance_known_values():
    ref = np.ones((8, 5))
    assert log_spectral_distance_db(ref, ref) == pytest.approx(0.0, abs=1e-6)
    assert log_spectral_distance_db(ref, ref * 10) == pytest.approx(20.0, abs=1e-3)


def test_seam_score_catches_a_butt_join():
    cfg = TINY_AUDIO
    rng = np.random.default_rng(0)
    a = tone_track(4.0, cfg.sample_rate, 220.0, rng)
    b = tone_track(4.0, cfg.sample_rate, 300.0, rng) * 0.3
    # A hard cut between unrelated clips, mid-beat, with a DC step: an audible seam.
    joined = np.concatenate([a[: int(2.77 * cfg.sample_rate)], b + 0.3])
    seamless = tone_track(8.0, cfg.sample_rate, 220.0, rng)
    bad = seam_score(joined, cfg, [2.77])
    good = seam_score(seamless, cfg, [2.77])
    assert bad > 2.0 * good
    with pytest.raises(ValueError):
        seam_score(seamless, cfg, [100.0])


def test_magnitude_shape():
    cfg = TINY_AUDIO
    mag = magnitude(np.zeros(cfg.segment_samples, np.float32), cfg)
    assert mag.shape == (cfg.n_freqs, cfg.segment_frames)
