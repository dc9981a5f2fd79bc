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
    from melvae.inversion import DEFAULT_ITERATIONS

    args = build_parser().parse_args(["generate", "run", "-o", "out"])
    assert args.iterations == DEFAULT_ITERATIONS


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
