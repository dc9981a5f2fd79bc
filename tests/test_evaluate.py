"""melvae.evaluation.evaluate on the tiny trained run: every section present, finite and
sensible."""

import ast
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import melvae
from melvae.errors import MelvaeError
from melvae.evaluation.evaluate import evaluate

SECTIONS = ("settings", "reconstruction", "latent", "generation", "longform")


def _loaded(run, n_iter: int = 4):
    """The run's model with a short Griffin-Lim (fast tests)."""
    return melvae.load(run, device="cpu", n_iter=n_iter)


def _numbers(section: dict):
    for value in section.values():
        if isinstance(value, list):
            yield from value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield value


@pytest.fixture(scope="module")
def track(tiny_run, tmp_path_factory):
    """A long track (and its .json) made by the tiny model."""
    import melvae

    path = tmp_path_factory.mktemp("longform") / "track.wav"
    melvae.load(tiny_run, device="cpu", n_iter=8).write_longform(path, 6.0, progress=False)
    return path


@pytest.fixture(scope="module")
def result(tiny_run, tiny_data, track):
    """The full evaluation: against the original audio, with a long track."""
    return evaluate(
        tiny_run,
        tiny_data,
        longform=track,
        audio_dir=tiny_data.parent / "audio",
        model=melvae.load(tiny_run, device="cpu", n_iter=16),
        max_segments=12,
        device="cpu",
        progress=False,
    )


def test_every_section_is_there_and_finite(result):
    assert tuple(result) == SECTIONS
    for name in SECTIONS[1:]:
        assert all(math.isfinite(v) for v in _numbers(result[name])), name
    settings = result["settings"]
    assert settings["split"] == "val" and settings["same_dataset_as_training"] is True
    assert settings["segments"] == 12 and settings["generated"] == 12
    assert settings["tracks"] == 2  # val_fraction 0.34 of 3 tracks: one per label
    rec = result["reconstruction"]
    assert rec["reference"] == "original audio"
    assert {"mel_l1_db", "mel_rmse_db", "sc_db", "lsd_db"} <= set(rec)
    lat = result["latent"]
    assert len(lat["kl_per_dim"]) == lat["latent_dim"] == 4
    assert 0 <= lat["active_units"] <= 4
    assert lat["knn_chance"] == 0.5 and 0.0 <= lat["knn_accuracy"] <= 1.0
    assert "knn_accuracy_other_tracks" not in lat  # one validation track per label
    gen = result["generation"]
    for key in ("frechet", "frechet_floor", "frechet_half", "kernel", "kernel_floor"):
        assert key in gen
    assert gen["frechet"] >= 0.0 and gen["diversity_real"] > 0.0
    assert gen["nn_train_generated_db"] > 0.0 and gen["nn_train_real_db"] > 0.0
    long = result["longform"]
    assert long["track_seconds"] == pytest.approx(6.0)
    assert long["joins"] >= 1 and long["seam_score"] > 0.0


def test_phase_only_baseline_beats_the_model(result):
    rec = result["reconstruction"]
    assert rec["phase_only_sc_db"] < rec["sc_db"]
    assert rec["phase_only_lsd_db"] < rec["lsd_db"]
    assert rec["mel_rmse_db"] >= rec["mel_l1_db"] > 0.0


def test_other_split_is_deterministic_and_finds_the_recorded_audio(tiny_run, tiny_data):
    model = melvae.load(tiny_run, device="cpu", n_iter=4)
    kwargs = {"split": "all", "model": model, "max_segments": 6, "progress": False, "seed": 3}
    first = evaluate(tiny_run, None, **kwargs)  # the dataset recorded in the run
    # preprocess recorded the audio folder, which still exists: measured against the original.
    assert first["reconstruction"]["reference"] == "original audio"
    assert first["settings"]["segments"] == 6 and "longform" not in first
    again = evaluate(tiny_run, tiny_data, **kwargs)
    first["settings"].pop("elapsed_seconds"), again["settings"].pop("elapsed_seconds")
    first["settings"].pop("data_dir"), again["settings"].pop("data_dir")
    assert first == again


def test_without_the_audio_folder_measures_against_the_true_mel(tiny_run, tiny_data, tmp_path):
    moved = tmp_path / "data"
    shutil.copytree(tiny_data, moved)
    meta = json.loads((moved / "audio_config.json").read_text())
    meta["audio_dir"] = str(tmp_path / "gone")
    (moved / "audio_config.json").write_text(json.dumps(meta))
    result = evaluate(
        tiny_run, moved, split="all", max_segments=4, progress=False, model=_loaded(tiny_run)
    )
    assert result["reconstruction"]["reference"].startswith("magnitude of the true mel")


def test_refuses_bad_input(tiny_run, tiny_data, tmp_path):
    with pytest.raises(MelvaeError, match="split"):
        evaluate(tiny_run, tiny_data, split="test", progress=False)
    (tmp_path / "lonely.wav").write_bytes(b"")
    with pytest.raises(MelvaeError, match="lonely.json"):
        evaluate(tiny_run, tiny_data, longform=tmp_path / "lonely.wav", progress=False)
    # An audio folder with the same file names but other audio is refused, not measured.
    other = tmp_path / "audio"
    for src in (tiny_data.parent / "audio").rglob("*.wav"):
        dest = other / src.relative_to(tiny_data.parent / "audio")
        dest.parent.mkdir(parents=True, exist_ok=True)
        noise = 0.1 * np.random.default_rng(0).standard_normal(4 * 8000)
        sf.write(dest, noise.astype(np.float32), 8000)
    with pytest.raises(MelvaeError, match="does not hold the audio"):
        evaluate(
            tiny_run,
            tiny_data,
            audio_dir=other,
            max_segments=2,
            progress=False,
            model=_loaded(tiny_run, 1),
        )


def test_evaluate_imports_no_training_code():
    """Follow every import (lazy ones too) from melvae.evaluation.evaluate through melvae's
    modules."""
    src = Path(melvae.__file__).parent

    def source(module: str) -> Path | None:
        if module == "melvae":
            return src / "__init__.py"
        path = src / (module.removeprefix("melvae.").replace(".", "/") + ".py")
        return path if module.startswith("melvae.") and path.is_file() else None

    seen, todo, packages = set(), ["melvae.evaluation.evaluate"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(source(name).read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            packages.update(n.split(".")[0] for n in names)
            todo += [n for n in names if source(n) is not None]
    assert "melvae.api" in seen and "melvae.training.train" not in seen
    assert not packages & {"lightning", "pytorch_lightning", "librosa", "sklearn", "scipy"}


def test_new_figures_temporal_detail_ratios_pulse_and_timbre(result):
    rec, gen, long = result["reconstruction"], result["generation"], result["longform"]
    assert rec["temporal_detail"] <= 1.0 and rec["temporal_detail_median"] <= 1.0
    # The true mel through the inversion keeps most of its time detail (the floor).
    assert 1.0 >= rec["phase_only_temporal_detail_audio"] > max(0.5, rec["temporal_detail_audio"])
    assert gen["frechet_ratio"] == pytest.approx(gen["frechet_half"] / gen["frechet_floor"])
    assert gen["diversity_ratio"] == pytest.approx(
        gen["diversity_generated"] / gen["diversity_real"]
    )
    assert 0.0 <= long["pulse_clarity"] <= 1.0
    assert long["timbre_marks"] == "joins"
    # 1 s segments: joins every ~0.75 s leave no position 1 s away from all of them.
    assert "timbre_jump_ratio" in long or "timbre_jump_ratio_skipped" in long


def test_longform_without_joins(track, tmp_path):
    """A model with no joins writes "joins": []: accepted, seam score skipped with a reason,
    timbre jumps measured every 10 s (none fit in 6 s: skipped too)."""
    from melvae.evaluation.evaluate import _longform

    from .conftest import TINY_AUDIO

    copy = tmp_path / "seq.wav"
    shutil.copy(track, copy)
    meta = json.loads(track.with_suffix(".json").read_text())
    copy.with_suffix(".json").write_text(json.dumps({**meta, "joins": []}))
    section = _longform(copy, TINY_AUDIO)
    assert section["joins"] == 0 and "seam_score" not in section
    assert section["seam_score_skipped"] == "the track lists no joins"
    assert section["timbre_marks"] == "every 10 s" and "timbre_jump_ratio_skipped" in section
    assert math.isfinite(section["pulse_clarity"])
    copy.with_suffix(".json").write_text(json.dumps({**meta, "joins": None}))
    with pytest.raises(MelvaeError, match="joins"):
        _longform(copy, TINY_AUDIO)
