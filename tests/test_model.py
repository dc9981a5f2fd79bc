import pytest
import torch

from melvae.config import ModelConfig
from melvae.models.vector import MelVAE, active_units, kl_divergence, vae_loss

from .conftest import TINY_CHANNELS


@pytest.mark.parametrize("n_mels,n_frames", [(32, 126), (32, 64), (40, 431), (128, 431)])
def test_shapes_for_any_segment_length(n_mels, n_frames):
    model = MelVAE(
        ModelConfig(n_mels=n_mels, n_frames=n_frames, latent_dim=3, channels=TINY_CHANNELS)
    )
    mel = torch.rand(2, n_mels, n_frames)
    recon, mu, logvar = model(mel)
    assert recon.shape == mel.shape
    assert mu.shape == logvar.shape == (2, 3)
    assert recon.min() >= 0 and recon.max() <= 1
    assert model.decode(torch.randn(5, 3)).shape == (5, n_mels, n_frames)


def test_default_model_is_modest():
    # The reference design held 64 M weights, 56 M of them in one dense layer.
    assert sum(p.numel() for p in MelVAE(ModelConfig()).parameters()) < 6_000_000


def test_conditional_model_needs_and_uses_labels():
    model = MelVAE(
        ModelConfig(n_mels=32, n_frames=64, latent_dim=4, channels=TINY_CHANNELS, n_labels=3)
    ).eval()
    z = torch.randn(2, 4)
    with pytest.raises(ValueError, match="conditional"):
        model.decode(z)
    a = model.decode(z, torch.tensor([0, 0]))
    b = model.decode(z, torch.tensor([2, 2]))
    assert not torch.allclose(a, b)
    emb = model.label_embedding.weight[[0, 0]]
    assert torch.allclose(model.decode(z, cond=emb), a)


def test_kl_matches_torch_distributions():
    mu, logvar = torch.randn(4, 6), torch.randn(4, 6)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    assert torch.allclose(
        kl_divergence(mu, logvar), torch.distributions.kl_divergence(q, p), atol=1e-5
    )


def test_loss_terms_are_sums_not_means():
    target = torch.zeros(2, 4, 5)
    recon = torch.full_like(target, 0.5)
    mu, logvar = torch.zeros(2, 3), torch.zeros(2, 3)
    terms = vae_loss(recon, target, mu + 1.0, logvar, beta=2.0)
    assert terms.recon.item() == pytest.approx(0.25 * 20)  # summed over 4 x 5 pixels
    assert terms.kl.item() == pytest.approx(3 * 0.5)  # summed over 3 dims, 1/2 mu^2 each
    assert terms.total.item() == pytest.approx(5.0 + 2.0 * 1.5)
    free = vae_loss(recon, target, mu, logvar, beta=1.0, free_bits=0.5)
    assert free.total.item() == pytest.approx(5.0 + 3 * 0.5)  # KL 0 is lifted to the floor


def test_loss_falls_on_a_tiny_dataset():
    torch.manual_seed(0)
    model = MelVAE(ModelConfig(n_mels=32, n_frames=64, latent_dim=4, channels=TINY_CHANNELS))
    data = torch.rand(8, 1, 1) * torch.linspace(0, 1, 32)[None, :, None].expand(8, 32, 64)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        recon, mu, logvar = model(data)
        loss = vae_loss(recon, data, mu, logvar, beta=0.1).total
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_active_units():
    mu = torch.zeros(100, 4)
    mu[:, 1] = torch.randn(100)
    assert active_units(mu) == 1
