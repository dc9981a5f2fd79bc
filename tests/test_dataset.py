"""Dataset folder -> torch Dataset, the track-wise split, and refusing mismatched data."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from melvae.config import AudioConfig, assert_same_audio
from melvae.data.dataset import MelDataset, SegmentInfo, read_audio_config, track_split
from melvae.data.preprocess import preprocess
from melvae.errors import MelvaeError
from melvae.layout import AUDIO_CONFIG, MANIFEST, MELS

from .conftest import TINY_AUDIO, tone_track


def _copy(data_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the session dataset, safe to tamper with."""
    return Path(shutil.copytree(data_dir, tmp_path / "data"))


# ------------------------------------------------------------------------------ MelDataset


def test_items_are_float_mels_with_label_indices(tiny_data):
    ds = MelDataset(tiny_data)
    raw = np.load(tiny_data / MELS)

    assert len(ds) == raw.shape[0] > 0
    assert isinstance(ds.mels, np.memmap)  # memory-mapped, not loaded
    assert ds.labels == sorted(ds.labels) == ["high", "low"]
    seen = set()
    for i in range(len(ds)):
        mel, label = ds[i]
        assert isinstance(mel, torch.Tensor) and mel.dtype == torch.float32
        assert mel.shape == (TINY_AUDIO.n_mels, TINY_AUDIO.segment_frames)
        assert float(mel.min()) >= 0.0 and float(mel.max()) <= 1.0
        assert np.array_equal(mel.numpy(), raw[i].astype(np.float32))  # item i is row i
        assert label.dtype == torch.int64 and label.ndim == 0
        assert ds.labels[int(label)] == ds.segments[i].label
        seen.add(int(label))
    assert seen == {0, 1}


def test_items_batch_in_a_dataloader(tiny_data):
    ds = MelDataset(tiny_data)
    mel, label = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False)))

    assert mel.shape == (4, TINY_AUDIO.n_mels, TINY_AUDIO.segment_frames)
    assert label.dtype == torch.int64 and label.shape == (4,)


def test_given_label_list_is_used_and_unknown_labels_get_minus_one(tiny_data):
    ds = MelDataset(tiny_data, labels=["low", "zzz"])

    assert ds.labels == ["low", "zzz"]
    for i, seg in enumerate(ds.segments):
        assert int(ds[i][1]) == (0 if seg.label == "low" else -1)


def test_unlabelled_data_gives_minus_one(tmp_path, rng):
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(2):  # files at the root of the folder: no label
        sf.write(str(audio / f"t{i}.wav"), tone_track(2.0, 8000, 200.0 + 50 * i, rng), 8000)
    preprocess(audio, tmp_path / "data", TINY_AUDIO, hop_seconds=0.5, workers=1, progress=False)

    ds = MelDataset(tmp_path / "data")

    assert len(ds) == 6
    assert ds.labels == []
    labels = [ds[i][1] for i in range(len(ds))]
    assert all(lab.dtype == torch.int64 and int(lab) == -1 for lab in labels)


# ------------------------------------------------------------------------- refusing data


def test_tampered_format_version_raises(tiny_data, tmp_path):
    data = _copy(tiny_data, tmp_path)
    meta = json.loads((data / AUDIO_CONFIG).read_text())
    meta["format_version"] += 1
    (data / AUDIO_CONFIG).write_text(json.dumps(meta))

    with pytest.raises(MelvaeError, match="format"):
        MelDataset(data)


def test_missing_format_version_raises(tiny_data, tmp_path):
    data = _copy(tiny_data, tmp_path)
    meta = json.loads((data / AUDIO_CONFIG).read_text())
    del meta["format_version"]
    (data / AUDIO_CONFIG).write_text(json.dumps(meta))

    with pytest.raises(MelvaeError):
        MelDataset(data)


def test_mels_with_fewer_rows_than_the_manifest_raise(tiny_data, tmp_path):
    data = _copy(tiny_data, tmp_path)
    mels = np.load(data / MELS)
    np.save(data / MELS, mels[:-1])

    with pytest.raises(MelvaeError, match="shape"):
        MelDataset(data)


def test_mels_with_other_frames_than_the_config_raise(tiny_data, tmp_path):
    data = _copy(tiny_data, tmp_path)
    mels = np.load(data / MELS)
    np.save(data / MELS, mels[:, :, :-1])

    with pytest.raises(MelvaeError, match="shape"):
        MelDataset(data)


def test_manifest_with_extra_rows_raises(tiny_data, tmp_path):
    data = _copy(tiny_data, tmp_path)
    lines = (data / MANIFEST).read_text().splitlines()
    n = len(lines) - 1
    lines.append(f"{n},low/t9.wav,0.0,low,0")
    (data / MANIFEST).write_text("\n".join(lines) + "\n")

    with pytest.raises(MelvaeError, match="shape"):
        MelDataset(data)


def test_folder_that_is_not_a_dataset_raises(tmp_path):
    (tmp_path / "mels.txt").write_text("not a dataset")

    with pytest.raises(MelvaeError, match="melvae preprocess"):
        MelDataset(tmp_path)
    with pytest.raises(MelvaeError, match="melvae preprocess"):
        read_audio_config(tmp_path / "does_not_exist")


# ---------------------------------------------------------------------------- track_split


def _random_layout(rng: np.random.Generator) -> list[SegmentInfo]:
    """Random labels, tracks per label and segments per track, in shuffled index order."""
    n_labels = int(rng.integers(1, 5))
    names = [f"genre{k}" for k in range(n_labels)]
    if rng.random() < 0.3:
        names[0] = ""  # an unlabelled group of files at the root
    tracks = []
    for name in names:
        for t in range(int(rng.integers(1, 8))):
            source = f"{name}/track{t}.wav" if name else f"track{t}.wav"
            tracks += [(source, name)] * int(rng.integers(1, 6))
    order = rng.permutation(len(tracks))  # indices not grouped by track
    return [
        SegmentInfo(index=int(order[k]), source=src, start_seconds=0.0, label=lab)
        for k, (src, lab) in enumerate(tracks)
    ]


def test_track_split_properties_over_random_layouts():
    for case in range(300):
        rng = np.random.default_rng(case)
        segments = _random_layout(rng)
        val_fraction = float(rng.choice([0.0, 0.05, 0.1, 0.2, 0.34, 0.5, 0.75]))
        seed = int(rng.integers(0, 1000))
        context = f"case {case}, val_fraction {val_fraction}, seed {seed}"

        train, val = track_split(segments, val_fraction, seed)

        all_indices = sorted(s.index for s in segments)
        assert train == sorted(train) and val == sorted(val), context
        assert not set(train) & set(val), context
        assert sorted(train + val) == all_indices, context
        source_of = {s.index: s.source for s in segments}
        train_tracks = {source_of[i] for i in train}
        val_tracks = {source_of[i] for i in val}
        assert not train_tracks & val_tracks, context  # no track on both sides
        assert train, context  # there is always something to train on

        tracks_per_label: dict[str, set[str]] = {}
        for s in segments:
            tracks_per_label.setdefault(s.label, set()).add(s.source)
        if val_fraction == 0 or len(set(source_of.values())) < 2:
            assert val == [], context
        for label, label_tracks in tracks_per_label.items():
            n_val = len(label_tracks & val_tracks)
            if len(label_tracks) >= 2 and val_fraction > 0:
                assert 1 <= n_val <= len(label_tracks) - 1, (context, label)
                assert abs(n_val - val_fraction * len(label_tracks)) <= 1, (context, label)
            assert label_tracks & train_tracks, (context, label)  # every label trains

        assert track_split(segments, val_fraction, seed) == (train, val), context


def test_track_split_depends_on_the_seed():
    segments = [
        SegmentInfo(index=i, source=f"g/t{i // 3}.wav", start_seconds=0.0, label="g")
        for i in range(30)
    ]
    splits = {tuple(track_split(segments, 0.3, seed)[1]) for seed in range(20)}
    assert len(splits) > 1


@pytest.mark.parametrize("val_fraction", [0.0, 0.1, 0.5, 0.9])
def test_track_split_with_a_single_track_has_empty_val(val_fraction):
    segments = [SegmentInfo(i, "only.wav", float(i), "x") for i in range(5)]

    train, val = track_split(segments, val_fraction, seed=3)

    assert train == [0, 1, 2, 3, 4]
    assert val == []


def test_track_split_of_the_tiny_dataset(tiny_data):
    ds = MelDataset(tiny_data)

    train, val = track_split(ds.segments, 0.34, seed=0)

    assert len(train) + len(val) == len(ds)
    val_sources = {ds.segments[i].source for i in val}
    # 3 tracks per label: one track of each label goes to validation.
    assert sorted(Path(s).parent.name for s in val_sources) == ["high", "low"]


# --------------------------------------------------------------------- assert_same_audio


def test_assert_same_audio_accepts_equal_configs():
    assert_same_audio(TINY_AUDIO, dataclasses.replace(TINY_AUDIO), "data")


@pytest.mark.parametrize(
    ("name", "value"),
    [("hop_length", 32), ("n_mels", 16), ("sample_rate", 16000), ("top_db", 60.0)],
)
def test_assert_same_audio_names_the_differing_parameter(name, value):
    found = dataclasses.replace(TINY_AUDIO, **{name: value})

    with pytest.raises(MelvaeError) as info:
        assert_same_audio(TINY_AUDIO, found, "the dataset")

    message = str(info.value)
    assert "the dataset" in message
    assert f"{name}={value!r}" in message
    assert f"{getattr(TINY_AUDIO, name)!r}" in message
    others = {f.name for f in dataclasses.fields(AudioConfig)} - {name}
    assert not any(f"{other}=" in message for other in others), message


def test_assert_same_audio_names_every_differing_parameter():
    found = dataclasses.replace(TINY_AUDIO, n_fft=512, segment_samples=16000)

    with pytest.raises(MelvaeError) as info:
        assert_same_audio(TINY_AUDIO, found, "data")

    assert "n_fft=512" in str(info.value)
    assert "segment_samples=16000" in str(info.value)


def test_a_single_track_label_never_goes_to_validation():
    segments = [SegmentInfo(i, f"a/t{i % 3}.wav", 0.0, "a") for i in range(6)]
    segments.append(SegmentInfo(6, "b/only.wav", 0.0, "b"))
    train, val = track_split(segments, 0.6, seed=0)
    assert 6 in train
    assert val  # label a still gives validation tracks


@pytest.mark.parametrize("name", [MELS, MANIFEST])
def test_incomplete_dataset_is_a_clear_error(tiny_data, tmp_path, name):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_data, broken)
    (broken / name).unlink()
    with pytest.raises(MelvaeError, match=f"incomplete dataset.*{name}"):
        MelDataset(broken)
