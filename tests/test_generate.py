import numpy as np
import pytest
import torch

from melvae.generation.latents import crossfade_concat, sample_latents, slerp


def test_slerp_endpoints_and_norms():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, generator=gen), torch.randn(16, generator=gen) * 2
    t = torch.linspace(0, 1, 9)
    path = slerp(a, b, t)
    assert path.shape == (9, 16)
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)
    # Norm moves linearly between the endpoints' norms (no dip towards the origin)...
    expected = (1 - t) * a.norm() + t * b.norm()
    assert torch.allclose(path.norm(dim=1), expected, atol=1e-4)
    # ...while the straight line between them dips.
    line = (1 - t[:, None]) * a + t[:, None] * b
    assert line.norm(dim=1)[4] < path.norm(dim=1)[4] - 0.1
    # Equal angular steps: consecutive directions are equally far apart.
    dirs = path / path.norm(dim=1, keepdim=True)
    cos = (dirs[1:] * dirs[:-1]).sum(1)
    assert torch.allclose(cos, cos[0].expand_as(cos), atol=1e-4)


def test_slerp_degenerate_inputs():
    a = torch.ones(4)
    assert torch.allclose(slerp(a, a * 3, torch.tensor([0.5]))[0], a * 2)
    assert torch.allclose(slerp(torch.zeros(4), a, torch.tensor([0.5]))[0], a * 0.5)


def test_sample_latents_seeded():
    a, b = sample_latents(4, 8, seed=1), sample_latents(4, 8, seed=1)
    assert a.shape == (4, 8) and torch.equal(a, b)
    assert not torch.equal(a, sample_latents(4, 8, seed=2))
    center = torch.full((8,), 5.0)
    near = sample_latents(200, 8, temperature=0.1, seed=0, center=center)
    assert (near - 5.0).abs().max() < 1.0
    assert torch.equal(sample_latents(3, 8, temperature=0.0, seed=0), torch.zeros(3, 8))
    with pytest.raises(ValueError):
        sample_latents(0, 8)


def test_crossfade_concat_length_and_power():
    sr = 1000
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(3 * sr).astype(np.float32) for _ in range(4)]
    out = crossfade_concat(clips, fade_samples=sr // 2)
    assert out.shape == (4 * 3 * sr - 3 * (sr // 2),)
    # Equal-power fades keep the level of uncorrelated clips steady across the joins.
    fade_rms = np.sqrt(np.mean(out[3 * sr - sr // 2 : 3 * sr] ** 2))
    assert fade_rms == pytest.approx(1.0, abs=0.12)
