"""melvae.evaluation.metrics: reconstruction figures and distances between sets of embeddings."""

import numpy as np
import pytest
import torch

from melvae.evaluation.metrics import (
    diversity,
    frechet_distance,
    kernel_distance,
    knn_label_accuracy,
    log_spectral_distance_db,
    nearest_neighbour_distance,
    spectral_convergence_db,
    standardize,
    temporal_detail,
)


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


def test_temporal_detail_known_values():
    rng = np.random.default_rng(0)
    original = rng.uniform(0.0, 1.0, (3, 8, 50))
    smear = np.broadcast_to(original.mean(-1, keepdims=True), original.shape).copy()
    np.testing.assert_allclose(temporal_detail(original, original), 1.0)
    np.testing.assert_allclose(temporal_detail(smear, original), 0.0, atol=1e-12)
    # Halfway between smear and original: a quarter of the smear's squared error.
    np.testing.assert_allclose(temporal_detail((original + smear) / 2, original), 0.75)
    # Mirrored about the band means: twice the smear's deviation, four times its error.
    np.testing.assert_allclose(temporal_detail(2 * smear - original, original), -3.0)
    # Torch input, one segment at a time, and extra frames cropped away.
    both = temporal_detail(torch.from_numpy(smear[:1]), torch.from_numpy(original[:1]))
    assert both.shape == (1,) and both[0] == pytest.approx(0.0, abs=1e-12)
    longer = np.concatenate([original, original[..., :5]], axis=-1)
    np.testing.assert_allclose(temporal_detail(longer, original), 1.0)
    # A constant segment has no time detail: NaN for it alone.
    flat = original.copy()
    flat[1] = 0.3
    out = temporal_detail(original + 0.01, flat)
    assert np.isnan(out[1]) and np.isfinite(out[[0, 2]]).all()
    with pytest.raises(ValueError):
        temporal_detail(original[:, :4], original)


# -- distances between sets --------------------------------------------------------------------


def test_frechet_distance_known_answers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 6))
    y = rng.standard_normal((400, 6))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    same = frechet_distance(x, y)
    shifted = frechet_distance(x, y + 1.0)
    scaled = frechet_distance(x, 2.0 * y)
    assert same < 0.3
    assert shifted > 5.0 > same  # ||mu||^2 adds 6 x 1^2
    assert shifted == pytest.approx(same + 6.0, abs=0.5)
    assert scaled > 1.0 > same  # Tr term: 6 x (1 - 2)^2 = 6
    # Unstandardized, on the raw scale, a pure shift gives exactly ||mu_x - mu_y||^2.
    assert frechet_distance(x, x + 3.0, standardized=False) == pytest.approx(6 * 9.0)


def test_frechet_distance_standardizes_with_the_reference_set():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 3)) * np.array([1.0, 100.0, 0.01])
    y = x + x.std(0)  # one reference std in every feature, whatever its scale
    assert frechet_distance(x, y) == pytest.approx(3.0, rel=1e-6)
    # A constant feature is only centred, not divided by a zero std.
    const = np.hstack([x, np.ones((300, 1))])
    assert np.all(np.isfinite(standardize(const, const)))
    moved = const.copy()
    moved[:, 3] += 0.5
    assert frechet_distance(const, moved) == pytest.approx(0.25, rel=1e-6)


def test_kernel_distance_known_answers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 8))
    y = rng.standard_normal((200, 8))
    same = kernel_distance(x, y)
    assert abs(same) < 0.05  # unbiased: scatters around 0 for one distribution
    assert kernel_distance(x, y + 1.0) > 10 * max(abs(same), 0.01)
    assert kernel_distance(x, 1.5 * y) > kernel_distance(x, 1.1 * y) > same
    with pytest.raises(ValueError):
        kernel_distance(x[:1], y)


def test_knn_label_accuracy_separated_and_shuffled():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], 60)
    centres = {"a": 0.0, "b": 10.0, "c": 20.0}
    z = rng.standard_normal((180, 4)) + np.array([centres[lab] for lab in labels])[:, None]
    assert knn_label_accuracy(z, labels, k=5) == 1.0
    shuffled = rng.permutation(labels)
    acc = knn_label_accuracy(z, shuffled, k=5)
    assert abs(acc - 1 / 3) < 0.15  # chance is 1/3
    # Groups: an item's own group cannot vote. Four tracks, each a tight cluster; the nearest
    # other track always has the other label, so only same-track neighbours were right.
    centre = {"a1": 0.0, "b1": 1.0, "a2": 10.0, "b2": 11.0}
    tracks = np.repeat(list(centre), 10)
    z = np.array([centre[t] for t in tracks])[:, None] + 0.01 * rng.standard_normal((40, 1))
    track_labels = [t[0] for t in tracks]
    assert knn_label_accuracy(z, track_labels, k=1) == 1.0
    assert knn_label_accuracy(z, track_labels, k=1, groups=tracks) == 0.0


def test_diversity_and_nearest_neighbour_known_values():
    line = np.array([[0.0], [1.0], [2.0]])
    assert diversity(line) == pytest.approx(4.0 / 3.0)  # (1 + 2 + 1) / 3
    assert diversity(np.zeros((5, 3))) == 0.0
    train = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]])
    gen = np.array([[0.0, 0.0], [3.0, 0.0]])
    np.testing.assert_allclose(nearest_neighbour_distance(gen, train), [0.0, 3.0])
    ids = np.arange(3)
    np.testing.assert_allclose(
        nearest_neighbour_distance(train, train, ids, ids), [5.0, 5.0, np.sqrt(65.0)], rtol=1e-4
    )
    with pytest.raises(ValueError):
        nearest_neighbour_distance(gen, train, ids[:2])
