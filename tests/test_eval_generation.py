"""melvae.evaluation.generation: the generated set's distances, floor and label proportions."""

import numpy as np
import pytest

import melvae
from melvae.evaluation.generation import generate_mels_like, generation_section


def test_a_copy_of_the_real_set_sits_at_zero_and_a_collapse_shows():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((40, 5))
    same = generation_section(real, real.copy(), np.random.default_rng(1))
    assert same["frechet"] == pytest.approx(0.0, abs=1e-9)
    assert same["diversity_ratio"] == pytest.approx(1.0)
    assert {"frechet_floor", "kernel_floor", "frechet_half", "frechet_ratio"} <= set(same)
    collapsed = generation_section(real, 0.1 * real, np.random.default_rng(1))
    assert collapsed["diversity_ratio"] == pytest.approx(0.1)
    assert collapsed["frechet_ratio"] > same["frechet_ratio"]


def test_generated_labels_follow_the_real_set(tiny_cond_run):
    model = melvae.load(tiny_cond_run, device="cpu")
    labels = ["high"] * 3 + ["low"] * 2
    mels = generate_mels_like(model, 5, labels, seed=0)
    assert mels.shape == (5, model.audio.n_mels, model.audio.segment_frames)
    # "high" (alphabetically first) is drawn first with its share, then "low".
    np.testing.assert_array_equal(mels[:3].numpy(), model.generate_mels(3, label="high", seed=0))
    np.testing.assert_array_equal(mels[3:].numpy(), model.generate_mels(2, label="low", seed=1))
