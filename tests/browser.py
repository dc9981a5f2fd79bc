"""Headless Chromium for the report's tests and screenshots, driven over the DevTools
protocol on a pipe (``--remote-debugging-pipe``): the standard library only, no new
dependency.

:func:`open_page` shows a page at a given viewport width (emulated: a window cannot be
narrower than 500 px, a phone is), records every console error, uncaught exception and
failed load from the start, and runs :data:`PROBE_JS` in it: it waits for every image,
loads every <audio> and every latent-grid clip, clicks a grid cell, and measures the layout
(``document.documentElement.scrollWidth`` against ``innerWidth``). :meth:`Page.screenshot`
writes the whole page as a PNG.

    python -m tests.browser demo_output/report docs track   # docs/report-1400.png, -420.png
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTHS = (1400, 420)  # a desktop window and a phone, CSS pixels

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
  var imgs = Array.prototype.slice.call(document.images);
  imgs.forEach(function (img) { img.loading = "eager"; });
  await Promise.all(imgs.map(function (img) {
    return img.complete ? null : new Promise(function (r) {
      img.addEventListener("load", r); img.addEventListener("error", r);
    });
  }));
  out.images = imgs.map(function (img) {
    return { src: img.currentSrc || img.getAttribute("src"),
             ok: img.complete && img.naturalWidth > 0 };
  });
  var audios = Array.prototype.slice.call(document.querySelectorAll("audio"));
  out.audios = await Promise.all(audios.map(async function (a) {
    var why = "ready";
    if (a.readyState < 1 && !a.error) {
      var wait = waitMedia(a, ["loadedmetadata"], 10000);
      if (a.networkState === 0 || a.networkState === 3) a.load();
      why = await wait;
    }
    return { id: a.id || null, src: a.getAttribute("src"), why: why, duration: a.duration,
             ok: a.readyState >= 1 && !a.error && a.duration > 0 };
  }));
  var buttons = Array.prototype.slice.call(document.querySelectorAll("[data-clip]"));
  out.clips = await Promise.all(buttons.map(async function (b) {
    var a = new Audio();
    a.preload = "auto";
    var wait = waitMedia(a, ["loadeddata"], 10000);
    a.src = b.getAttribute("data-clip");
    var why = await wait;
    return { src: b.getAttribute("data-clip"), why: why, duration: a.duration,
             ok: why === "loadeddata" && !a.error && a.duration > 0 };
  }));
  var cells = document.querySelectorAll(".cell");
  var player = document.getElementById("grid-player");
  if (cells.length && player) {
    var cell = cells[cells.length - 1];
    var seen = { play: false };
    player.addEventListener("play", function () { seen.play = true; });
    var started = waitMedia(player, ["playing"], 10000);
    cell.click();
    var why = await started;
    out.grid = { cells: cells.length, why: why, play: seen.play, paused: player.paused,
                 src: player.getAttribute("src"), expected: cell.getAttribute("data-clip"),
                 active: cell.classList.contains("active"),
                 error: player.error ? player.error.code : null };
  }
  var root = document.documentElement;
  out.layout = { innerWidth: window.innerWidth, scrollWidth: root.scrollWidth,
                 scrollHeight: root.scrollHeight };
  out.overflowing = Array.prototype.slice.call(document.querySelectorAll("body *")).filter(
    function (e) { return e.getBoundingClientRect().right > window.innerWidth + 0.5; }
  ).slice(0, 5).map(function (e) { return e.tagName.toLowerCase() + "." + e.className; });
  return JSON.stringify(out);
})()
"""


# Before a screenshot: every image loaded (lazy ones too), every player buffered, then a
# moment for the players to draw.
SETTLE_JS = r"""
(async function () {
  var imgs = Array.prototype.slice.call(document.images);
  imgs.forEach(function (img) { img.loading = "eager"; });
  await Promise.all(imgs.map(function (img) {
    return img.complete ? null : new Promise(function (r) {
      img.addEventListener("load", r); img.addEventListener("error", r);
    });
  }));
  var audios = Array.prototype.slice.call(document.querySelectorAll("audio"));
  await Promise.all(audios.map(function (a) {
    a.preload = "auto";  // a long file's player shows "loading" until it has buffered
    return a.readyState >= 4 ? null : new Promise(function (r) {
      a.addEventListener("canplaythrough", r); a.addEventListener("error", r);
      setTimeout(r, 10000);
    });
  }));
  await new Promise(function (r) { setTimeout(r, 5000); });
})()
"""


def find_browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


class Page:
    """One Chromium with one page, spoken to over the DevTools protocol on fds 3 and 4."""

    def __init__(self, browser: str, profile: Path):
        to_chrome, self._out = os.pipe()  # we write commands, it reads fd 3
        self._in, from_chrome = os.pipe()  # it writes fd 4, we read responses and events

        def wire() -> None:  # in the child, before exec: the pipes on the fds it expects
            # Copies above 10 first: a pipe may itself be fd 3 or 4, and dup2 onto itself
            # would leave it close-on-exec.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome, from_chrome)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        flags = [
            "--headless",
            "--remote-debugging-pipe",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--mute-audio",
            "--autoplay-policy=no-user-gesture-required",
            "--allow-file-access-from-files",
            f"--user-data-dir={profile}",
        ]
        self._proc = subprocess.Popen(
            [browser, *flags, "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire,
            close_fds=False,  # the pipes themselves are close-on-exec; fds 3 and 4 are not
        )
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer, self._next, self._session = b"", 0, None
        self.events: list[dict] = []
        target = next(
            t["targetId"]
            for t in self.send("Target.getTargets")["targetInfos"]
            if t["type"] == "page"
        )
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if not select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, timeout: float = 60.0, **params) -> dict:
        """Run one DevTools command and return its result; events met meanwhile are kept."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads, as lines of text."""
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append("console: " + " ".join(str(a.get("value")) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(
                    "exception: " + details.get("exception", {}).get("description", details["text"])
                )
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                found.append(f"log: {entry['text']} {entry.get('url', '')}".strip())
        return found

    def show(self, url: str, width: int, height: int = 900) -> None:
        """Load ``url`` in a viewport ``width`` CSS pixels wide."""
        self._width = width
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,  # a phone's width; mobile=True would zoom out to fit a wide page
        )
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str, timeout: float = 120.0):
        result = self.send(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"the probe failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, png: Path, height: int | None = None, band: int = 1200) -> Path:
        """The page (or its top ``height`` CSS pixels) as a PNG, once every image has loaded
        and the players are ready: scrolled into view ``band`` pixels at a time and stitched
        (pillow, which matplotlib brings), because a player outside the viewport, or in one
        stretched to the whole page, is drawn with half its controls."""
        from PIL import Image

        self.evaluate(SETTLE_JS)
        total = int(self.send("Page.getLayoutMetrics")["cssContentSize"]["height"])
        total = min(total, height) if height else total
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=self._width,
            height=band,
            deviceScaleFactor=1,
            mobile=False,
        )
        sheet = Image.new("RGB", (self._width, total), "white")
        for top in range(0, total, band):
            self.evaluate(
                f"window.scrollTo(0, {top}); new Promise(function (r) {{ setTimeout(r, 800); }})"
            )
            y = self.evaluate("window.scrollY")  # the last band may stop short of ``top``
            clip = {"x": 0, "y": y, "width": self._width, "height": band, "scale": 1}
            data = self.send("Page.captureScreenshot", format="png", clip=clip)
            shot = Image.open(io.BytesIO(base64.b64decode(data["data"])))
            sheet.paste(shot.crop((0, top - y, self._width, band)), (0, top))
        sheet.save(png)
        return png

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close", timeout=10)
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._out)
        os.close(self._in)


def open_page(browser: str, index: Path, width: int, profile: Path) -> tuple[Page, dict]:
    """The report page at ``width``: (the page, still open, and what the probe found, with
    the errors seen since the page started loading)."""
    page = Page(browser, profile)
    try:
        page.show(index.resolve().as_uri(), width)
        found = json.loads(page.evaluate(PROBE_JS))
        found["errors"] = page.errors()
    except BaseException:
        page.close()
        raise
    return page, found


def main(argv: list[str] | None = None) -> int:
    """python -m tests.browser REPORT_DIR OUT_DIR [SECTION]: OUT_DIR/report-1400.png and
    report-420.png of REPORT_DIR/index.html, the whole page or its top down to the end of
    the section whose id is SECTION (e.g. ``track``), in 256 colours (a third of the bytes)."""
    from PIL import Image

    args = sys.argv[1:] if argv is None else argv
    report, out = Path(args[0]), Path(args[1])
    until = args[2] if len(args) > 2 else None
    browser = find_browser()
    if browser is None:
        print("no Chromium on PATH", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    index = report / "index.html"
    with tempfile.TemporaryDirectory() as tmp:
        for width in WIDTHS:
            page, found = open_page(browser, index, width, Path(tmp) / str(width))
            page.close()
            page = Page(browser, Path(tmp) / f"shot{width}")  # a fresh page: the probe's
            try:  # loads leave the players half-drawn
                page.show(index.resolve().as_uri(), width)
                height = None
                if until:
                    page.evaluate(SETTLE_JS)
                    bottom = f"document.getElementById({json.dumps(until)}).getBoundingClientRect()"
                    height = int(page.evaluate(f"{bottom}.bottom + window.scrollY")) + 16
                png = page.screenshot(out / f"report-{width}.png", height)
            finally:
                page.close()
            image = Image.open(png).convert("RGB")
            image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                png, optimize=True
            )
            print(f"{png}: {image.size}; layout {found['layout']}; errors {found['errors']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
