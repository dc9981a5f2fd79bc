"""Shared fixtures: small seeded synthetic audio, a tiny dataset and a tiny trained run.

Everything is made in the test session (tmp folders), at a small audio configuration so the
whole suite stays fast on 2 CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from melvae.config import AudioConfig, TrainConfig

# 1 s segments of 32 mel bands at 8 kHz: 126 frames. Small enough for CPU tests.
TINY_AUDIO = AudioConfig(
    sample_rate=8000, n_fft=256, hop_length=64, n_mels=32, segment_samples=8000
)
TINY_CHANNELS = (4, 8, 16)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)


def tone_track(
    seconds: float, sample_rate: int, base_hz: float, rng: np.random.Generator, bpm: float = 120.0
) -> np.ndarray:
    """A little piece of music: a decaying pluck on every beat over a soft chord and noise."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    beat = 60.0 / bpm
    phase = np.mod(t, beat)
    pluck = np.sin(2 * np.pi * base_hz * 2 * t) * np.exp(-phase * 12)
    chord = sum(0.2 * np.sin(2 * np.pi * base_hz * r * t) for r in (1.0, 1.25, 1.5))
    wave = pluck + chord + 0.02 * rng.standard_normal(len(t))
    return (0.8 * wave / np.max(np.abs(wave))).astype(np.float32)


def write_music_folder(
    root: Path,
    rng: np.random.Generator,
    sample_rate: int = 8000,
    genres=("low", "high"),
    tracks: int = 3,
    seconds: float = 4.0,
) -> Path:
    """root/<genre>/t<i>.wav, a genre/track layout whose folder names are the labels."""
    bases = {"low": 110.0, "high": 440.0, "mid": 220.0}
    for genre in genres:
        (root / genre).mkdir(parents=True, exist_ok=True)
        for i in range(tracks):
            wave = tone_track(seconds, sample_rate, bases.get(genre, 330.0) * (1 + 0.05 * i), rng)
            sf.write(root / genre / f"t{i}.wav", wave, sample_rate)
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A preprocessed dataset: 2 labels x 3 tracks x 4 s, 1 s segments with 0.5 s hop."""
    from melvae.data.preprocess import preprocess

    root = tmp_path_factory.mktemp("tiny")
    audio = write_music_folder(root / "audio", np.random.default_rng(7))
    preprocess(audio, root / "data", TINY_AUDIO, hop_seconds=0.5, workers=1, progress=False)
    return root / "data"


def _tiny_train(tiny_data, tmp_path_factory, name: str, kind: str, **settings) -> Path:
    """A run trained a few epochs on tiny_data: vector latent 4, or sequence 4 channels."""
    from melvae.training.train import train

    run = tmp_path_factory.mktemp(name) / "run"
    cfg = TrainConfig(
        epochs=4, batch_size=8, kl_warmup_epochs=2, val_fraction=0.34, seed=0, **settings
    )
    size = {"latent_dim": 4} if kind == "vector" else {"latent_channels": 4}
    train(
        tiny_data,
        run,
        cfg,
        kind=kind,
        channels=TINY_CHANNELS,
        device="cpu",
        progress=False,
        **size,
    )
    return run


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory) -> Path:
    """A run folder trained for a few epochs on tiny_data (unconditional, latent 4)."""
    return _tiny_train(tiny_data, tmp_path_factory, "run", "vector")


@pytest.fixture(scope="session")
def tiny_seq_run(tiny_data, tmp_path_factory) -> Path:
    """A sequence-kind run on tiny_data: autoencoder (4 channels every 4 frames) and prior."""
    return _tiny_train(
        tiny_data, tmp_path_factory, "seqrun", "sequence", prior_epochs=4, prior="gru"
    )


@pytest.fixture(scope="session")
def tiny_cond_run(tiny_data, tmp_path_factory) -> Path:
    """tiny_run's settings, trained as a conditional VAE on tiny_data's labels."""
    return _tiny_train(tiny_data, tmp_path_factory, "condrun", "vector", conditional=True)


@pytest.fixture(scope="session")
def tiny_cond_seq_run(tiny_data, tmp_path_factory) -> Path:
    """tiny_seq_run's settings, trained conditional: decoder, encoder and prior take labels."""
    return _tiny_train(
        tiny_data, tmp_path_factory, "condseqrun", "sequence", prior_epochs=4, conditional=True
    )


@pytest.fixture(scope="session")
def tiny_beat_run(tiny_data, tmp_path_factory) -> Path:
    """tiny_seq_run's settings with the default, clocked prior ("beat"), on tiny_data's beats."""
    return _tiny_train(tiny_data, tmp_path_factory, "beatrun", "sequence", prior_epochs=4)
