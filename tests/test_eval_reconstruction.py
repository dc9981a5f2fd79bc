"""melvae.evaluation.reconstruction: the model interface it reads, its seeded batched inversion and
a latent section that reads either model kind alike."""

import numpy as np
import pytest
import torch

import melvae
from melvae.audio.inversion import mel_to_magnitude
from melvae.data.dataset import MelDataset
from melvae.evaluation.reconstruction import invert, latent_section, reconstruct
from melvae.models.vector import kl_divergence


@pytest.fixture(scope="module")
def held_out(tiny_data):
    """Six stored mels (6, n_mels, frames) of tiny_data and their labels and tracks."""
    data = MelDataset(tiny_data)
    idx = list(range(0, len(data), max(1, len(data) // 6)))[:6]
    mels = torch.from_numpy(np.stack([np.asarray(data.mels[i], np.float32) for i in idx]))
    labels = [data.segments[i].label for i in idx]
    tracks = [data.segments[i].source for i in idx]
    return mels, labels, tracks


def test_interface_posterior_and_magnitude(tiny_run, held_out):
    model = melvae.load(tiny_run, device="cpu")
    mels = held_out[0]
    mu, logvar = model.encode_posterior(mels)
    np.testing.assert_array_equal(mu, model.encode_mel(mels))
    assert logvar.shape == mu.shape == (len(mels), model.latent_dim)
    mag = model.mel_to_magnitude(mels)
    assert mag.dtype == np.float32 and mag.shape == (len(mels), model.audio.n_freqs, mels.shape[-1])
    np.testing.assert_allclose(mag, mel_to_magnitude(mels, model.audio).numpy(), rtol=1e-5)


def test_invert_is_batched_and_seeded_per_batch(tiny_run, held_out):
    model = melvae.load(tiny_run, device="cpu", n_iter=2)
    mels = held_out[0][:5]
    audio = invert(model, mels, seed=3, batch_size=2)
    assert audio.shape == (5, model.audio.segment_samples)
    np.testing.assert_array_equal(audio, invert(model, mels, seed=3, batch_size=2))
    # Batch k is the interface's own inversion of those mels, seeded seed + k.
    np.testing.assert_array_equal(audio[2:4], model.mel_to_audio(mels[2:4], seed=4))


@pytest.mark.parametrize("run_fixture", ["tiny_run", "tiny_seq_run"])
def test_latent_section_reads_either_kind(run_fixture, held_out, request):
    model = melvae.load(request.getfixturevalue(run_fixture), device="cpu")
    mels, labels, tracks = held_out
    recon, mu, logvar = reconstruct(model, mels, labels)
    assert recon.shape == mels.shape
    section = latent_section(model, mu, logvar, labels, tracks)
    assert section["latent_dim"] == len(section["kl_per_dim"]) == model.latent_dim == 4
    # KL per dimension (a sequence: per channel, summed over a segment's frames).
    kl = kl_divergence(mu, logvar).mean(0)
    kl = kl.sum(-1) if model.kind == "sequence" else kl
    np.testing.assert_allclose(section["kl_per_dim"], kl.numpy(), atol=1e-4)
    if model.kind == "sequence":
        assert section["latent_frames"] == model.core.network.latent_frames(mels.shape[-1]) > 1
    else:
        assert "latent_frames" not in section
    assert 0.0 <= section["knn_accuracy"] <= 1.0
