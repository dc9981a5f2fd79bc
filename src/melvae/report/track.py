"""The long track on the report's page: its audio, its picture over the whole length, its beat.

:func:`long_track` copies a track made by ``melvae longform`` (its ``.json`` beside it) into
the report folder and measures, window by window, what a musician listens for: the pulse
clarity and, only where the pulse is clear, the tempo (:mod:`melvae.evaluation.rhythm`,
the windows of the evaluation's long-track section). :func:`save_track_png` draws it: the
labels and temperature the track followed over time, the full-length spectrogram (Hz axis,
the real start marked), the pulse clarity of each window, and the tempo where there is one
(the tempo asked for, where the track.json records one, as a line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from melvae.audio.features import log_mel_np
from melvae.audio.io import is_audio_file, load_audio
from melvae.config import DEFAULT_TEMPERATURE, AudioConfig, bar_bpm
from melvae.errors import MelvaeError
from melvae.evaluation.rhythm import pulse_clarity, pulse_clarity_windows, windowed_tempo_bpm
from melvae.plots import _pyplot, _save, mel_axes, text_style
from melvae.report.verdicts import STEADY_SPREAD_BPM, WINDOW_CLEAR_PULSE
from melvae.safeio import copy_file

TRACK_DIR = "track"
MEL_CHUNK_SECONDS = 30.0  # the picture's mel is computed this much at a time (bounded memory)
# Figure widths in inches, for a wide screen (shown about 1,000 px wide) and a phone (about
# 370 px): with TEXT_POINTS, text of about 14 and 12 px.
WIDE, NARROW = 10.0, 4.0
TEXT_POINTS = {WIDE: 10, NARROW: 9}
BASELINE_TRACKS = 3  # real tracks of the track's labels measured when its start is unknown


def long_track(
    track: Path | str, cfg: AudioConfig, out: Path, audio_dir: Path | None = None
) -> dict[str, Any]:
    """Copy ``track`` into out/track/ and measure it; returns the page's record of it
    (paths relative to ``out``): seconds, labels, temperatures, start_seconds, joins,
    the windows (start times, pulse clarity, tempo), ``beat`` (steady or not, its tempo),
    ``pulse_clarity`` over the track, ``baseline`` (the pulse clarity of the music it
    starts from, or None) and the wide and narrow PNGs.

    ``audio_dir``: the dataset's audio folder, where real tracks of the track's labels give
    the baseline when the track.json names no start file."""
    track = Path(track)
    meta_path = track.with_suffix(".json")
    if not track.is_file() or not meta_path.is_file():
        raise MelvaeError(f"{track}: need the track and its .json (melvae longform writes both)")
    meta = json.loads(meta_path.read_text())
    audio = load_audio(track, cfg.sample_rate)
    seconds = len(audio) / cfg.sample_rate
    folder = out / TRACK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"track{track.suffix.lower()}"
    copy_file(track, copy)  # atomic (melvae.safeio)

    settings = meta.get("settings") or {}
    labels = [str(x) for x in meta.get("labels") or []]
    temperature = settings.get("temperature", DEFAULT_TEMPERATURE)
    temps = [float(t) for t in np.atleast_1d(temperature)]
    window = min(8.0, seconds / 2)  # as the evaluation's long-track section
    clarity = pulse_clarity_windows(audio, cfg, window, window / 2)
    tempo = windowed_tempo_bpm(audio, cfg, window, window / 2)
    n = min(len(clarity), len(tempo))
    starts = [round(k * window / 2, 3) for k in range(n)]
    windows = {"starts": starts, "clarity": clarity[:n].tolist(), "tempo": tempo[:n].tolist()}
    record: dict[str, Any] = {
        "wav": copy.relative_to(out).as_posix(),
        "seconds": round(seconds, 3),
        "labels": labels,
        "temperatures": temps,
        "start_seconds": meta.get("start_seconds"),
        "joins": [float(j) for j in meta.get("joins") or []],
        "window_seconds": round(window, 3),
        "windows": windows,
        "pulse_clarity": _finite(pulse_clarity(audio, cfg)),
        "tempo": asked_tempo(meta),
        "baseline": _baseline(settings.get("start"), labels, cfg, audio_dir),
    }
    expected = None
    if record["tempo"] is not None:  # the tempo it followed, at each window's centre
        times, values = _asked_curve(record)
        expected = np.interp(np.asarray(starts) + window / 2, times, values).tolist()
    record["beat"] = describe_beat(windows["clarity"], windows["tempo"], window, expected)
    mel = _track_mel(audio, cfg)
    for key, name, width in (
        ("png", "track.png", WIDE),
        ("png_narrow", "track_narrow.png", NARROW),
    ):
        save_track_png(mel, cfg, record, folder / name, width)
        record[key] = f"{TRACK_DIR}/{name}"
    record["panels"] = {"wide": time_span(WIDE), "narrow": time_span(NARROW)}
    return record


def asked_tempo(meta: dict) -> dict[str, Any] | None:
    """The tempo the track followed, as its track.json records it: ``bpm`` (one value, or a
    schedule spread evenly over what follows the start), ``how`` (asked, or the start's own
    tempo carried on) and ``start_bpm`` (the start's, where it has a clear beat); a vector
    model's bar-aligned joins give their bar's tempo. None where it followed none."""
    tempo = meta.get("tempo") or {}
    bpm = tempo.get("bpm")
    if isinstance(bpm, (int, float, list)) and bpm:
        how = str(tempo.get("clock") or "asked")
        return {"bpm": bpm, "how": how, "start_bpm": tempo.get("start_bpm")}
    if meta.get("bar_seconds"):
        return {"bpm": bar_bpm(float(meta["bar_seconds"])), "how": "bar-aligned joins"}
    return None


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def describe_beat(
    clarity: list[float], tempo: list[float], window: float, expected: list[float] | None = None
) -> dict[str, Any]:
    """The beat in words' terms: how many windows have a clear pulse (WINDOW_CLEAR_PULSE),
    the median tempo of those and its spread (std), and whether that is a steady beat: most
    windows clear and their tempi within STEADY_SPREAD_BPM. Given the tempo the track
    followed at each window (``expected``, a schedule may move), the spread is that of each
    clear window's tempo from it (the nearer of its half, itself or its double, as a tempo
    estimate may read either), and ``follows`` says so."""
    c, t = np.asarray(clarity, dtype=float), np.asarray(tempo, dtype=float)
    clear = (c >= WINDOW_CLEAR_PULSE) & np.isfinite(t)
    deviation = t[clear]
    if expected is not None and clear.any():
        e = np.asarray(expected, dtype=float)[clear]
        candidates = t[clear][:, None] / np.array([0.5, 1.0, 2.0])[None, :]  # as half, 1, double
        best = np.argmin(np.abs(candidates - e[:, None]), axis=1)
        deviation = candidates[np.arange(len(e)), best] - e
    info: dict[str, Any] = {
        "windows": int(len(c)),
        "clear_windows": int(clear.sum()),
        "window_seconds": window,
        "bpm": float(np.median(t[clear])) if clear.any() else None,
        "spread_bpm": float(np.std(deviation)) if clear.any() else None,
        "follows": expected is not None,
    }
    info["steady"] = bool(
        len(c) > 0 and clear.sum() > len(c) / 2 and info["spread_bpm"] <= STEADY_SPREAD_BPM
    )
    return info


def _baseline(
    start: Any, labels: list[str], cfg: AudioConfig, audio_dir: Path | None
) -> dict[str, Any] | None:
    """The pulse clarity of the music the track comes from: its start file where the
    track.json names one that exists, else the median of up to BASELINE_TRACKS real tracks
    of its first label in ``audio_dir`` (the dataset's folder layout, label/track)."""
    if isinstance(start, str) and Path(start).is_file() and is_audio_file(Path(start)):
        value = _finite(pulse_clarity(load_audio(start, cfg.sample_rate), cfg))
        if value is not None:
            return {"pulse_clarity": value, "what": f"the clip it starts from ({Path(start).name})"}
    if audio_dir is not None and labels and (Path(audio_dir) / labels[0]).is_dir():
        files = sorted(p for p in (Path(audio_dir) / labels[0]).iterdir() if is_audio_file(p))
        values = [
            pulse_clarity(load_audio(p, cfg.sample_rate), cfg) for p in files[:BASELINE_TRACKS]
        ]
        values = [v for v in values if np.isfinite(v)]
        if values:
            what = f"real {labels[0]} music of the dataset ({len(values)} tracks, median)"
            return {"pulse_clarity": float(np.median(values)), "what": what}
    return None


def _track_mel(audio: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """The track's normalized log-mel (n_mels, frames), MEL_CHUNK_SECONDS at a time."""
    hop = cfg.hop_length
    chunk = max(1, int(MEL_CHUNK_SECONDS * cfg.sample_rate) // hop) * hop
    parts = []
    for s in range(0, len(audio), chunk):
        piece = audio[s : s + chunk]
        if len(piece) < cfg.n_fft:
            piece = np.pad(piece, (0, cfg.n_fft - len(piece)))
        mel = log_mel_np(piece, cfg)
        parts.append(mel[:, : len(audio[s : s + chunk]) // hop] if s + chunk < len(audio) else mel)
    return np.concatenate(parts, axis=1)


# -- the picture ----------------------------------------------------------------------------
def save_track_png(
    mel: np.ndarray, cfg: AudioConfig, track: dict[str, Any], path: Path, width: float
) -> Path:
    """Four panels on one time axis, ``width`` inches wide with 9-point text: the labels and
    temperature over time, the spectrogram, the pulse clarity of each window (the line
    WINDOW_CLEAR_PULSE above which a tempo is stated) and that tempo. The time axis spans
    :func:`time_span` of the width (the page's playhead relies on it)."""
    plt = _pyplot()
    seconds = track["seconds"]
    heights = (0.55, 2.0, 0.8, 0.9)
    height = sum(heights) + 0.35 * len(heights) + 0.5
    with text_style(TEXT_POINTS.get(width, 9)):
        fig, axes = plt.subplots(
            len(heights),
            1,
            figsize=(width, height),
            sharex=True,
            gridspec_kw={"height_ratios": heights},
        )
        left, right = time_span(width)
        fig.subplots_adjust(
            left=left, right=right, bottom=0.45 / height, top=1 - 0.3 / height, hspace=0.42
        )
        _schedule_axes(axes[0], track, seconds)
        mel_axes(axes[1], mel, cfg, title="spectrogram")
        axes[1].set_xlabel("")
        if track.get("start_seconds"):
            for ax in axes:
                ax.axvline(track["start_seconds"], color="#3fb8af", linewidth=1.4)
            top = cfg.n_mels * 0.97
            axes[1].text(track["start_seconds"], top, " model →", color="w", va="top")
            axes[1].text(track["start_seconds"], top, "real ", color="w", va="top", ha="right")
        for j in track.get("joins", []):
            axes[1].axvline(j, color="white", linewidth=0.6, linestyle=":")
        _beat_axes(axes[2], axes[3], track)
        axes[3].set_xlim(0, seconds)
        axes[3].set_xlabel("time (s)")
        _save(fig, path, 180 if width <= NARROW else 120)
        plt.close(fig)
    return path


def time_span(width: float) -> tuple[float, float]:
    """The fractions of a figure ``width`` inches wide where its time axis starts and ends
    (0.55 in on the left for the Hz ticks, 0.15 in on the right)."""
    return 0.55 / width, 1 - 0.15 / width


def _schedule_axes(ax, track: dict[str, Any], seconds: float) -> None:
    """Temperature over time (a line) and the labels at the times they are reached."""
    temps, labels = track["temperatures"], track["labels"]
    times = np.linspace(0, seconds, len(temps)) if len(temps) > 1 else [0, seconds]
    values = temps if len(temps) > 1 else temps * 2
    ax.plot(times, values, color="#5b3cc4", linewidth=1.6)
    top = max(1.5, max(values) * 1.25)
    ax.set_ylim(0, top)
    ax.set_ylabel("temp.")
    ax.set_yticks([0, 1] if top < 2 else [0, round(top / 2, 1)])
    ax.set_title("labels, and temperature (line)", loc="left")
    if len(labels) == 1:
        ax.text(0.01, 0.5, labels[0], transform=ax.transAxes, va="center", fontweight="bold")
    elif labels:
        for k, name in enumerate(labels):
            x = seconds * k / (len(labels) - 1)
            ha = "left" if k == 0 else "right" if k == len(labels) - 1 else "center"
            ax.text(x, top * 0.5, name, ha=ha, va="center", fontweight="bold")
    ax.grid(alpha=0.25)


def _asked_curve(track: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The tempo the track followed over time, (times, BPM): the start's own up to the end of
    the real start (where known), then the asked value or schedule spread evenly over the
    rest, as the clock spreads it."""
    tempo = track.get("tempo")
    if not tempo:
        return None
    values = [float(v) for v in np.atleast_1d(tempo["bpm"])]
    start, end = float(track.get("start_seconds") or 0.0), float(track["seconds"])
    times = list(np.linspace(start, end, len(values))) if len(values) > 1 else [start, end]
    values = values if len(values) > 1 else values * 2
    if start > 0 and tempo.get("start_bpm"):
        times, values = [0.0, start, *times], [tempo["start_bpm"]] * 2 + values
    return np.asarray(times), np.asarray(values)


def _beat_axes(ax_clarity, ax_tempo, track: dict[str, Any]) -> None:
    """Pulse clarity per window as bars (coloured where it reaches WINDOW_CLEAR_PULSE), and the
    tempo of those windows only; the others are marked "no steady beat"."""
    w, hop = track["window_seconds"], track["window_seconds"] / 2
    starts = np.asarray(track["windows"]["starts"], dtype=float)
    clarity = np.asarray(track["windows"]["clarity"], dtype=float)
    tempo = np.asarray(track["windows"]["tempo"], dtype=float)
    centres = starts + w / 2
    clear = (clarity >= WINDOW_CLEAR_PULSE) & np.isfinite(tempo)
    colors = np.where(clear, "#5b3cc4", "#b9b9c3")
    ax_clarity.bar(centres, clarity, width=hop * 0.9, color=colors)
    ax_clarity.axhline(WINDOW_CLEAR_PULSE, color="0.35", linestyle="--", linewidth=0.9)
    ax_clarity.set_ylim(0, 1)
    ax_clarity.set_yticks([0, WINDOW_CLEAR_PULSE, 1])
    ax_clarity.set_ylabel("pulse")
    ax_clarity.set_title(f"pulse clarity per {w:g} s window", loc="left")
    if clear.any():
        ax_tempo.plot(centres[clear], tempo[clear], "o-", color="#5b3cc4", markersize=4)
        lo, hi = np.nanmin(tempo[clear]), np.nanmax(tempo[clear])
        ax_tempo.set_ylim(lo - 10, hi + 10)
    else:
        ax_tempo.set_ylim(60, 200)
        ax_tempo.set_yticks([])
    for centre, ok in zip(centres, clear):
        if not ok:
            ax_tempo.axvspan(centre - hop / 2, centre + hop / 2, color="0.92", linewidth=0)
    if not clear.all():
        ax_tempo.text(
            0.5,
            0.5,
            "no steady beat" if not clear.any() else "grey: no steady beat",
            transform=ax_tempo.transAxes,
            ha="center",
            va="center",
            color="0.35",
        )
    asked = _asked_curve(track)
    if asked is not None:
        times, values = asked
        ax_tempo.plot(times, values, color="#3fb8af", linewidth=1.6, label="tempo followed")
        lo, hi = ax_tempo.get_ylim() if clear.any() else (np.inf, -np.inf)
        ax_tempo.set_ylim(min(lo, np.min(values) - 10), max(hi, np.max(values) + 10))
        ax_tempo.set_yticks(sorted({round(float(v)) for v in (np.min(values), np.max(values))}))
    ax_tempo.set_ylabel("BPM")
    followed = " (teal: the tempo it followed)" if track.get("tempo") else ""
    ax_tempo.set_title(f"tempo where the pulse is clear{followed}", loc="left")
    ax_tempo.grid(alpha=0.25)
