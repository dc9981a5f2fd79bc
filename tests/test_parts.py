"""Parts that plug in: a model kind, a prior and a mel-to-audio stage, each registered by name.

A toy third kind (a spectrum per segment: each mel band's mean), a toy prior (a seeded random
walk) and a toy inverter (one sine per mel band) are declared here, in the test only, and run
through generate, interpolate, longform and reconstruct by the CLI: no file of the package
knows them.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

import melvae
from melvae import registry
from melvae.audio.inverters import Inverter, InverterStream, build_inverter
from melvae.cli import main
from melvae.config import ModelConfig, PriorConfig, TrainConfig
from melvae.errors import MelvaeError
from melvae.generation.inputs import check_endpoint, clip_latent, is_label
from melvae.generation.joins import track_length
from melvae.kinds.base import Endpoint, Kind, TrackHead
from melvae.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from melvae.models.integrity import seal
from melvae.models.priors.base import Prior
from melvae.models.vae_base import VAEBase

from .conftest import TINY_AUDIO, tone_track

PACKAGE = Path(melvae.__file__).parent


# -- the toy parts ------------------------------------------------------------------------------
class SpectrumNet(VAEBase):
    """Latent: the mel spectrum (each band's mean over time); decoded as that spectrum held."""

    latent_rate = None

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg, self.label_embedding = cfg, None
        self.gain = nn.Parameter(torch.ones(1))  # one weight, so it is a model with a state

    def encode(self, mel, labels=None):
        mu = mel.mean(-1) * self.gain
        return mu, torch.full_like(mu, -8.0)

    def decode(self, z, labels=None, cond=None, frames=None):
        return z.clamp(0, 1)[:, :, None].expand(-1, -1, frames or self.cfg.n_frames)

    def pool(self, mu):
        return mu

    def positions(self, mu):
        return mu


class WalkPrior(Prior):
    """A seeded random walk around the training data's mean spectrum (nothing to fit)."""

    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.cfg, self.label_embedding = cfg, None
        self.register_buffer("mean", torch.full((cfg.channels,), 0.5))

    def set_statistics(self, z):
        self.mean.copy_(z.mean(0))

    def nll(self, z, labels=None, cond=None):
        return (z - self.mean[None, :, None]).square().mean()

    def start(self, batch):
        return self.mean.expand(batch, -1).clone()

    def warm(self, z, labels=None, cond=None):
        return z[:, :, -1].clone()

    def step(self, state, cond, clock, temperature, generator):
        state += 0.02 * temperature * torch.randn(state.shape, generator=generator)
        return state.clamp_(0, 1).clone()


class SineInverter(Inverter):
    """One sine per mel band at a fixed pitch, each frame's level its mel value."""

    name = "sines"

    def __init__(self, audio, device="cpu", level: float = 0.1):
        super().__init__(audio, device, level=level)
        self.freqs = 110.0 * 2 ** (np.arange(audio.n_mels) / 6)

    def _render(self, levels: np.ndarray, start: int, n: int) -> np.ndarray:
        t = (start + np.arange(n)) / self.audio.sample_rate
        frames = np.minimum(np.arange(n) // self.audio.hop_length, levels.shape[-1] - 1)
        waves = np.sin(2 * np.pi * self.freqs[:, None] * t[None])
        return (self.options["level"] * (levels[:, frames] * waves).mean(0)).astype(np.float32)

    def invert(self, mel, seed=0, length=None):
        mel = np.asarray(mel.cpu() if torch.is_tensor(mel) else mel, dtype=np.float32)
        n = length or (mel.shape[-1] - 1) * self.audio.hop_length
        flat = mel.reshape(-1, *mel.shape[-2:])
        out = np.stack([self._render(m, 0, n) for m in flat])
        return out.reshape(*mel.shape[:-2], n)

    def stream(self, total_samples, seed=0):
        owner = self

        class _Stream(InverterStream):
            done = 0

            def push(self, mel_power):
                levels = mel_power.clamp(min=0).sqrt().cpu().numpy()
                n = min(levels.shape[-1] * owner.audio.hop_length, total_samples - self.done)
                if n > 0:
                    yield owner._render(levels, self.done, n)
                    self.done += n

            def finish(self):
                if self.done < total_samples:
                    yield np.zeros(total_samples - self.done, dtype=np.float32)

        return _Stream()


class SpectrumKind(Kind):
    """Samples spectra from the prior; a long track is the prior's walk, a frame per hop."""

    def as_batch(self, z):
        return z.reshape(-1, self.latent_dim)

    def sample(self, n, label, temperature, seed, bpm=None):
        prior = self.core.need_prior()
        return prior.sample(n, 1, temperature, seed)[..., 0].to(self.core.device), None

    def endpoint(self, spec, sr, seed, label):
        if is_label(self.core, spec):
            raise MelvaeError("the spectrum kind knows no labels")
        check_endpoint(self.core, spec)
        z, _ = clip_latent(self.core, spec, sr, None)
        return Endpoint(torch.from_numpy(z), None, "audio")

    def interpolate(self, a, b, steps, sr, seed, label_a, label_b, bpm=None):
        za, zb = self.endpoint(a, sr, seed, None).z, self.endpoint(b, sr, seed, None).z
        w = torch.linspace(0, 1, steps)[:, None]
        return self.core.decode((1 - w) * za + w * zb)

    def longform(self, request):
        core = self.core
        total, frames = track_length(request.seconds, core.audio)
        plan = _Plan(list(range(0, frames, 64)), total)
        yield TrackHead(plan, [], "block")
        stream = core.inverter.stream(total, request.seed)
        gen = torch.Generator().manual_seed(request.seed)
        walk = core.need_prior().stream(core.prior.start(1), frames, 1.0, generator=gen)
        for i, first in enumerate(plan.positions):
            n = min(64, frames - first)
            spectra = torch.stack([next(walk)[0] for _ in range(n)], dim=-1)  # (n_mels, n)
            yield from stream.push(spectra.square())
            yield {"index": i}
        yield from stream.finish()


class _Plan:
    def __init__(self, positions, total):
        self.positions, self.total_samples = positions, total

    def describe(self, records, audio):
        return {"blocks": len(records), "segments": [], "joins": []}


@pytest.fixture
def toy_parts():
    """The three toy parts, registered for one test and removed after it."""
    registry.KINDS.register(
        "spectrum", registry.KindSpec(SpectrumNet, SpectrumKind, latent_field="latent_dim")
    )
    registry.PRIORS.register("walk", registry.PriorSpec(WalkPrior))
    registry.INVERTERS.register("sines", registry.InverterSpec(SineInverter, {"level": 0.1}))
    yield
    registry.KINDS.unregister("spectrum")
    registry.PRIORS.unregister("walk")
    registry.INVERTERS.unregister("sines")


def _toy_run(root: Path) -> Path:
    cfg = ModelConfig(n_mels=32, n_frames=TINY_AUDIO.segment_frames, latent_dim=32, kind="spectrum")
    prior = WalkPrior(PriorConfig(kind="walk", channels=32))
    run = root / "run"
    save_checkpoint(run / "best.pt", Checkpoint(SpectrumNet(cfg), TINY_AUDIO, [], prior=prior))
    return run


def test_a_toy_kind_prior_and_inverter_run_through_the_cli(toy_parts, tmp_path, rng):
    run = _toy_run(tmp_path)
    ckpt = load_checkpoint(run)
    assert isinstance(ckpt.model, SpectrumNet) and isinstance(ckpt.prior, WalkPrior)
    clip = tmp_path / "clip.wav"
    sf.write(clip, tone_track(2.0, 8000, 220.0, rng), 8000)
    other = tmp_path / "other.wav"
    sf.write(other, tone_track(2.0, 8000, 440.0, rng), 8000)
    common = ["--device", "cpu", "--inverter", "sines"]
    assert main(["generate", str(run), "-n", "3", "-o", str(tmp_path / "gen"), *common]) == 0
    waves = [sf.read(p)[0] for p in sorted((tmp_path / "gen").glob("*.wav"))]
    assert len(waves) == 3 and all(len(w) == TINY_AUDIO.segment_samples for w in waves)
    assert all(np.isfinite(w).all() and np.abs(w).max() > 1e-3 for w in waves)
    assert not np.allclose(waves[0], waves[1])  # the prior's draws differ
    out = tmp_path / "interp"
    args = ["interpolate", str(run), str(clip), str(other), "--steps", "3", "-o", str(out)]
    assert main([*args, *common]) == 0
    assert len(list(out.glob("step_*.wav"))) == 3 and (out / "interpolation.wav").is_file()
    track = tmp_path / "long.wav"
    args = ["longform", str(run), "--seconds", "3.5", "-o", str(track), "--quiet"]
    assert main([*args, *common]) == 0
    wave, sr = sf.read(track)
    assert len(wave) == round(3.5 * sr) and np.isfinite(wave).all()
    info = json.loads(track.with_suffix(".json").read_text())
    assert info["kind"] == "spectrum" and info["inverter"] == {"name": "sines", "level": 0.1}
    assert info["blocks"] == len(range(0, track_length(3.5, TINY_AUDIO)[1], 64))
    rec = tmp_path / "rec"
    assert main(["reconstruct", str(run), str(clip), "-o", str(rec), "-n", "1", *common]) == 0
    assert (rec / "00_reconstruction.wav").is_file()


def test_the_toy_inverter_is_what_the_model_inverts_with(toy_parts, tmp_path):
    model = melvae.load(_toy_run(tmp_path), device="cpu", inverter="sines", level=0.2)
    assert model.inverter.describe() == {"name": "sines", "level": 0.2}
    mel = np.full((2, 32, TINY_AUDIO.segment_frames), 0.5, dtype=np.float32)
    expected = SineInverter(TINY_AUDIO, level=0.2).invert(mel, length=TINY_AUDIO.segment_samples)
    np.testing.assert_array_equal(model.mel_to_audio(mel), expected)


# -- unknown names ------------------------------------------------------------------------------
def test_unknown_parts_are_one_clear_error(tmp_path, tiny_run, capsys):
    with pytest.raises(MelvaeError, match="unknown model kind 'toy': known are sequence, vector"):
        ModelConfig(kind="toy")
    with pytest.raises(MelvaeError, match="unknown prior 'nope'"):
        PriorConfig(kind="nope")
    with pytest.raises(MelvaeError, match="unknown prior 'nope'"):
        TrainConfig(prior="nope")
    with pytest.raises(MelvaeError, match="unknown mel-to-audio stage 'hifi'"):
        build_inverter(TINY_AUDIO, name="hifi")
    with pytest.raises(MelvaeError, match="takes no option n_fft"):
        build_inverter(TINY_AUDIO, n_fft=512)
    # A checkpoint of a kind this melvae does not know: one line naming the kind.
    payload = torch.load(tiny_run / "best.pt", weights_only=True)
    payload["model"]["kind"] = "toy"
    torch.save(seal(payload), tmp_path / "foreign.pt")  # whole, with its checksum
    assert main(["generate", str(tmp_path / "foreign.pt"), "-o", str(tmp_path / "g")]) == 2
    assert "unknown model kind 'toy'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: an invalid choice
        main(["train", str(tmp_path), "-o", str(tmp_path / "r"), "--kind", "toy"])


def test_old_prior_configs_rebuild_the_gru():
    assert PriorConfig.from_dict({"channels": 4}).kind == "gru"


def test_built_in_parts_live_in_their_layers():
    for name in registry.KINDS:
        spec = registry.KINDS.get(name)
        assert spec.network.startswith("melvae.models."), name
        assert spec.inference.startswith("melvae.kinds."), name
        assert issubclass(registry.resolve(spec.inference), Kind)
        assert issubclass(registry.resolve(spec.network), nn.Module)
    for name in registry.PRIORS:
        assert issubclass(registry.resolve(registry.PRIORS.get(name).cls), Prior)
    for name in registry.INVERTERS:
        assert issubclass(registry.resolve(registry.INVERTERS.get(name).cls), Inverter)


# -- the code ----------------------------------------------------------------------------------
def _sources():
    return {p: ast.parse(p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))}


def test_no_module_compares_a_part_name():
    names = set(registry.KINDS) | set(registry.PRIORS) | set(registry.INVERTERS)
    found = []
    for path, tree in _sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                if any(isinstance(s, ast.Constant) and s.value in names for s in sides):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, found


def test_no_module_reaches_into_another_objects_private_members():
    found = []
    for path, tree in _sources().items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__") or ast.unparse(node.value) in ("self", "cls"):
                continue
            if ast.unparse(node.value) == "argparse":  # argparse's own subparsers type
                continue
            found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node)}")
    assert not found, found


def test_built_in_parts_use_the_configured_defaults():
    from melvae import config

    assert registry.KINDS.get("sequence").defaults["channels"] == config.SEQUENCE_CHANNELS
    assert registry.KINDS.get(config.DEFAULT_KIND) is not None
    assert config.DEFAULT_PRIOR in registry.PRIORS
    spec = registry.INVERTERS.get(config.DEFAULT_INVERTER)
    assert spec.options["n_iter"] == config.DEFAULT_ITERATIONS
