"""The sequence kind: a time-resolved VAE (seqmodel.py), its learned prior (prior.py), their
training (train_prior.py) and every inference path on a tiny trained run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

import melvae
from melvae.cli import main
from melvae.config import ModelConfig, PriorConfig
from melvae.errors import MelvaeError
from melvae.generation.latents import schedule
from melvae.models.checkpoint import load_checkpoint
from melvae.models.priors.gru import GRUPrior
from melvae.models.sequence import SeqVAE, decode_windows

from .conftest import TINY_AUDIO, TINY_CHANNELS


def _model(**kw) -> SeqVAE:
    cfg = ModelConfig(
        kind="sequence", n_mels=32, n_frames=126, channels=TINY_CHANNELS, latent_channels=4, **kw
    )
    return SeqVAE(cfg).eval()


@pytest.mark.parametrize("frames", [1, 7, 126, 333])
@pytest.mark.parametrize("rate", [2, 4, 8])
def test_any_length_encodes_and_decodes_to_its_own_shape(frames, rate):
    model = _model(rate=rate)
    mel = torch.rand(2, 32, frames)
    mu, logvar = model.encode(mel)
    assert mu.shape == logvar.shape == (2, 4, model.latent_frames(frames))
    out = model.decode(mu, frames=frames)
    assert out.shape == (2, 32, frames)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_a_segment_latent_decodes_to_a_whole_segment():
    model = _model()
    mu, _ = model.encode(torch.rand(1, 32, 126))
    assert model.decode(mu).shape == (1, 32, 126)


def test_window_decoding_equals_one_whole_decode():
    """What longform relies on: decoding in windows with context is exact."""
    torch.manual_seed(1)
    model = _model()
    z = torch.randn(1, 4, 301)
    whole = model.decode(z, frames=301 * model.rate)[0]
    parts = torch.cat(list(decode_windows(model, z, window=37)), dim=-1)
    assert parts.shape == whole.shape
    assert torch.allclose(parts, whole, atol=1e-5)


def test_window_decoding_follows_a_label_schedule_exactly():
    torch.manual_seed(2)
    model = _model(n_labels=2)
    z = torch.randn(1, 4, 90)
    emb = model.label_embedding.weight.detach()
    t = torch.linspace(0, 1, 90)[:, None]
    cond = ((1 - t) * emb[0] + t * emb[1])[None]  # (1, 90, E): one embedding per frame
    whole = model.decode(z, cond=cond, frames=90 * model.rate)[0]
    parts = torch.cat(list(decode_windows(model, z, window=25, cond=cond)), dim=-1)
    assert torch.allclose(parts, whole, atol=1e-5)


def test_conditional_decoder_takes_labels_or_a_schedule_of_embeddings():
    model = _model(n_labels=3)
    z = torch.randn(2, 4, 10)
    by_label = model.decode(z, torch.tensor([0, 2]))
    emb = model.label_embedding.weight[[0, 2]]
    assert torch.allclose(by_label, model.decode(z, cond=emb))
    per_frame = emb[:, None, :].expand(-1, 10, -1)
    assert torch.allclose(by_label, model.decode(z, cond=per_frame))
    with pytest.raises(ValueError, match="conditional"):
        model.decode(z)


def _patterned(n: int, steps: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    """Sequences a prior can learn: sinusoids with random phase, plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(steps, dtype=torch.float32)
    phase = torch.rand(n, channels, 1, generator=g) * 6.28
    freq = torch.tensor([0.3, 0.7, 1.3])[:channels, None]
    return torch.sin(freq * t + phase) + 0.05 * torch.randn(n, channels, steps, generator=g)


def test_prior_nll_falls_with_training_and_beats_an_iid_gaussian():
    torch.manual_seed(0)
    prior = GRUPrior(PriorConfig(channels=3, hidden=32, layers=1, mixtures=2))
    z = _patterned(32, 40)
    prior.set_statistics(z.transpose(1, 2).reshape(-1, 3))
    opt = torch.optim.Adam(prior.parameters(), lr=1e-2)
    first = float(prior.nll(z).detach())
    for _ in range(150):
        loss = prior.nll(z)
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = float(prior.nll(z).detach())
    # an independent Gaussian per channel with the data's own mean and std:
    iid = float(0.5 * np.log(2 * np.pi * np.e) + prior.std.log().mean())
    assert last < first - 0.5
    assert last < iid - 0.5


def test_prior_samples_are_seeded_and_temperature_zero_is_deterministic():
    prior = GRUPrior(PriorConfig(channels=3, hidden=16, layers=1, n_labels=2)).eval()
    labels = torch.tensor([0, 1])
    a = prior.sample(2, 12, seed=5, labels=labels)
    assert a.shape == (2, 3, 12) and torch.isfinite(a).all()
    assert torch.equal(a, prior.sample(2, 12, seed=5, labels=labels))
    assert not torch.equal(a, prior.sample(2, 12, seed=6, labels=labels))
    cold = prior.sample(2, 12, temperature=0.0, seed=1, labels=labels)
    assert torch.equal(cold, prior.sample(2, 12, temperature=0.0, seed=2, labels=labels))


def test_warm_state_continues_a_given_start():
    prior = GRUPrior(PriorConfig(channels=3, hidden=16, layers=1)).eval()
    start = _patterned(1, 20)
    state = prior.warm(start)
    assert torch.allclose(state.last, prior._norm(start[:, :, -1]))
    frames = list(prior.stream(state, 5))
    assert len(frames) == 5 and frames[0].shape == (1, 3)


def test_schedule_moves_linearly_through_its_values():
    path = schedule([0.0, 1.0, 0.0], 5)
    assert torch.allclose(path, torch.tensor([0.0, 0.5, 1.0, 0.5, 0.0]))
    assert torch.allclose(schedule([2.0], 3), torch.full((3,), 2.0))


# -- a trained run ------------------------------------------------------------------------------


def test_training_writes_a_prior_into_best_checkpoint(tiny_seq_run):
    ckpt = load_checkpoint(tiny_seq_run)
    assert ckpt.model.cfg.kind == "sequence"
    assert ckpt.prior is not None and ckpt.prior.cfg.n_labels == 2
    assert ckpt.info["prior_epochs"] >= 1
    assert np.isfinite(ckpt.info["prior_train_nll"])
    config = json.loads((tiny_seq_run / "config.json").read_text())
    assert config["model"]["kind"] == "sequence"
    assert config["train"]["beta"] == pytest.approx(0.01)  # the kind's default, recorded


def test_api_on_a_sequence_model(tiny_seq_run, tiny_data):
    model = melvae.load(tiny_seq_run, device="cpu")
    assert model.kind == "sequence" and model.latent_dim == 4
    audio, sr = model.generate(2, seed=0)
    assert audio.shape == (2, TINY_AUDIO.segment_samples) and np.isfinite(audio).all()
    again, _ = model.generate(2, seed=0)
    assert np.array_equal(audio, again)
    labelled, _ = model.generate(1, label="high", seed=0)
    assert labelled.shape == (1, TINY_AUDIO.segment_samples)
    clip = np.sin(2 * np.pi * 220 * np.arange(24000) / 8000).astype(np.float32)
    z = model.encode(clip, sr=8000)
    assert z.shape == (3, 4, 32)
    assert model.decode(z).shape == (3, 32, 126)
    clips, joined, _ = model.interpolate("low", "high", steps=3)
    assert clips.shape == (3, TINY_AUDIO.segment_samples)
    morph = model.interpolate_mels(clip, z[0], steps=4, sr=8000)
    assert morph.shape == (4, 32, 126)
    # the path's ends are the two endpoints' own decodes
    assert np.allclose(morph[-1], model.decode(z[:1])[0], atol=1e-5)


def test_sequence_longform_is_exact_with_no_joins(tiny_seq_run, tmp_path):
    model = melvae.load(tiny_seq_run, device="cpu")
    clip = np.sin(2 * np.pi * 330 * np.arange(16000) / 8000).astype(np.float32)
    track, sr, info = model.longform(9.7, start=clip, start_sr=8000, seed=3)
    assert track.shape == (round(9.7 * sr),) and np.isfinite(track).all()
    assert info["joins"] == [] and info["kind"] == "sequence"
    assert info["start_seconds"] > 0
    again, _, _ = model.longform(9.7, start=clip, start_sr=8000, seed=3)
    assert np.array_equal(track, again)
    steered, _, _ = model.longform(6.0, labels=["low", "high"], temperature=[1.0, 0.5])
    assert steered.shape == (round(6.0 * sr),)
    with pytest.raises(MelvaeError, match="unknown label"):
        model.longform(3.0, labels=["jazz"])


def test_cli_trains_and_uses_a_sequence_model(tiny_data, tmp_path):
    run = tmp_path / "run"
    code = main(
        [
            "train", str(tiny_data), "-o", str(run), "--kind", "sequence", "--epochs", "2",
            "--latent-channels", "3", "--latent-rate", "2", "--channels", "4,8,8",
            "--batch-size", "8", "--quiet", "--device", "cpu",
        ]
    )  # fmt: skip
    assert code == 0
    assert load_checkpoint(run).prior is not None
    assert (
        main(["generate", str(run), "-n", "2", "-o", str(tmp_path / "gen"), "--device", "cpu"]) == 0
    )
    assert len(list((tmp_path / "gen").glob("*.wav"))) == 2
    out = tmp_path / "track.wav"
    assert main(["longform", str(run), "--seconds", "4", "-o", str(out), "--labels", "low,high",
                 "--temperature", "1,0.7", "--quiet", "--device", "cpu"]) == 0  # fmt: skip
    wave, sr = sf.read(out)
    assert len(wave) == 4 * sr
    assert json.loads(out.with_suffix(".json").read_text())["joins"] == []


def test_a_short_start_is_not_padded_with_silence(tiny_seq_run):
    from melvae.generation.core import Core
    from melvae.kinds.sequence import SequenceKind

    model = melvae.load(tiny_seq_run, device="cpu")
    kind = SequenceKind(model.core)
    clip = np.sin(2 * np.pi * 330 * np.arange(4000) / 8000).astype(np.float32)  # 0.5 s
    mel, wave = kind.start_mel(clip, 8000)
    z0, _ = kind.encode_start(mel, None)
    assert wave is not None and len(wave) == 4000
    frames = 4000 // TINY_AUDIO.hop_length + 1
    net = model.core.network
    assert isinstance(model.core, Core)
    assert z0.shape == (4, net.latent_frames(frames))
    assert z0.shape[-1] < net.latent_frames(TINY_AUDIO.segment_frames)


def test_prior_windows_cover_each_track_to_its_end():
    from melvae.training.prior import TrackSequence, _Windows

    seq = TrackSequence(torch.arange(3 * 100, dtype=torch.float32).reshape(3, 100), 0)
    items = _Windows([seq], window=32).items
    covered = torch.zeros(100, dtype=torch.bool)
    for z, _, clock in items:
        covered[z[0].long()] = True  # channel 0 holds the frame index
        assert clock.shape == (32, 2) and torch.isnan(clock).all()  # no beats: no clock
    assert covered.all()
    assert all(z.shape == (3, 32) for z, _, _ in items)
