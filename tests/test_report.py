"""The HTML report: its files, its words, its escaping, and the page in headless Chromium."""

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import soundfile as sf

from melvae.config import TrainConfig
from melvae.report.build import build_report
from melvae.report.present import format_value
from tests.conftest import TINY_AUDIO, TINY_CHANNELS

GRID, CLIPS, STEPS, RECON, TRACK_SECONDS = 4, 2, 3, 2, 6.0
HOSTILE = '<script>alert("x")</script> & co'
METRICS = {
    "settings": {"segments": 12, "tracks": 3, "generated": 12, "split": "val"},
    "reconstruction": {"mel_l1_db": 7.25, "sc_db": -3.0, "phase_only_sc_db": -11.6},
    "generation": {"frechet_ratio": 3.7, "copy_fraction": 0.25, "per clip": [1.0, 2.0, 4.5]},
    HOSTILE: {"note": HOSTILE, "worst": float("inf")},
}


@pytest.fixture(scope="module")
def report(tiny_data, tmp_path_factory) -> Path:
    """A report of a tiny latent-2 model (its data found through the run's config.json),
    with a long track that starts from a real clip."""
    import melvae
    from melvae.training.train import train

    root = tmp_path_factory.mktemp("report")
    train(
        tiny_data,
        root / "run",
        TrainConfig(epochs=1, batch_size=8),
        kind="vector",
        latent_dim=2,
        channels=TINY_CHANNELS,
        device="cpu",
        progress=False,
    )
    start = sorted((tiny_data.parent / "audio" / "low").glob("*.wav"))[0]
    track = root / "track.wav"
    model = melvae.load(root / "run", device="cpu", n_iter=4)
    model.write_longform(
        track, TRACK_SECONDS, start=start, progress=False, settings={"start": str(start)}
    )
    index = build_report(
        root / "run",
        root / "report",
        metrics=METRICS,
        n_generate=CLIPS,
        grid=GRID,
        model=model,
        n_reconstruct=RECON,
        longform=track,
        steps=STEPS,
    )
    assert index == root / "report" / "index.html"
    return index.parent


class _Refs(HTMLParser):
    """Every src / srcset / href / data-clip attribute, the tags seen, and the text of the
    section headings in order."""

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "srcset", "href", "data-clip") and value is not None:
                self.refs.append((tag, name, value))


def parse(folder: Path) -> _Refs:
    parser = _Refs()
    parser.feed((folder / "index.html").read_text(encoding="utf-8"))
    return parser


def rms_db(path: Path) -> float:
    wave, _ = sf.read(path)
    return 20 * np.log10(np.sqrt(np.mean(wave**2)))


def test_every_reference_is_a_file_inside_the_folder(report):
    parser = parse(report)
    files = [v for tag, name, v in parser.refs if not (name == "href" and v.startswith("#"))]
    assert files, "the page references no files"
    root = report.resolve()
    for value in files:
        parts = urlsplit(value)
        assert not parts.scheme and not parts.netloc, f"{value} leaves the folder"
        path = (report / unquote(parts.path)).resolve()
        assert path.is_relative_to(root), f"{value} points outside the report folder"
        assert path.is_file(), f"{value} does not exist"
    # The players: the long track, 3 per reconstruction (recording, inversion alone,
    # reconstruction), the generated clips, the joined interpolation and its steps, the grid.
    audio = [v for tag, name, v in parser.refs if tag == "audio"]
    clips = [v for tag, name, v in parser.refs if name == "data-clip"]
    assert len(audio) == 1 + 3 * RECON + CLIPS + 1 + STEPS + 1
    assert len(clips) == len(set(clips)) == GRID * GRID
    seconds = {unquote(v): sf.info(report / unquote(v)).duration for v in audio + clips}
    assert seconds.pop("track/track.wav") == pytest.approx(TRACK_SECONDS)
    assert seconds.pop("interpolation/interpolation.wav") > TINY_AUDIO.segment_seconds
    assert set(seconds.values()) == {TINY_AUDIO.segment_seconds}
    images = {v for tag, name, v in parser.refs if tag == "img"}
    assert {"curves_loss.png", "curves_terms.png", "latent_map.png", "grid/grid.png"} <= images
    assert {"track/track.png"} <= images
    assert len(images) == 2 + 1 + RECON + CLIPS + STEPS + 1 + 1
    narrow = {v for tag, name, v in parser.refs if name == "srcset"}
    assert narrow == {"track/track_narrow.png", "latent_map_narrow.png"}


def test_reconstructions_are_loudness_matched_beside_their_recordings(report):
    facts = json.loads((report / "report.json").read_text())
    records = facts["reconstructions"]
    assert len(records) == RECON
    for r in records:
        paths = [report / r[k] for k in ("recording", "original", "reconstruction")]
        levels = [rms_db(p) for p in paths]
        assert max(levels) - min(levels) < 0.1, levels  # same RMS, to 16-bit rounding
        assert abs(levels[0] - r["level_dbfs"]) < 0.1
        assert all(sf.read(p)[0].__abs__().max() <= 0.98 for p in paths)
        # The recording is the segment's own audio: its mel is the stored one.
        assert r["recording"].endswith("_recording.wav") and len(r["gains_db"]) == 3


def test_match_loudness_equal_rms_and_no_peak_past_the_limit():
    from melvae.report.listening import PEAK, match_loudness, rms_dbfs

    rng = np.random.default_rng(0)
    quiet, loud = 0.01 * rng.standard_normal(8000), 0.3 * rng.standard_normal(8000)
    spiky = quiet.copy()
    spiky[100] = 0.9  # a peak that limits how far this one may be raised
    scaled, gains, level = match_loudness([quiet, loud, spiky])
    levels = [rms_dbfs(w) for w in scaled]
    assert max(levels) - min(levels) < 1e-3 and abs(levels[0] - level) < 1e-3
    assert all(np.abs(w).max() <= PEAK + 1e-6 for w in scaled)
    assert gains[1] < 0  # the loud clip comes down
    silent, _, _ = match_loudness([quiet, np.zeros(100)])
    assert not silent[1].any()


def test_summary_first_in_words_against_baselines(report):
    text = (report / "index.html").read_text(encoding="utf-8")
    ids = re.findall(r'<section id="([^"]+)"', text)
    assert ids[0] == "summary" and ids[1] == "track" and ids[-1] == "figures"
    summary = html.unescape(
        text[text.index('<section id="summary"') : text.index('<section id="track"')]
    )
    assert "8.6 dB short of the inversion's own limit" in summary
    assert "3.7x as far from real music as real music is from itself" in summary
    assert "3 of 12 clips sit nearer a training segment" in summary
    assert summary.count('class="mark"') == 3  # reconstruction, generation, long track
    # Every figure after it, collapsible, with its unit and direction.
    figures = text[text.index('<section id="figures"') :]
    assert figures.count("<details>") == len(METRICS) + 1  # and the model's facts
    row = re.search(
        r"<tr><th[^>]*>spectral convergence of the reconstructed audio.*?</tr>", figures
    )
    assert row and "-3 dB" in row.group(0) and "↓ lower" in row.group(0)
    assert "x" in re.search(r"<code>frechet_ratio</code></th><td[^>]*>([^<]*)<", figures).group(1)


def test_long_track_on_the_page(report):
    text = (report / "index.html").read_text(encoding="utf-8")
    facts = json.loads((report / "report.json").read_text())["track"]
    assert facts["seconds"] == pytest.approx(TRACK_SECONDS)
    assert facts["baseline"]["what"].startswith("the clip it starts from")
    beat = facts["beat"]
    assert beat["windows"] == len(facts["windows"]["clarity"]) == len(facts["windows"]["tempo"])
    assert 'id="track-player"' in text and 'src="track.js"' not in text  # inlined
    if not beat["steady"]:
        assert "no steady beat" in text and "BPM (±" not in text
    for png in ("track/track.png", "track/track_narrow.png"):
        assert (report / png).read_bytes()[:4] == b"\x89PNG"


def test_tempo_is_stated_only_where_the_pulse_is_clear():
    from melvae.report.track import describe_beat
    from melvae.report.verdicts import summarize

    steady = describe_beat([0.8, 0.75, 0.7, 0.2], [128.0, 127.5, 128.4, 90.0], 8.0)
    assert steady["steady"] and steady["clear_windows"] == 3
    assert steady["bpm"] == pytest.approx(128.0)  # the unclear window's tempo is left out
    loose = describe_beat([0.3, 0.4, 0.2], [158.0, 129.0, 108.0], 8.0)
    assert not loose["steady"] and loose["bpm"] is None
    drifting = describe_beat([0.8, 0.8, 0.8], [100.0, 130.0, 160.0], 8.0)
    assert not drifting["steady"]
    # Following a tempo schedule is steady, even where the estimate reads half the tempo.
    rising = describe_beat([0.8, 0.8, 0.8], [110.0, 60.5, 131.0], 8.0, [110.0, 120.0, 130.0])
    assert rising["steady"] and rising["follows"] and rising["spread_bpm"] < 1.0
    astray = describe_beat([0.8, 0.8, 0.8], [110.0, 110.0, 110.0], 8.0, [110.0, 130.0, 150.0])
    assert not astray["steady"]
    words = summarize({}, {"beat": loose, "pulse_clarity": 0.3, "seconds": 60.0})[0]
    assert words.headline == "60 s: no steady beat." and words.grade == "poor"
    words = summarize({}, {"beat": steady, "pulse_clarity": 0.7, "seconds": 60.0})[0]
    assert "steady beat at 128 BPM" in words.headline and words.grade == "good"
    # From the evaluation alone: a tempo only with a clear and steady pulse.
    section = {"track_seconds": 60.0, "pulse_clarity": 0.15, "tempo_bpm": 158.4}
    words = summarize({"longform": {**section, "tempo_stability_bpm": 27.6}})[0]
    assert words.headline == "60 s: no steady beat." and "158" not in str(words)
    section.update(pulse_clarity=0.75, tempo_stability_bpm=1.5)
    assert "a steady beat at 158 BPM" in summarize({"longform": section})[0].headline


@pytest.fixture(scope="module")
def beat_report(tiny_beat_run, tmp_path_factory) -> Path:
    """A report of a tiny sequence model with a clocked prior: a long track at 120 BPM and
    its loops, judged from an evaluation that says the tempo was held."""
    import melvae

    root = tmp_path_factory.mktemp("beatreport")
    model = melvae.load(tiny_beat_run, device="cpu", n_iter=4)
    track = root / "track.wav"
    model.write_longform(track, TRACK_SECONDS, bpm=BPM, progress=False)
    metrics = {"longform": {"track_seconds": TRACK_SECONDS, "pulse_clarity": 0.7,
                            "held_bpm": BPM, "tempo_held": 0.9}}  # fmt: skip
    build_report(
        tiny_beat_run, root / "report", model=model, metrics=metrics, longform=track,
        n_generate=1, n_reconstruct=1, steps=2, n_loops=LOOPS,
    )  # fmt: skip
    return root / "report"


BPM, LOOPS = 120.0, 2


def test_tempo_followed_and_loops_on_the_page(beat_report):
    facts = json.loads((beat_report / "report.json").read_text())
    assert facts["track"]["tempo"]["bpm"] == BPM and facts["track"]["tempo"]["how"] == "asked"
    loops = facts["loops"]
    assert loops["bpm"] == BPM and len(loops["loops"]) == LOOPS
    for item in loops["loops"]:  # exactly 4 bars of 4 beats at 120 BPM, to the sample
        assert sf.info(beat_report / item["wav"]).frames == round(
            16 * 60 / BPM * TINY_AUDIO.sample_rate
        )
    text = html.unescape((beat_report / "index.html").read_text(encoding="utf-8"))
    assert text.count("<audio controls loop") == LOOPS
    assert "tempo followed</b>: 120.0 BPM (asked" in text
    assert "holds 120 BPM" in text and "in 90% of its 20 s windows" in text
    ids = re.findall(r'<section id="([^"]+)"', text)
    assert "loops" in ids


def test_page_is_escaped_and_self_contained(report):
    text = (report / "index.html").read_text(encoding="utf-8")
    assert "<title>melvae report: Vector model of high and low</title>" in text
    assert HOSTILE not in text and html.escape(HOSTILE) in text
    assert parse(report).tags.count("script") == 2  # ours, inline: the grid's and the track's
    assert not re.search(r"(?i)\b(src|href)\s*=\s*\"?(https?:|//)", text)
    assert "fetch(" not in text and "XMLHttpRequest" not in text
    assert "7.25 dB" in text and format_value([1.0, 2.0, 4.5]) in text
    assert "Latent grid" in text and "seed 1 · temp. 1" in text  # no labels: one row
    facts = json.loads((report / "report.json").read_text())
    assert facts["grid"]["n"] == GRID and len(facts["grid"]["clips"]) == GRID * GRID
    assert facts["latent_map"]["panels"] == ["plane"]
    assert [c["seed"] for c in facts["generated"]] == list(range(CLIPS))
    assert "loops" not in facts and 'id="loops"' not in text  # a vector model makes none


def test_page_renders_from_plain_values():
    """The page from its package templates alone, no model: a run without dataset, grid or
    track carries neither their styles nor their scripts."""
    from melvae.report.html import ReportContent, render_report

    page = render_report(
        ReportContent(title=HOSTILE, created="today", model_facts=[], loops={"missing": "no clock"})
    )
    assert "No loops: no clock." in page
    assert f"<title>melvae report: {html.escape(HOSTILE)}</title>" in page
    assert "--accent" in page and "<script" not in page and "$" not in page
    assert ".cell" not in page and ".playhead" not in page
    assert "No dataset folder: pass one to see reconstructions." in page
    assert "No dataset folder: no latent map." in page and "Generated clips" not in page
    assert "No evaluation was given" in page


# -- in a real browser ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium() -> str:
    """A Chromium binary on PATH, or the test is skipped: it is never installed here."""
    from tests.browser import BROWSERS, find_browser

    found = find_browser()
    if not found:
        pytest.skip(
            f"no Chromium on PATH (looked for {', '.join(BROWSERS)}); install one (Debian: "
            "`apt-get install chromium`) to run the browser test"
        )
    return found


@pytest.mark.parametrize("width", [1400, 420])
def test_report_in_headless_chromium(report, chromium, tmp_path, width):
    """At a desktop width and a phone's: nothing scrolls sideways, every image and player
    loads, nothing goes wrong in the console, the long track plays, the grid answers."""
    from tests.browser import open_page

    page, found = open_page(chromium, report / "index.html", width, tmp_path / "profile")
    page.close()
    layout = found["layout"]
    assert layout["innerWidth"] == width
    assert layout["scrollWidth"] <= layout["innerWidth"], found["overflowing"]
    assert found["errors"] == []
    assert found["title"] == "melvae report: Vector model of high and low"
    assert len(found["images"]) == 2 + 1 + RECON + CLIPS + STEPS + 1 + 1
    assert [i for i in found["images"] if not i["ok"]] == []
    if width < 640:  # the phone's pictures
        assert any(i["src"].endswith("track_narrow.png") for i in found["images"])
    assert len(found["audios"]) == 1 + 3 * RECON + CLIPS + 1 + STEPS + 1
    assert len(found["clips"]) == GRID * GRID
    assert [a for a in found["audios"] + found["clips"] if not a["ok"]] == []
    track = [a for a in found["audios"] if a["id"] == "track-player"]
    assert len(track) == 1 and track[0]["duration"] == pytest.approx(TRACK_SECONDS, abs=0.01)
    grid = found["grid"]
    assert grid is not None and grid["cells"] == GRID * GRID
    assert grid["src"] == grid["expected"] and grid["active"]
    assert grid["play"] and not grid["paused"] and grid["error"] is None, grid
