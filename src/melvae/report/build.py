"""One self-contained HTML report of a trained model: open ``index.html`` in any browser.

>>> from melvae.report.build import build_report
>>> metrics = {"test": {"mel L1 dB": 4.2}}
>>> build_report("runs/techno", "out/report", metrics=metrics)        # doctest: +SKIP

The folder holds the page, its PNGs and WAVs, and ``report.json`` (the same facts for
scripts). Every reference is a relative path inside the folder; the page loads nothing else
(no server, no CDN) and works from ``file://``. Inference only: never imports the training
code.

This module makes and collects what the page shows: the model's facts, the summary's
verdicts (:mod:`melvae.report.verdicts`), the long track (:mod:`melvae.report.track`),
reconstructions to compare fairly, clips from the prior and an interpolation
(:mod:`melvae.report.listening`), the latent map and grid; every clip is inverted by the
model interface (:meth:`melvae.api.Melvae.mel_to_audio`). :mod:`melvae.report.html` turns
the collected values into the page; :mod:`melvae.report.present` writes report.json.
"""

from __future__ import annotations

import csv
import datetime
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from melvae.api import Melvae
from melvae.audio.io import write_audio
from melvae.config import (
    DEFAULT_TEMPERATURE,
    LOOP_BARS,
    REPORT_CLIPS,
    REPORT_GRID,
    REPORT_LOOP_BPM,
    REPORT_LOOPS,
    REPORT_STEPS,
)
from melvae.data.dataset import MelDataset
from melvae.errors import MelvaeError
from melvae.evaluation.analysis import decoded_grid, latent_map, validation_indices
from melvae.layout import AUDIO_CONFIG, HISTORY, SUMMARY, read_run_config, same_path
from melvae.plots import save_grid_png, save_history_pngs
from melvae.report import listening
from melvae.report.html import ReportContent, render_report
from melvae.report.present import write_metrics
from melvae.report.track import long_track
from melvae.report.verdicts import summarize
from melvae.safeio import write_text
from melvae.version import __version__

INDEX = "index.html"
SUBFOLDERS = ("reconstructions", "generated", "grid", "interpolation", "track", "loops")
GRID_BATCH = 16  # grid cells inverted per call: bounds memory for a large grid


# -- the report -----------------------------------------------------------------------------
def build_report(
    run_dir: Path | str,
    out_dir: Path | str,
    data_dir: Path | str | None = None,
    metrics: dict[str, dict[str, Any]] | None = None,
    n_generate: int = REPORT_CLIPS,
    grid: int = REPORT_GRID,
    seed: int = 0,
    n_reconstruct: int = 4,
    device: str | None = None,
    model: Melvae | None = None,
    longform: Path | str | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    steps: int = REPORT_STEPS,
    n_loops: int = REPORT_LOOPS,
    loop_bpm: float | None = None,
) -> Path:
    """Write a report of the model in ``run_dir`` into ``out_dir`` and return its index.html.

    The page opens with a summary: each part of ``metrics`` (the evaluation, {section:
    {figure: value}}) judged in words against its own baseline; every figure follows in
    collapsible tables. Then the long track ``longform`` (a file made by ``melvae
    longform``, its .json beside it) with its player, picture and beat; ``n_reconstruct``
    reconstructions of dataset segments (the run's validation segments where ``data_dir``
    is the dataset it trained on) beside their recordings and the inversion alone,
    loudness-matched; ``n_generate`` clips from the prior at ``temperature`` (a labelled
    model's labels in turn), each with its seed; an interpolation of ``steps`` steps
    (between the first and last label, else two of the segments shown); with a clocked
    prior, ``n_loops`` seamless loops of LOOP_BARS bars at ``loop_bpm`` (default: the tempo
    the long track followed, else REPORT_LOOP_BPM); the latent map;
    the training curves; and for a latent-2 model a ``grid`` x ``grid`` latent grid whose
    cells play their clip when clicked. ``data_dir`` defaults to the dataset named in the
    run's config.json; without one the data-dependent sections say so. ``model``: the run's
    model as loaded (with its mel-to-audio stage, which inverts every clip); default: loaded
    from ``run_dir``.
    """
    run_dir, out = Path(run_dir), Path(out_dir)
    if same_path(run_dir, out):
        raise MelvaeError("write the report into its own folder, not the run folder")
    if longform is not None and not Path(longform).is_file():
        raise MelvaeError(f"no such track: {longform}")
    model = Melvae.load(run_dir, device=device) if model is None else model
    saved = read_run_config(run_dir, required=False)
    data = _resolve_data_dir(data_dir, saved)

    out.mkdir(parents=True, exist_ok=True)
    if (out / "report.json").is_file():  # a previous report: drop its clips, not stale files
        for sub in SUBFOLDERS:
            shutil.rmtree(out / sub, ignore_errors=True)
        for old in out.glob("curves*.png"):
            old.unlink()
    # facts: report.json; content: the page. They share the records (paths relative to out).
    facts: dict[str, Any] = {
        "run_dir": str(run_dir.resolve()),
        "data_dir": str(data) if data else None,
        "melvae_version": __version__,
        "created": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }
    dataset = _dataset_facts(data)
    content = ReportContent(
        title=_title(model, data, dataset),
        created=facts["created"],
        about=_about(model, run_dir, dataset, metrics),
        model_facts=_model_facts(model, run_dir, saved, data),
        inverter=model.inverter.summary(),
    )
    if (run_dir / HISTORY).is_file():
        content.curves = [p.name for p in save_history_pngs(run_dir / HISTORY, out)]
    if metrics:
        content.metrics = facts["metrics"] = metrics
    audio_dir = None
    if data is not None:
        audio_dir = MelDataset(data).audio_dir
    if longform is not None:
        content.track = facts["track"] = long_track(longform, model.audio, out, audio_dir)
    content.summary = summarize(metrics, content.track)
    shown: list[dict[str, Any]] = []
    if data is not None and n_reconstruct > 0:
        pick: str | list[int] = "even"
        content.reconstructions_from = "evenly spaced segments of the dataset"
        if saved.get("data_dir") and same_path(saved["data_dir"], data):
            val = validation_indices(run_dir, data)
            if val:
                pick = val
                content.reconstructions_from = "segments of tracks held out of training"
        shown, content.recordings = listening.reconstructions(
            model, data, out, n_reconstruct, pick, seed
        )
        content.reconstructions = facts["reconstructions"] = shown
    if n_generate > 0:
        clips = listening.generated(model, out, n_generate, temperature, seed)
        content.generated = facts["generated"] = clips
    ends = _interpolation_ends(model, data, shown)
    if ends is not None and steps >= 2:
        content.interpolation = facts["interpolation"] = listening.interpolation(
            model, out, *ends, steps, seed
        )
    if _has_clock(model) and n_loops > 0:
        bpm = loop_bpm or _track_bpm(content.track) or REPORT_LOOP_BPM
        content.loops = facts["loops"] = listening.loops(
            model, out, n_loops, bpm, LOOP_BARS, temperature, seed
        )
    elif model.needs_prior:
        content.loops = {"missing": "its prior keeps no clock (train --prior beat for loops)"}
    grid_n = grid if model.has_plane and grid and grid > 0 else None
    map_info = None
    if data is not None:
        narrow = out / "latent_map_narrow.png"
        map_info = latent_map(
            model, data, out / "latent_map.png", grid=grid_n, seed=seed, narrow_png=narrow
        )
        content.latent_map = facts["latent_map"] = {
            **map_info,
            "png": "latent_map.png",
            "png_narrow": narrow.name,
        }
    if grid_n:
        extent = tuple(map_info["extent"]) if map_info else None
        content.grid = facts["grid"] = _grid(model, out, grid_n, extent, seed)

    write_metrics(facts, out / "report.json", nonfinite="str")
    write_text(out / INDEX, render_report(content))  # atomic (melvae.safeio)
    return out / INDEX


def _has_clock(model: Melvae) -> bool:
    """Whether the model's prior keeps a clock (beat phase and tempo): loops need one."""
    return model.prior is not None and bool(getattr(model.prior, "has_clock", False))


def _track_bpm(track: dict[str, Any] | None) -> float | None:
    """The one tempo a long track followed, or None (none, or a schedule)."""
    tempo = (track or {}).get("tempo") or {}
    return float(tempo["bpm"]) if isinstance(tempo.get("bpm"), (int, float)) else None


def _interpolation_ends(model: Melvae, data: Path | None, shown: list[dict[str, Any]]):
    """(a, b, (a's name, b's name)): the first and last label of a labelled model, else the
    mels of the first and last reconstruction shown; None where neither exists."""
    if len(model.labels) >= 2:
        return model.labels[0], model.labels[-1], (model.labels[0], model.labels[-1])
    if data is None or len(shown) < 2:
        return None
    dataset = MelDataset(data)
    first, last = shown[0], shown[-1]
    names = tuple(f"{Path(r['source']).name} at {r['start_seconds']:.1f} s" for r in (first, last))
    mels = [np.asarray(dataset.mels[r["segment"]], np.float32) for r in (first, last)]
    return mels[0], mels[1], names


# -- what the page shows --------------------------------------------------------------------
def _grid(
    model: Melvae,
    out: Path,
    n: int,
    extent: tuple[float, float, float, float] | None,
    seed: int,
) -> dict[str, Any]:
    """An n x n grid decoded over the latent plane (``extent``: the data's, else the
    prior's), each cell inverted to out/grid/rI_cJ.wav, the mels to out/grid/grid.png.
    Returns the grid as report.json records it: n, xs, ys, where the extent came from, the
    PNG and one {row, col, z, wav} per cell, row by row (and the label it was decoded with)."""
    mels, xs, ys = decoded_grid(model, n, extent)
    grid_dir = out / "grid"
    grid_dir.mkdir(parents=True, exist_ok=True)
    flat = mels.reshape(n * n, *mels.shape[2:])
    waves = np.concatenate(
        [
            model.mel_to_audio(flat[i : i + GRID_BATCH], seed=seed)
            for i in range(0, len(flat), GRID_BATCH)
        ]
    )
    save_grid_png(mels, model.audio, grid_dir / "grid.png", bare=True)
    clips = []
    for i in range(n):
        for j in range(n):
            wav = write_audio(grid_dir / f"r{i}_c{j}.wav", waves[i * n + j], model.sample_rate)
            clips.append(
                {"row": i, "col": j, "z": [float(xs[j]), float(ys[i])], "wav": f"grid/{wav.name}"}
            )
    info: dict[str, Any] = {
        "n": n,
        "xs": xs,
        "ys": ys,
        "extent_from": "the data's latent means" if extent else "+-2.5 sigma of the prior",
        "png": "grid/grid.png",
        "clips": clips,
    }
    if model.conditional:  # decoded_grid's default: the first label
        info["label"] = model.labels[0]
    return info


# -- the model's facts ----------------------------------------------------------------------
def _history(run_dir: Path) -> tuple[int, float] | None:
    """(epochs, seconds) that the run's history.csv records, or None without one."""
    path = run_dir / HISTORY
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return len(rows), sum(float(r.get("seconds") or 0) for r in rows)


def _dataset_facts(data: Path | None) -> dict[str, Any]:
    """The dataset's summary.json (files read, segments, hours, labels), or {}."""
    import json

    if data is None or not (data / SUMMARY).is_file():
        return {}
    try:
        return json.loads((data / SUMMARY).read_text())
    except (OSError, ValueError):
        return {}


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _title(model: Melvae, data: Path | None, dataset: dict[str, Any]) -> str:
    """The model and its data: "sequence model of ambient, breakbeat and techno"."""
    labels = list(model.labels) or list(dataset.get("labels") or {})
    if labels:
        of = _words(labels) if len(labels) <= 5 else f"{len(labels)} styles"
    elif data is not None:
        of = f"the music in {data.resolve().name}"
    else:
        of = "unlabelled music"
    return f"{model.kind.capitalize()} model of {of}"


def _about(model: Melvae, run_dir: Path, dataset: dict[str, Any], metrics: dict | None) -> str:
    """One sentence: what it learned from, for how long, and what it was judged on."""
    parts = []
    if dataset.get("hours"):
        minutes = dataset["hours"] * 60
        parts.append(
            f"Learned from {minutes:.0f} min of audio ({dataset.get('files_read', '?')} files, "
            f"{dataset.get('segments', '?')} segments of {model.audio.segment_seconds:g} s)"
        )
    history = _history(run_dir)
    if history:
        epochs, seconds = history
        parts.append(f"trained {epochs} epochs ({seconds / 60:.1f} min of autoencoder training)")
    settings = (metrics or {}).get("settings") or {}
    if settings.get("segments"):
        held = "held-out " if settings.get("split") == "val" else ""
        parts.append(
            f"judged on {settings['segments']} {held}segments of {settings.get('tracks', '?')} "
            f"tracks and {settings.get('generated', '?')} generated clips"
        )
    text = "; ".join(parts)
    return (text[0].upper() + text[1:] + ".") if text else ""


def _model_facts(model: Melvae, run_dir: Path, saved: dict, data_dir: Path | None) -> list:
    """(name, value) rows of the page's model table."""
    info = model.info
    cfg = model.audio
    weights = model.n_weights
    rows: list[tuple[str, Any]] = [
        ("run folder", str(run_dir.resolve())),
        ("model kind", model.kind),
        (
            "latent size",
            model.latent_dim
            if model.latent_rate is None
            else f"{model.latent_dim} channels every {model.latent_rate} frames",
        ),
        ("conditional", model.conditional),
        ("labels", ", ".join(model.labels) or "none (unlabelled data)"),
        ("weights", f"{weights:,}"),
        (
            "audio",
            f"{cfg.sample_rate} Hz, {cfg.segment_seconds:g} s segments, {cfg.n_mels} mel bands "
            f"x {cfg.segment_frames} frames",
        ),
    ]
    history = _history(run_dir)
    if history is not None:
        rows.append(("epochs trained", f"{history[0]} ({history[1] / 60:.1f} min)"))
    if "epoch" in info:
        rows.append(("checkpoint epoch", info["epoch"]))
    if "best_score" in info:
        rows.append((f"best {info.get('monitor', 'score')}", info["best_score"]))
    if saved.get("train"):
        train = saved["train"]
        keys = ("batch_size", "lr", "beta", "kl_warmup_epochs", "free_bits", "schedule")
        rows.append(("training settings", {k: train[k] for k in keys if k in train}))
    rows.append(("dataset", str(data_dir) if data_dir is not None else "not found"))
    return rows


def _resolve_data_dir(data_dir: Path | str | None, saved: dict) -> Path | None:
    """The dataset given, else the one the run trained on where it still exists, else None."""
    if data_dir is not None:
        return Path(data_dir)
    trained_on = saved.get("data_dir")
    if trained_on and (Path(trained_on) / AUDIO_CONFIG).is_file():
        return Path(trained_on)
    return None
