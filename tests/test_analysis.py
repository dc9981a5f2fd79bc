import struct

import numpy as np
import pytest
import soundfile as sf

import melvae
from melvae.audio.io import load_audio
from melvae.config import TrainConfig
from melvae.errors import MelvaeError
from melvae.evaluation import analysis
from tests.conftest import TINY_AUDIO, TINY_CHANNELS, tone_track

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _loaded(run, n_iter: int = 4):
    """The run's model with a short Griffin-Lim (fast tests)."""
    return melvae.load(run, device="cpu", n_iter=n_iter)


def png_size(path) -> tuple[int, int]:
    """(width, height) of a PNG file, after checking its signature and IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def latent2_run(tiny_data, tmp_path_factory):
    from melvae.training.train import train

    run = tmp_path_factory.mktemp("latent2") / "run"
    train(
        tiny_data,
        run,
        TrainConfig(epochs=1, batch_size=8),
        kind="vector",
        latent_dim=2,
        channels=TINY_CHANNELS,
        device="cpu",
        progress=False,
    )
    return run


def test_reconstruct_audio_file(tiny_run, tmp_path):
    # 2.5 s at another rate: resampled to the model's 8 kHz, two whole 1 s segments.
    clip = tmp_path / "clip.wav"
    sf.write(clip, tone_track(2.5, 16000, 220.0, np.random.default_rng(0)), 16000)
    records = analysis.reconstruct(_loaded(tiny_run, 8), clip, tmp_path / "out")
    assert [r["index"] for r in records] == [0, 1]
    assert [r["start_seconds"] for r in records] == [0.0, 1.0]
    for r in records:
        for key in ("original", "reconstruction"):
            wave, sr = sf.read(r[key])
            assert sr == TINY_AUDIO.sample_rate
            assert len(wave) == TINY_AUDIO.segment_samples  # (126 - 1) frames x 64 hop = 8000
            assert np.sqrt(np.mean(wave**2)) > 1e-3, f"{key} is silent"
        assert r["original"].endswith(f"{r['index']:02d}_original.wav")
        assert r["reconstruction"].endswith(f"{r['index']:02d}_reconstruction.wav")
        assert png_size(tmp_path / "out" / f"{r['index']:02d}.png")[1] > 200  # two mels stacked
        assert 0 < r["mel_l1_db"] < TINY_AUDIO.top_db
    # The original is the segment's own audio (resampled), not an inversion.
    resampled = load_audio(clip, TINY_AUDIO.sample_rate)
    seg = TINY_AUDIO.segment_samples
    assert np.allclose(sf.read(records[1]["original"])[0], resampled[seg : 2 * seg], atol=1e-3)
    assert len(analysis.reconstruct(_loaded(tiny_run, 2), clip, tmp_path / "one", max_items=1)) == 1


def test_reconstruct_dataset(tiny_run, tiny_data, tmp_path):
    model = melvae.load(tiny_run, n_iter=4)
    records = analysis.reconstruct(model, tiny_data, tmp_path / "even", max_items=3)
    assert [r["segment"] for r in records] == [0, 20, 41]  # evenly spaced over 42 segments
    for r in records:
        assert r["original"].endswith("_original_inverted.wav")
        assert r["label"] in model.labels
        a, sr = sf.read(r["original"])
        b, _ = sf.read(r["reconstruction"])
        assert sr == TINY_AUDIO.sample_rate and len(a) == len(b) == TINY_AUDIO.segment_samples
        assert np.abs(a).max() > 1e-3 and np.abs(b).max() > 1e-3

    val = analysis.validation_indices(tiny_run)
    assert val and len(val) < 42
    records = analysis.reconstruct(
        tiny_run, tiny_data, tmp_path / "val", max_items=2, pick="validation"
    )
    assert len(records) == 2 and {r["segment"] for r in records} <= set(val)
    with pytest.raises(MelvaeError, match="run folder"):
        analysis.reconstruct(model, tiny_data, tmp_path / "x", pick="validation")
    with pytest.raises(MelvaeError, match="out of range"):
        analysis.reconstruct(model, tiny_data, tmp_path / "x", pick=[0, 999])
    with pytest.raises(MelvaeError, match="no such"):
        analysis.reconstruct(model, tmp_path / "nothing.wav", tmp_path / "x")


def test_reconstruct_dataset_inverts_each_pair_from_one_phase(
    tiny_run, tiny_data, tmp_path, monkeypatch
):
    # A perfect model: whatever differs between the two files is the inversion's doing.
    from melvae.api import Melvae

    monkeypatch.setattr(Melvae, "reconstruct_mels", lambda self, mels, label=None: mels.copy())
    records = analysis.reconstruct(_loaded(tiny_run, 2), tiny_data, tmp_path, max_items=3, seed=5)
    for r in records:
        original, _ = sf.read(r["original"])
        reconstruction, _ = sf.read(r["reconstruction"])
        assert np.abs(original).max() > 1e-3
        np.testing.assert_array_equal(original, reconstruction)


def test_latent_map_pca(tiny_run, tiny_data, tmp_path):
    info = analysis.latent_map(melvae.load(tiny_run), tiny_data, tmp_path / "map.png")
    width, height = png_size(tmp_path / "map.png")
    assert width > 300 and height > 200
    assert info["latent_dim"] == 4 and info["n_points"] == 42
    assert info["labels"] == {"high": 21, "low": 21}
    try:
        import sklearn  # noqa: F401

        assert info["panels"] == ["pca", "tsne"]
        assert width > 2 * height  # two panels side by side
    except ImportError:
        assert info["panels"] == ["pca"]
    assert 0 < sum(info["pca_explained_variance"]) <= 1 + 1e-9

    info = analysis.latent_map(tiny_run, tiny_data, tmp_path / "few.png", max_points=10, tsne=False)
    assert info["n_points"] == 10 and info["panels"] == ["pca"]
    few_width, few_height = png_size(tmp_path / "few.png")
    assert few_width < 2 * few_height  # one panel


def test_pca_2d():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3)) * np.array([5.0, 1.0, 0.1]) + 7.0
    coords, explained = analysis.pca_2d(x)
    assert coords.shape == (200, 2)
    assert np.allclose(coords.mean(axis=0), 0, atol=1e-9)
    assert explained[0] > 0.9 and explained[0] > explained[1] > 0
    assert np.abs(coords[:, 0]).std() > 3 * np.abs(coords[:, 1]).std()
    one, ex = analysis.pca_2d(np.ones((5, 1)))  # degenerate: no variance, rank 1
    assert one.shape == (5, 2) and np.all(ex == 0)


def test_latent_map_plane_and_grid(latent2_run, tiny_data, tmp_path):
    model = melvae.load(latent2_run)
    info = analysis.latent_map(model, tiny_data, tmp_path / "plane.png", grid=3)
    assert info["panels"] == ["plane"] and info["n_points"] == 42
    width, height = png_size(tmp_path / "plane.png")
    assert width > 200 and height > 200
    xmin, xmax, ymin, ymax = info["extent"]
    assert xmax - xmin == pytest.approx(ymax - ymin)  # square: square grid cells
    mu, *_ = analysis.latent_means(model, tiny_data)
    assert xmin < mu[:, 0].min() and mu[:, 0].max() < xmax
    assert ymin < mu[:, 1].min() and mu[:, 1].max() < ymax

    mels, xs, ys = analysis.decoded_grid(model, n=3, extent=info["extent"])
    assert mels.shape == (3, 3, TINY_AUDIO.n_mels, TINY_AUDIO.segment_frames)
    assert xs.shape == ys.shape == (3,)
    assert np.all(np.diff(xs) > 0) and np.all(np.diff(ys) < 0)  # row 0 is the top
    assert xmin < xs[0] < xs[-1] < xmax and ymin < ys[-1] < ys[0] < ymax
    assert mels.min() >= 0 and mels.max() <= 1
    assert np.allclose(mels[0, 2], model.decode(np.array([[xs[2], ys[0]]]))[0], atol=1e-5)

    _, prior_xs, prior_ys = analysis.decoded_grid(model, n=4)  # the prior's +-2.5 sigma
    assert np.allclose(prior_xs, [-1.875, -0.625, 0.625, 1.875])
    assert np.allclose(prior_ys, prior_xs[::-1])

    bare = analysis.save_grid_png(mels, model.audio, tmp_path / "bare.png", bare=True)
    assert png_size(bare) == (3 * TINY_AUDIO.segment_frames, 3 * TINY_AUDIO.n_mels)
    labelled = analysis.save_grid_png(mels, model.audio, tmp_path / "grid.png", xs, ys)
    assert min(png_size(labelled)) > 300


def test_decoded_grid_needs_latent_2(tiny_run):
    with pytest.raises(MelvaeError, match="latent-2"):
        analysis.decoded_grid(tiny_run, n=2)
