"""The demo, end to end at tiny settings: every step runs and leaves what it promises."""

import json

import numpy as np
import soundfile as sf

from melvae.config import AudioConfig
from melvae.demo import run_demo


def test_demo_runs_end_to_end(tmp_path, capsys):
    audio = AudioConfig(
        sample_rate=8000, n_fft=256, hop_length=64, n_mels=32, segment_samples=2 * 8000
    )
    paths = run_demo(
        tmp_path / "demo",
        minutes=0.5,
        tracks_per_style=2,
        seconds=6.0,
        longform_seconds=9.0,
        epochs=2,
        audio=audio,
        device="cpu",
        train_kwargs={"batch_size": 8},
        eval_segments=4,
        progress=False,
        inverter_options={"n_iter": 4},
    )
    out = capsys.readouterr().out
    assert "7/7" in out and "open it in a browser" in out
    styles = ("ambient", "breakbeat", "techno")
    assert sorted(p.name for p in paths["audio"].iterdir()) == list(styles)
    for style in styles:
        wave, sr = sf.read(paths["generated"] / f"{style}_00.wav")
        assert sr == 8000 and len(wave) == 2 * 8000
        assert np.sqrt(np.mean(wave**2)) > 1e-3
    assert (paths["interpolation"] / "interpolation.wav").is_file()
    track, sr = sf.read(paths["longform"])
    assert len(track) == 9 * 8000
    metrics = json.loads(paths["metrics"].read_text())
    assert {"reconstruction", "latent", "generation", "longform"} <= set(metrics)
    index = paths["report"] / "index.html"
    assert index.is_file() and "<audio" in index.read_text()
