"""The HTML report: its files, its escaping, and the page itself in headless Chromium."""

import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import soundfile as sf

import melvae
from melvae.config import TrainConfig
from melvae.report.build import build_report
from melvae.report.present import format_value
from tests.conftest import TINY_AUDIO, TINY_CHANNELS

GRID = 4
HOSTILE = '<script>alert("x")</script> & co'
METRICS = {
    "held-out clips": {"mel L1 (dB)": 7.25, "per clip": [1.0, 2.0, 4.5], "segments": 12},
    HOSTILE: {"note": HOSTILE, "worst": float("inf")},
}


@pytest.fixture(scope="module")
def report(tiny_data, tmp_path_factory) -> Path:
    """A report of a tiny latent-2 model (its data found through the run's config.json)."""
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
    index = build_report(
        root / "run",
        root / "report",
        metrics=METRICS,
        n_generate=2,
        grid=GRID,
        model=melvae.load(root / "run", device="cpu", n_iter=4),
        n_reconstruct=2,
    )
    assert index == root / "report" / "index.html"
    return index.parent


class _Refs(HTMLParser):
    """Every src / href / data-clip attribute, and the tags seen."""

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "data-clip") and value is not None:
                self.refs.append((tag, name, value))


def parse(folder: Path) -> _Refs:
    parser = _Refs()
    parser.feed((folder / "index.html").read_text(encoding="utf-8"))
    return parser


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
    # The sections that should be there: 2 reconstructions (2 players each), 2 generated
    # clips, the grid's player, and one clip per grid cell.
    audio = [v for tag, name, v in parser.refs if tag == "audio"]
    clips = [v for tag, name, v in parser.refs if name == "data-clip"]
    assert len(audio) == 2 * 2 + 2 + 1
    assert len(clips) == len(set(clips)) == GRID * GRID
    for value in audio + clips:
        wave, sr = sf.read(report / unquote(value))
        assert sr == TINY_AUDIO.sample_rate and len(wave) == TINY_AUDIO.segment_samples
    images = {v for tag, name, v in parser.refs if tag == "img"}
    assert {"curves.png", "latent_map.png", "grid/grid.png"} <= images
    assert len(images) == 3 + 2 + 2


def test_page_is_escaped_and_self_contained(report):
    text = (report / "index.html").read_text(encoding="utf-8")
    assert "<title>melvae report: run</title>" in text
    assert HOSTILE not in text and html.escape(HOSTILE) in text
    assert parse(report).tags.count("script") == 1  # ours, inline
    assert not re.search(r"(?i)\b(src|href)\s*=\s*\"?(https?:|//)", text)
    assert "fetch(" not in text and "XMLHttpRequest" not in text
    assert "7.25" in text and format_value([1.0, 2.0, 4.5]) in text
    assert "Evaluation" in text and "Latent grid" in text
    facts = json.loads((report / "report.json").read_text())
    assert facts["grid"]["n"] == GRID and len(facts["grid"]["clips"]) == GRID * GRID
    assert facts["latent_map"]["panels"] == ["plane"]


def test_page_renders_from_plain_values():
    """The page from its package templates alone, no model: a run without dataset or grid."""
    from melvae.report.html import ReportContent, render_report

    page = render_report(ReportContent(run_name=HOSTILE, created="today", model_facts=[]))
    assert f"<title>melvae report: {html.escape(HOSTILE)}</title>" in page
    assert "--accent" in page and "<script" not in page and "$" not in page
    assert "No dataset folder: pass one to see reconstructions." in page
    assert "No dataset folder: no latent map." in page and "Generated clips" not in page


# -- in a real browser ------------------------------------------------------------------------
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _find_browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


@pytest.fixture(scope="module")
def chromium() -> str:
    """A Chromium binary; installed with apt-get where missing and we are root (Debian's
    package is `chromium`). MELVAE_NO_BROWSER_INSTALL=1 skips the install attempt."""
    found = _find_browser()
    if found:
        return found
    names = ", ".join(BROWSERS)
    can_install = (
        hasattr(os, "geteuid")
        and os.geteuid() == 0
        and shutil.which("apt-get")
        and not os.environ.get("MELVAE_NO_BROWSER_INSTALL")
    )
    if not can_install:
        pytest.skip(
            f"no Chromium on PATH (looked for {names}); install one (Debian: "
            "`apt-get install chromium`) to run the browser test"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    why = ""
    try:
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:  # perhaps no package lists yet
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=300)
            done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    except (subprocess.TimeoutExpired, OSError) as exc:
        why = str(exc)
    found = _find_browser()
    if not found:
        pytest.skip(f"no Chromium on PATH and `apt-get install chromium` failed: {why}")
    return found


# Appended to a copy of the page: waits for the images, loads every <audio> element and every
# grid clip, clicks a grid cell, and writes what happened as JSON into the DOM.
PROBE_JS = r"""
(async function () {
  var out = { title: document.title, images: [], audios: [], clips: [], grid: null };
  function waitMedia(a, events, ms) {
    return new Promise(function (resolve) {
      var done = false;
      function finish(why) { if (!done) { done = true; resolve(why); } }
      events.forEach(function (e) { a.addEventListener(e, function () { finish(e); }); });
      a.addEventListener("error", function () { finish("error"); });
      setTimeout(function () { finish("timeout"); }, ms);
    });
  }
  try {
    var imgs = Array.prototype.slice.call(document.images);
    await Promise.all(imgs.map(function (img) {
      return img.complete ? null : new Promise(function (r) { img.onload = img.onerror = r; });
    }));
    out.images = imgs.map(function (img) {
      return { src: img.getAttribute("src"), ok: img.complete && img.naturalWidth > 0 };
    });
    var audios = Array.prototype.slice.call(document.querySelectorAll("audio"));
    out.audios = await Promise.all(audios.map(async function (a) {
      var why = "ready";
      if (a.readyState < 1 && !a.error) {
        var wait = waitMedia(a, ["loadedmetadata"], 8000);
        if (a.networkState === 0 || a.networkState === 3) a.load();
        why = await wait;
      }
      return { src: a.getAttribute("src"), why: why, duration: a.duration,
               ok: a.readyState >= 1 && !a.error && a.duration > 0 };
    }));
    var buttons = Array.prototype.slice.call(document.querySelectorAll("[data-clip]"));
    out.clips = await Promise.all(buttons.map(async function (b) {
      var a = new Audio();
      a.preload = "auto";
      var wait = waitMedia(a, ["loadeddata"], 8000);
      a.src = b.getAttribute("data-clip");
      var why = await wait;
      return { src: b.getAttribute("data-clip"), why: why, duration: a.duration,
               ok: why === "loadeddata" && !a.error && a.duration > 0 };
    }));
    var cells = document.querySelectorAll(".cell");
    var player = document.getElementById("grid-player");
    if (cells.length && player) {
      var cell = cells[cells.length - 1];
      var seen = { play: false, playing: false };
      player.addEventListener("play", function () { seen.play = true; });
      player.addEventListener("playing", function () { seen.playing = true; });
      var started = waitMedia(player, ["playing"], 8000);
      cell.click();
      var why = await started;
      out.grid = { cells: cells.length, why: why, play: seen.play, playing: seen.playing,
                   paused: player.paused, src: player.getAttribute("src"),
                   expected: cell.getAttribute("data-clip"),
                   active: cell.classList.contains("active"),
                   error: player.error ? player.error.code : null };
    }
  } catch (err) {
    out.exception = String(err);
  }
  var pre = document.createElement("pre");
  pre.id = "melvae-verdict";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
"""


def run_probe(browser: str, page: Path, profile: Path) -> dict:
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-file-access-from-files",
        "--virtual-time-budget=15000",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="melvae-verdict">(.*?)</pre>', done.stdout, re.S)
    assert match, f"no verdict from Chromium (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(html.unescape(match.group(1)))


def test_report_in_headless_chromium(report, chromium, tmp_path):
    page = report / "_browser_test.html"
    text = (report / "index.html").read_text(encoding="utf-8")
    page.write_text(text.replace("</body>", f"<script>{PROBE_JS}</script>\n</body>"))
    try:
        verdict = run_probe(chromium, page, tmp_path / "profile")
    finally:
        page.unlink()
    assert "exception" not in verdict, verdict["exception"]
    assert verdict["title"] == "melvae report: run"
    assert len(verdict["images"]) == 7
    assert [i for i in verdict["images"] if not i["ok"]] == []
    assert len(verdict["audios"]) == 7 and len(verdict["clips"]) == GRID * GRID
    assert [a for a in verdict["audios"] + verdict["clips"] if not a["ok"]] == []
    seconds = TINY_AUDIO.segment_samples / TINY_AUDIO.sample_rate
    assert all(abs(a["duration"] - seconds) < 0.01 for a in verdict["audios"])
    grid = verdict["grid"]
    assert grid is not None and grid["cells"] == GRID * GRID
    assert grid["src"] == grid["expected"] and grid["active"]
    assert grid["play"] and not grid["paused"] and grid["error"] is None, grid
