"""The command line, in-process through main([...]), with tiny settings."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from melvae.cli import build_parser, main

from .conftest import TINY_AUDIO, write_music_folder

# preprocess flags that give TINY_AUDIO (1 s segments of 32 mel bands at 8 kHz).
TINY_PREPROCESS_FLAGS = [
    "--sample-rate", str(TINY_AUDIO.sample_rate), "--n-fft", str(TINY_AUDIO.n_fft),
    "--hop-length", str(TINY_AUDIO.hop_length), "--n-mels", str(TINY_AUDIO.n_mels),
    "--segment-seconds", str(TINY_AUDIO.segment_samples / TINY_AUDIO.sample_rate),
]  # fmt: skip


def test_help_is_fast_and_imports_no_torch():
    code = "import sys, melvae.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    out = subprocess.run(
        [sys.executable, "-m", "melvae.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "preprocess" in out.stdout and "longform" in out.stdout


def test_help_imports_no_torch_numpy_or_lightning():
    """`melvae --help` and every `melvae COMMAND --help` stay light (STYLE.md, principle 7)."""
    code = """if True:
        import sys
        from melvae.cli import build_parser, main
        sub = next(a for a in build_parser()._actions if a.dest == "command")
        for argv in [["--help"]] + [[name, "--help"] for name in sub.choices]:
            try:
                main(argv)
            except SystemExit as exc:
                assert exc.code == 0, argv
        heavy = ("torch", "numpy", "scipy", "lightning", "pytorch_lightning", "matplotlib")
        sys.exit(", ".join(m for m in heavy if m in sys.modules) or None)
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stderr, out.stderr
    assert "train" in out.stdout and "--epochs" in out.stdout


def _commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sorted(sub.choices)


def test_the_product_has_its_commands():
    assert set(_commands()) >= {
        "preprocess",
        "train",
        "generate",
        "interpolate",
        "longform",
        "reconstruct",
        "evaluate",
        "latent-map",
        "report",
        "synth",
        "demo",
    }


@pytest.mark.parametrize("command", _commands())
def test_every_command_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert len(capsys.readouterr().out) > 300


def _error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_user_errors_are_one_clear_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hi")
    cases = [
        (["preprocess", str(tmp_path / "missing"), "-o", str(tmp_path / "d")], "no such folder"),
        (["preprocess", str(tmp_path / "empty"), "-o", str(tmp_path / "d")], "no audio files"),
        (["train", str(tmp_path / "empty"), "-o", str(tmp_path / "r")], "not a melvae dataset"),
        (
            ["generate", str(tmp_path / "notes.txt"), "-o", str(tmp_path / "g")],
            "not a melvae checkpoint",
        ),
        (["generate", str(tmp_path / "empty"), "-o", str(tmp_path / "g")], "run folder"),
        (["synth", str(tmp_path / "s"), "--styles", "polka"], "polka"),
    ]
    for argv, message in cases:
        code, err = _error(capsys, argv)
        assert code == 2, argv
        assert len(err) == 1 and err[0].startswith("melvae: error:") and message in err[0], err


def test_end_to_end(tmp_path, capsys):
    """preprocess -> train -> generate -> interpolate -> longform, as a user would."""
    audio = write_music_folder(tmp_path / "audio", np.random.default_rng(0), sample_rate=16000)
    data, run = tmp_path / "data", tmp_path / "run"
    assert (
        main(
            [
                "preprocess",
                str(audio),
                "-o",
                str(data),
                *TINY_PREPROCESS_FLAGS,
                "--hop-seconds",
                "0.5",
                "--workers",
                "1",
                "-q",
            ]
        )
        == 0
    )
    assert "segments written" in capsys.readouterr().out
    assert (
        main(
            [
                "train",
                str(data),
                "-o",
                str(run),
                "--epochs",
                "2",
                "--batch-size",
                "8",
                "--kind",
                "vector",
                "--latent-dim",
                "4",
                "--channels",
                "4,8,16",
                "--device",
                "cpu",
                "-q",
            ]
        )
        == 0
    )
    assert "training finished after 2 epochs" in capsys.readouterr().out

    gen = tmp_path / "gen"
    assert main(["generate", str(run), "-n", "3", "-o", str(gen), "--iterations", "8"]) == 0
    wavs = sorted(gen.glob("*.wav"))
    assert len(wavs) == 3 and len(list(gen.glob("*.png"))) == 3
    for wav in wavs:
        wave, sr = sf.read(wav)
        assert sr == 8000 and len(wave) == 8000  # one 1 s segment: 125 hops of 64
        assert np.sqrt(np.mean(wave**2)) > 1e-3  # not silent

    code, err = _error(capsys, ["generate", str(run), "-o", str(gen), "--label", "polka"])
    assert code == 2 and "unknown label 'polka'" in err[0] and "high, low" in err[0]
    assert (
        main(
            ["generate", str(run), "-n", "1", "-o", str(gen), "--label", "low", "--iterations", "4"]
        )
        == 0
    )

    inter = tmp_path / "inter"
    assert (
        main(
            [
                "interpolate",
                str(run),
                str(audio / "low" / "t0.wav"),
                f"{data}@3",
                "--steps",
                "4",
                "-o",
                str(inter),
                "--iterations",
                "4",
                "--fade-seconds",
                "0.25",
            ]
        )
        == 0
    )
    steps = sorted(inter.glob("step_*.wav"))
    joined, sr = sf.read(inter / "interpolation.wav")
    assert len(steps) == 4 and len(joined) == 4 * 8000 - 3 * 2000

    track = tmp_path / "long" / "track.wav"
    assert (
        main(
            [
                "longform",
                str(run),
                "--seconds",
                "7.3",
                "-o",
                str(track),
                "--start",
                str(audio / "high" / "t1.wav"),
                "--iterations",
                "4",
                "-q",
            ]
        )
        == 0
    )
    wave, sr = sf.read(track)
    assert sr == 8000 and len(wave) == round(7.3 * 8000)
    assert np.sqrt(np.mean(wave**2)) > 1e-3
    info = json.loads(track.with_suffix(".json").read_text())
    assert info["samples"] == len(wave)
    assert info["segments"][0]["source"] == {
        "kind": "start",
        "from": str(audio / "high" / "t1.wav"),
    }
    assert len(info["joins"]) == len(info["segments"]) - 1
    assert all(0 < t < 7.3 for t in info["joins"])
    assert not list(track.parent.glob(".*partial*"))


@pytest.mark.parametrize("run_fixture", ["tiny_run", "tiny_seq_run"])
def test_inspection_commands(run_fixture, tiny_data, tmp_path, capsys, request):
    """reconstruct, evaluate, latent-map and report through main([...]), on a model of each
    kind."""
    tiny_run = request.getfixturevalue(run_fixture)
    audio_file = next((tiny_data.parent / "audio" / "low").glob("*.wav"))
    rec = tmp_path / "rec"
    assert (
        main(
            [
                "reconstruct",
                str(tiny_run),
                str(audio_file),
                "-o",
                str(rec),
                "-n",
                "2",
                "--iterations",
                "4",
            ]
        )
        == 0
    )
    assert len(list(rec.glob("*_reconstruction.wav"))) == 2
    assert (
        main(
            [
                "reconstruct",
                str(tiny_run),
                str(tiny_data),
                "-o",
                str(tmp_path / "r2"),
                "-n",
                "2",
                "--validation",
                "--iterations",
                "4",
            ]
        )
        == 0
    )

    metrics = tmp_path / "m.json"
    assert (
        main(
            [
                "evaluate",
                str(tiny_run),
                str(tiny_data),
                "-o",
                str(metrics),
                "--max-segments",
                "4",
                "--iterations",
                "4",
                "-q",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "phase_only_sc_db" in printed and "knn_accuracy" in printed
    result = json.loads(metrics.read_text())
    assert result["reconstruction"]["mel_l1_db"] > 0
    assert -50 < result["reconstruction"]["temporal_detail"] <= 1
    assert result["generation"]["diversity_ratio"] > 0

    assert main(["latent-map", str(tiny_run), str(tiny_data), "-o", str(tmp_path / "map.png")]) == 0
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"

    report = tmp_path / "report"
    assert (
        main(
            [
                "report",
                str(tiny_run),
                "-o",
                str(report),
                "--metrics",
                str(metrics),
                "--n-generate",
                "2",
                "--iterations",
                "4",
            ]
        )
        == 0
    )
    html = (report / "index.html").read_text()
    assert "knn_accuracy" in html and "<audio" in html


def test_cli_inversion_default_is_the_library_default():
    from melvae.audio.inversion import DEFAULT_ITERATIONS

    args = build_parser().parse_args(["generate", "run", "-o", "out"])
    assert args.iterations == DEFAULT_ITERATIONS


# The fewest arguments each command parses with: its positionals and required options.
MINIMAL_ARGS = {
    "preprocess": ["AUDIO_DIR", "-o", "DATA_DIR"],
    "train": ["DATA_DIR", "-o", "RUN_DIR"],
    "generate": ["RUN_DIR", "-o", "OUT_DIR"],
    "interpolate": ["RUN_DIR", "A", "B", "-o", "OUT_DIR"],
    "longform": ["RUN_DIR", "-o", "TRACK"],
    "loops": ["RUN_DIR", "--bpm", "128", "-o", "OUT_DIR"],
    "reconstruct": ["RUN_DIR", "SOURCE", "-o", "OUT_DIR"],
    "evaluate": ["RUN_DIR"],
    "latent-map": ["RUN_DIR", "DATA_DIR"],
    "report": ["RUN_DIR"],
    "synth": ["OUT_DIR"],
    "demo": [],
}


def _expected_defaults() -> dict[str, dict]:
    """Every option's default, read from where it lives: a dataclass field or a named
    constant of config.py (None / False: the option is off unless given)."""
    from pathlib import Path

    from melvae import config as c
    from melvae.config import AudioConfig, ModelConfig, TrainConfig, default

    common = {
        "seed": c.DEFAULT_SEED,
        "device": c.DEFAULT_DEVICE,
        "iterations": c.DEFAULT_ITERATIONS,
        "inverter": c.DEFAULT_INVERTER,
    }
    train_fields = [
        "epochs", "max_minutes", "batch_size", "lr", "beta", "kl_warmup_epochs", "free_bits",
        "grad_clip", "val_fraction", "seed", "num_workers", "schedule", "conditional", "devices",
        "strategy", "prior_fraction", "prior_epochs", "prior",
    ]  # fmt: skip
    return {
        "preprocess": {
            **{
                k: default(AudioConfig, k) for k in ("sample_rate", "n_fft", "hop_length", "n_mels")
            },
            **dict.fromkeys(["segment_seconds", "bars", "bpm", "hop_seconds", "hop_bars"]),
            "workers": None,
            "quiet": False,
        },
        "train": {
            **{k: default(TrainConfig, k) for k in train_fields},
            "kind": c.DEFAULT_KIND,
            "latent_dim": default(ModelConfig, "latent_dim"),
            "latent_channels": default(ModelConfig, "latent_channels"),
            "latent_rate": default(ModelConfig, "rate"),
            "channels": None,
            "resume": False,
            "overwrite": False,
            "quiet": False,
            "device": c.DEFAULT_DEVICE,
        },
        "generate": {
            **common,
            "n": c.GENERATE_CLIPS,
            "label": None,
            "temperature": c.DEFAULT_TEMPERATURE,
            "format": c.AUDIO_FORMATS[0],
            "bpm": None,
            "repeat": c.CLIP_REPEAT,
        },
        "interpolate": {
            **common,
            "steps": c.INTERPOLATION_STEPS,
            "label": None,
            "fade_seconds": c.INTERPOLATION_FADE_SECONDS,
            "bpm": None,
        },
        "loops": {
            **common,
            "bars": c.LOOP_BARS,
            "n": c.GENERATE_CLIPS,
            "label": None,
            "temperature": c.DEFAULT_TEMPERATURE,
            "format": c.AUDIO_FORMATS[0],
            "repeat": c.LOOP_REPEAT,
        },
        "longform": {
            **common,
            "seconds": c.LONGFORM_SECONDS,
            **dict.fromkeys(["start", "bpm", "label", "labels"]),
            "temperature": [c.DEFAULT_TEMPERATURE],
            "repeat": c.DEFAULT_REPEAT,
            "steps_per_target": c.STEPS_PER_TARGET,
            "quiet": False,
        },
        "reconstruct": {
            **common,
            "n": c.RECONSTRUCT_SEGMENTS,
            "validation": False,
            "label": None,
        },
        "evaluate": {
            **common,
            "data_dir": None,
            "output": Path("metrics.json"),
            "split": c.EVAL_SPLIT,
            "max_segments": c.EVAL_MAX_SEGMENTS,
            **dict.fromkeys(["n_generate", "longform", "audio_dir"]),
            "quiet": False,
        },
        "latent-map": {
            "seed": c.DEFAULT_SEED,
            "device": c.DEFAULT_DEVICE,
            "output": Path("map.png"),
            "grid": c.MAP_GRID,
            "max_points": c.MAP_MAX_POINTS,
        },
        "report": {
            **common,
            "data_dir": None,
            "output": Path("report"),
            "metrics": None,
            "longform": None,
            "n_generate": c.REPORT_CLIPS,
            "grid": c.REPORT_GRID,
        },
        "synth": {
            "seed": c.DEFAULT_SEED,
            "tracks_per_style": c.SYNTH_TRACKS_PER_STYLE,
            "seconds": c.SYNTH_SECONDS,
            "styles": None,
            "sample_rate": default(AudioConfig, "sample_rate"),
        },
        "demo": {
            "seed": c.DEFAULT_SEED,
            "device": c.DEFAULT_DEVICE,
            "output": Path("demo_output"),
            "minutes": c.DEMO_MINUTES,
            "tracks_per_style": c.SYNTH_TRACKS_PER_STYLE,
        },
    }


@pytest.mark.parametrize("command", _commands())
def test_every_default_comes_from_config(command):
    """Each option of each command defaults to the dataclass field or config.py constant it
    is declared from, and every option is accounted for."""
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    given = {a.dest for a in sub._actions if a.required}  # positionals and -o
    parsed = vars(build_parser().parse_args([command, *MINIMAL_ARGS[command]]))
    defaults = {k: v for k, v in parsed.items() if k not in given | {"command", "func"}}
    assert defaults == _expected_defaults()[command]
    assert parsed["func"].__name__ == "cmd_" + command.replace("-", "_")


def test_help_prints_the_defaults():
    """Help texts show the values the options take (argparse's %(default)s), not a copy."""
    from melvae import registry
    from melvae.config import EVAL_MAX_SEGMENTS, SEQUENCE_CHANNELS, TrainConfig, default

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    text = " ".join(sub["train"].format_help().split())  # one line: no wrapping
    assert f"training epochs (default: {default(TrainConfig, 'epochs')})" in text
    assert f"{registry.KINDS.get('sequence').beta:g} for sequence" in text
    assert ",".join(map(str, SEQUENCE_CHANNELS)) + " for the sequence kind" in text
    text = " ".join(sub["evaluate"].format_help().split())
    assert f"at most this many (default: {EVAL_MAX_SEGMENTS})" in text


def test_library_functions_default_to_the_cli_defaults():
    """Where a library function takes the same setting as a CLI option, both read one
    constant of config.py: calling the library with no arguments does what the CLI does."""
    import inspect

    from melvae import config as c
    from melvae import demo
    from melvae.api import Melvae
    from melvae.config import AudioConfig, ModelConfig, default
    from melvae.data import synth
    from melvae.evaluation import analysis, evaluate
    from melvae.generation import joins, outputs
    from melvae.kinds.base import TrackRequest
    from melvae.report import build as report
    from melvae.training import train

    cases = [
        (Melvae.generate_mels, "temperature", c.DEFAULT_TEMPERATURE),
        (Melvae.generate, "temperature", c.DEFAULT_TEMPERATURE),
        (Melvae.interpolate_mels, "steps", c.INTERPOLATION_STEPS),
        (Melvae.interpolate, "steps", c.INTERPOLATION_STEPS),
        (Melvae.interpolate, "fade_seconds", c.INTERPOLATION_FADE_SECONDS),
        (TrackRequest, "temperature", c.DEFAULT_TEMPERATURE),
        (TrackRequest, "steps_per_target", c.STEPS_PER_TARGET),
        (outputs.write_clips, "fmt", c.AUDIO_FORMATS[0]),
        (outputs.write_interpolation, "steps", c.INTERPOLATION_STEPS),
        (outputs.write_interpolation, "fade_seconds", c.INTERPOLATION_FADE_SECONDS),
        (joins.latent_walk, "steps_per_target", c.STEPS_PER_TARGET),
        (joins.latent_walk, "temperature", c.DEFAULT_TEMPERATURE),
        (analysis.reconstruct, "max_items", c.RECONSTRUCT_SEGMENTS),
        (analysis.latent_map, "max_points", c.MAP_MAX_POINTS),
        (analysis.decoded_grid, "n", c.MAP_GRID),
        (evaluate.evaluate, "split", c.EVAL_SPLIT),
        (evaluate.evaluate, "max_segments", c.EVAL_MAX_SEGMENTS),
        (report.build_report, "n_generate", c.REPORT_CLIPS),
        (report.build_report, "grid", c.REPORT_GRID),
        (synth.synthesize_dataset, "tracks_per_style", c.SYNTH_TRACKS_PER_STYLE),
        (synth.synthesize_dataset, "seconds", c.SYNTH_SECONDS),
        (synth.synthesize_dataset, "sample_rate", default(AudioConfig, "sample_rate")),
        (demo.run_demo, "minutes", c.DEMO_MINUTES),
        (demo.run_demo, "tracks_per_style", c.SYNTH_TRACKS_PER_STYLE),
        (demo.run_demo, "longform_seconds", c.DEMO_LONGFORM_SECONDS),
        (demo.run_demo, "device", c.DEFAULT_DEVICE),
        (train.train, "latent_dim", default(ModelConfig, "latent_dim")),
        (train.train, "latent_channels", default(ModelConfig, "latent_channels")),
        (train.train, "rate", default(ModelConfig, "rate")),
        (train.train, "kind", c.DEFAULT_KIND),
        (train.train, "device", c.DEFAULT_DEVICE),
    ]
    for func, name, value in cases:
        assert inspect.signature(func).parameters[name].default == value, (func, name)
    # Seeds: every seeded library function starts from the same seed as the CLI.
    for func in (Melvae.generate_mels, analysis.reconstruct, evaluate.evaluate, demo.run_demo):
        assert inspect.signature(func).parameters["seed"].default == c.DEFAULT_SEED
    assert tuple(synth.STYLES) == c.SYNTH_STYLES and tuple(evaluate.SPLITS) == c.EVAL_SPLITS


def test_default_reads_dataclass_fields():
    from melvae.config import TrainConfig, default

    assert default(TrainConfig, "epochs") == TrainConfig().epochs
    with pytest.raises(AttributeError):
        default(TrainConfig, "no_such_field")


def test_review_regressions(tiny_run, tiny_data, tmp_path, capsys):
    """Inputs that once gave a traceback or a silently wrong result."""
    import melvae

    from .conftest import tone_track

    model = melvae.load(tiny_run, device="cpu")
    mono = tone_track(2.0, TINY_AUDIO.sample_rate, 220.0, np.random.default_rng(0))
    stereo = np.stack([mono, mono], axis=1)  # (samples, channels), as soundfile reads it
    np.testing.assert_allclose(model.encode(stereo), model.encode(mono), atol=1e-6)

    for argv, message in [
        (["generate", str(tiny_run), "-o", str(tmp_path / "g"), "--temperature", "-1"], None),
        (
            ["longform", str(tiny_run), "--seconds", "0.00001", "-o", str(tmp_path / "t.wav")],
            "at least one hop",
        ),
    ]:
        if message is None:  # argparse refuses it: exit 2 with a usage line
            with pytest.raises(SystemExit) as exc:
                main(argv)
            assert exc.value.code == 2
            assert "must be >= 0" in capsys.readouterr().err
            continue
        code, err = _error(capsys, argv)
        assert code == 2 and len(err) == 1 and message in err[0], err

    # --bpm sets the tempo of --hop-bars while the length stays in seconds.
    audio = tiny_data.parent / "audio"
    assert (
        main(
            [
                "preprocess",
                str(audio),
                "-o",
                str(tmp_path / "d"),
                *TINY_PREPROCESS_FLAGS,
                "--bpm",
                "120",
                "--hop-bars",
                "0.5",
                "--workers",
                "1",
                "-q",
            ]
        )
        == 0
    )
    meta = json.loads((tmp_path / "d" / "audio_config.json").read_text())
    assert meta["hop_seconds"] == pytest.approx(1.0)  # half a bar of 2 s
    assert meta["audio_config"]["segment_samples"] == 8000
