from melvae.data.preprocess import preprocess
from melvae.progress import LineProgress, progress_bar

from .conftest import TINY_AUDIO, write_music_folder


def test_without_a_terminal_a_bar_is_a_few_plain_lines(capfd):
    bar = progress_bar(250, "work", "item")  # stderr is captured: not a terminal
    assert isinstance(bar, LineProgress)
    with bar:
        for i in range(250):
            bar.set_postfix(i=i)
            bar.update()
    err = capfd.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 10  # every 10%
    assert lines[0].startswith("work: 25/250 item, ") and lines[0].endswith(", i=24")
    assert lines[-1].startswith("work: 250/250 item")


def test_short_tasks_stopped_early_and_disabled_bars(capfd):
    with progress_bar(4, "stages", "step") as bar:
        for name in ("a", "b", "c"):
            bar.set_postfix_str(name)
            bar.update()
    with progress_bar(100, "stopped", "epoch") as bar:
        bar.update(3)  # ends before the first tenth: close still says how far it got
    with progress_bar(5, "quiet", "step", enabled=False) as bar:
        bar.update(5)
    lines = capfd.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "stages: 1/4 step",
        "stages: 2/4 step",
        "stages: 3/4 step",
        "stopped: 3/100 epoch",
    ]
    assert lines[2].endswith(", c")


def test_preprocess_with_progress_writes_no_carriage_returns(tmp_path, rng, capfd):
    audio = write_music_folder(tmp_path / "audio", rng, seconds=2.0)  # 6 files
    preprocess(audio, tmp_path / "data", TINY_AUDIO, workers=1, progress=True)
    err = capfd.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("preprocess: ")]
    assert len(lines) == 6 and lines[-1].startswith("preprocess: 6/6 file")
