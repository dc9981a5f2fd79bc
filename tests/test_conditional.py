"""Conditional models (vector and sequence kinds) in every command, with and without a label."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

import melvae
from melvae.cli import main
from melvae.data.dataset import MelDataset, split_for_run
from melvae.errors import MelvaeError
from melvae.generation.inputs import clip_segment
from melvae.layout import read_run_config
from melvae.models.checkpoint import load_checkpoint
from tests.conftest import TINY_AUDIO

FAST = ["--iterations", "4", "--device", "cpu"]


@pytest.fixture(scope="module")
def vec(tiny_cond_run):
    return melvae.load(tiny_cond_run, device="cpu", n_iter=4)


@pytest.fixture(scope="module")
def seq(tiny_cond_seq_run):
    return melvae.load(tiny_cond_seq_run, device="cpu", n_iter=4)


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    """An unlabelled audio file (a 2 s tone at the model's rate)."""
    path = tmp_path_factory.mktemp("clip") / "tone.wav"
    t = np.arange(2 * TINY_AUDIO.sample_rate) / TINY_AUDIO.sample_rate
    sf.write(path, (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), TINY_AUDIO.sample_rate)
    return path


def _segment_of(data_dir, label: str) -> int:
    return next(s.index for s in MelDataset(data_dir).segments if s.label == label)


# -- labels in the training data's proportions --------------------------------------------------


def test_checkpoint_stores_each_labels_training_segments(tiny_cond_run, tiny_data):
    data = MelDataset(tiny_data)
    train_idx, _ = split_for_run(data.segments, read_run_config(tiny_cond_run))
    expected = [int((data.label_ids[train_idx] == i).sum()) for i in range(len(data.labels))]
    assert load_checkpoint(tiny_cond_run).label_counts == expected


def test_draw_labels_follows_the_proportions_seeded(tiny_cond_run):
    model = melvae.load(tiny_cond_run, device="cpu")  # its own: the counts are changed
    model.core.label_counts = [30, 10]  # "high" three times as common as "low"
    assert model.label_weights() == pytest.approx([0.75, 0.25])
    drawn = model.draw_labels(4001, seed=3)
    assert abs(drawn.count("high") - 0.75 * 4001) <= 1  # systematic: floor or ceil
    assert drawn == model.draw_labels(4001, seed=3)
    assert drawn != model.draw_labels(4001, seed=4)  # another order
    ones = [model.draw_labels(1, seed=s)[0] for s in range(400)]
    assert 0.65 < ones.count("high") / 400 < 0.85
    model.core.label_counts = None  # a checkpoint from before the counts: uniform
    assert model.label_weights() == pytest.approx([0.5, 0.5])


# -- generate ----------------------------------------------------------------------------------


def test_generate_without_a_label_draws_and_names_labels(vec, tiny_cond_run, tmp_path):
    mels, labels = vec.generate_mels(4, seed=1, return_labels=True)
    assert mels.shape == (4, 32, 126) and labels == vec.draw_labels(4, seed=1)
    for i, label in enumerate(labels):  # each clip is its latent decoded under its label
        assert np.allclose(mels[i], vec.generate_mels(4, label=label, seed=1)[i], atol=1e-6)
    audio, _ = vec.generate(2, seed=1)
    assert audio.shape == (2, TINY_AUDIO.segment_samples)
    assert main(["generate", str(tiny_cond_run), "-n", "4", "-o", str(tmp_path), "--seed", "1"]
                + FAST) == 0  # fmt: skip
    names = sorted(p.stem for p in tmp_path.glob("*.wav"))
    assert names == sorted(f"{label}_{i:03d}" for i, label in enumerate(labels))


def test_sequence_generate_draws_labels_the_same_way(seq, tiny_cond_seq_run, tmp_path):
    mels, labels = seq.generate_mels(3, seed=2, return_labels=True)
    assert mels.shape == (3, 32, 126) and labels == seq.draw_labels(3, seed=2)
    assert main(["generate", str(tiny_cond_seq_run), "-n", "3", "-o", str(tmp_path), "--seed",
                 "2"] + FAST) == 0  # fmt: skip
    names = sorted(p.stem for p in tmp_path.glob("*.wav"))
    assert names == sorted(f"{label}_{i:03d}" for i, label in enumerate(labels))


# -- interpolate -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["vector", "sequence"])
def test_cli_interpolates_labels_and_clips(kind, tiny_cond_run, tiny_cond_seq_run, tiny_data,
                                           clip_file, tmp_path):  # fmt: skip
    run = str(tiny_cond_run if kind == "vector" else tiny_cond_seq_run)
    low, high = (f"{tiny_data}@{_segment_of(tiny_data, x)}" for x in ("low", "high"))
    for name, a, b, extra in [
        ("labels", "low", "high", []),
        ("segments", low, high, []),
        ("files", str(clip_file), high, []),
        ("labelled", str(clip_file), low, ["--label", "high"]),
    ]:
        out = tmp_path / name
        argv = ["interpolate", run, a, b, "--steps", "3", "-o", str(out), *extra, *FAST]
        assert main(argv) == 0, name
        assert len(list(out.glob("step_*.wav"))) == 3 and (out / "interpolation.wav").is_file()


@pytest.mark.parametrize("kind", ["vector", "sequence"])
def test_a_clip_keeps_its_label_along_the_path(kind, vec, seq, tiny_data):
    model = vec if kind == "vector" else seq
    data = MelDataset(tiny_data)
    a, b = (data[_segment_of(tiny_data, x)][0].numpy() for x in ("low", "high"))
    morph = model.interpolate_mels(a, b, steps=3, label_a="low", label_b="high")
    for end, mel, label in ((morph[0], a, "low"), (morph[-1], b, "high")):
        own = model.decode(model.encode_mel(mel[None], label), label)[0]
        assert np.allclose(end, own, atol=1e-5)
    # no label given: the one that reconstructs the clip best
    best = model.fitting_label(a)
    assert np.allclose(
        model.interpolate_mels(a, b, steps=3, label_b="high"),
        model.interpolate_mels(a, b, steps=3, label_a=best, label_b="high"),
    )
    if kind == "vector":
        assert model.endpoint(a).description == f"audio (label {best})"


# -- longform ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["vector", "sequence"])
def test_longform_without_a_label_and_with_a_schedule(kind, vec, seq, clip_file):
    model = vec if kind == "vector" else seq
    sr = model.sample_rate
    track, _, info = model.longform(3.0, seed=5)
    assert track.shape == (3 * sr,) and info["labels"] == model.draw_labels(1, seed=5)
    start = clip_segment(model, clip_file, None, "first")
    track, _, info = model.longform(3.0, start=clip_file, seed=5)
    assert track.shape == (3 * sr,) and info["labels"] == [model.fitting_label(start)]
    steered, _, info = model.longform(3.0, labels=["low", "high"], seed=5)
    assert steered.shape == (3 * sr,) and info["labels"] == ["low", "high"]
    held, _, _ = model.longform(3.0, label="low", seed=5)
    assert not np.allclose(steered, held)  # the conditioning moved
    with pytest.raises(MelvaeError, match="unknown label"):
        model.longform(3.0, labels=["low", "jazz"])


def test_cli_longform_on_a_conditional_vector_model(tiny_cond_run, tiny_data, tmp_path):
    out = tmp_path / "track.wav"
    assert main(["longform", str(tiny_cond_run), "--seconds", "3.5", "-o", str(out),
                 "--labels", "low,high", "--quiet"] + FAST) == 0  # fmt: skip
    wave, sr = sf.read(out)
    assert len(wave) == round(3.5 * sr)
    assert json.loads(out.with_suffix(".json").read_text())["labels"] == ["low", "high"]
    start = f"{tiny_data}@{_segment_of(tiny_data, 'high')}"
    assert main(["longform", str(tiny_cond_run), "--seconds", "2", "-o", str(out), "--start",
                 start, "--quiet"] + FAST) == 0  # fmt: skip
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["labels"] == ["high"] and info["segments"][0]["source"]["label"] == "high"


def test_reconstructing_a_file_on_a_conditional_model_needs_a_label(
    tiny_cond_run, tiny_data, tmp_path
):
    from melvae.evaluation import analysis

    audio_file = next((tiny_data.parent / "audio" / "low").glob("*.wav"))
    with pytest.raises(MelvaeError, match="this model is conditional: name a label"):
        analysis.reconstruct(tiny_cond_run, audio_file, tmp_path / "r", max_items=1)
    records = analysis.reconstruct(
        tiny_cond_run, audio_file, tmp_path / "r", max_items=1, label="low"
    )
    assert records[0]["label"] == "low"
