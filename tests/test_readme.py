"""The README's examples stay true: its Python block runs against a tiny trained model."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("run_fixture", ["tiny_seq_run", "tiny_run"])
def test_readme_python_example_runs(run_fixture, tmp_path, request):
    """On a model of each kind (the sequence kind is the default)."""
    import soundfile as sf

    from .conftest import TINY_AUDIO, tone_track

    clip = tmp_path / "clip.wav"
    sf.write(
        clip,
        tone_track(2.5, TINY_AUDIO.sample_rate, 220.0, np.random.default_rng(0)),
        TINY_AUDIO.sample_rate,
    )
    blocks = _python_blocks()
    assert blocks, "the README has no Python example"
    namespace = {"RUN_DIR": request.getfixturevalue(run_fixture), "CLIP": str(clip)}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    assert namespace["audio"].shape[0] == 2
    # 2.5 s of 1 s segments; latent 4 (vector) or 4 channels x 32 frames (sequence)
    expected = (2, 4) if run_fixture == "tiny_run" else (2, 4, 32)
    assert namespace["z"].shape == expected


def test_readme_first_screen_has_the_two_setup_commands():
    first_screen = README.read_text().splitlines()[:25]
    commands = [line.split("#")[0].strip() for line in first_screen if line.startswith("make ")]
    assert commands == ["make demo", "make test"]
    makefile = (README.parent / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (README.parent / ".ci" / "run").read_text()
