"""One self-contained HTML report of a trained model: open ``index.html`` in any browser.

>>> from melvae.report.build import build_report
>>> metrics = {"test": {"mel L1 dB": 4.2}}
>>> build_report("runs/techno", "out/report", metrics=metrics)        # doctest: +SKIP

The folder holds the page, its PNGs and WAVs, and ``report.json`` (the same facts for
scripts). Every reference is a relative path inside the folder; the page loads nothing else
(no server, no CDN) and works from ``file://``. Inference only: never imports the training
code.

This module makes and collects what the page shows: the model's facts, reconstructions, clips
from the prior, the latent map and grid, every clip inverted by the model interface
(:meth:`melvae.api.Melvae.mel_to_audio`, directly or through
:mod:`melvae.evaluation.analysis`), written as WAV and PNG into the folder.
:mod:`melvae.report.html` turns the collected values into the page;
:mod:`melvae.report.present` writes the numbers and report.json.
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
from melvae.config import REPORT_CLIPS, REPORT_GRID
from melvae.errors import MelvaeError
from melvae.evaluation.analysis import (
    decoded_grid,
    latent_map,
    reconstruct,
    validation_indices,
)
from melvae.layout import AUDIO_CONFIG, CURVES, HISTORY, read_run_config, same_path
from melvae.plots import save_grid_png, save_mel_png
from melvae.report.html import ReportContent, render_report
from melvae.report.present import write_metrics
from melvae.safeio import copy_file, write_text
from melvae.version import __version__

INDEX = "index.html"
SUBFOLDERS = ("reconstructions", "generated", "grid")
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
) -> Path:
    """Write a report of the model in ``run_dir`` into ``out_dir`` and return its index.html.

    The page shows the model's facts; the training curves (the run's curves.png, copied); an
    evaluation table from ``metrics`` ({section: {metric: number or list}}, lists summarized);
    ``n_reconstruct`` reconstructions of dataset segments (the run's validation segments
    where ``data_dir`` is the dataset it trained on) and ``n_generate`` clips from the prior,
    each with its mel PNG and players; the latent map; and for a latent-2 model a ``grid`` x
    ``grid`` latent grid whose cells play their pre-rendered clip when clicked.
    ``data_dir`` defaults to the dataset named in the run's config.json; without one the
    data-dependent sections say so. ``model``: the run's model as loaded (with its
    mel-to-audio stage, which inverts every clip); default: loaded from ``run_dir``.
    """
    run_dir, out = Path(run_dir), Path(out_dir)
    if same_path(run_dir, out):
        raise MelvaeError("write the report into its own folder, not the run folder")
    model = Melvae.load(run_dir, device=device) if model is None else model
    saved = read_run_config(run_dir, required=False)
    data = _resolve_data_dir(data_dir, saved)

    out.mkdir(parents=True, exist_ok=True)
    if (out / "report.json").is_file():  # a previous report: drop its clips, not stale files
        for sub in SUBFOLDERS:
            shutil.rmtree(out / sub, ignore_errors=True)
    # facts: report.json; content: the page. They share the records (paths relative to out).
    facts: dict[str, Any] = {
        "run_dir": str(run_dir.resolve()),
        "data_dir": str(data) if data else None,
        "melvae_version": __version__,
        "created": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }
    content = ReportContent(
        run_name=run_dir.resolve().name,
        created=facts["created"],
        model_facts=_model_facts(model, run_dir, saved, data),
        inverter=model.inverter.summary(),
    )
    if (run_dir / CURVES).is_file():
        copy_file(run_dir / CURVES, out / CURVES)
        content.curves = CURVES
    if metrics:
        content.metrics = facts["metrics"] = metrics
    if data is not None and n_reconstruct > 0:
        records, where = _reconstructions(model, run_dir, saved, data, out, n_reconstruct, seed)
        content.reconstructions = facts["reconstructions"] = records
        content.reconstructions_from = where
    if n_generate > 0:
        clips = _generated(model, out, n_generate, seed)
        content.generated = facts["generated"] = clips
    grid_n = grid if model.has_plane and grid and grid > 0 else None
    map_info = None
    if data is not None:
        map_info = latent_map(model, data, out / "latent_map.png", grid=grid_n, seed=seed)
        content.latent_map = facts["latent_map"] = {**map_info, "png": "latent_map.png"}
    if grid_n:
        extent = tuple(map_info["extent"]) if map_info else None
        content.grid = facts["grid"] = _grid(model, out, grid_n, extent, seed)

    write_metrics(facts, out / "report.json", nonfinite="str")
    write_text(out / INDEX, render_report(content))  # atomic (melvae.safeio)
    return out / INDEX


# -- what the page shows --------------------------------------------------------------------
def _reconstructions(
    model: Melvae,
    run_dir: Path,
    saved: dict,
    data: Path,
    out: Path,
    n: int,
    seed: int,
) -> tuple[list[dict[str, Any]], str]:
    """n reconstructions into out/reconstructions: the run's validation segments where
    ``data`` is the dataset it trained on, else evenly spaced ones. Returns the records of
    :func:`melvae.evaluation.analysis.reconstruct` with paths relative to ``out``, and which
    segments they are, in words."""
    pick: str | list[int] = "even"
    where = "evenly spaced segments of the dataset"
    if saved.get("data_dir") and same_path(saved["data_dir"], data):
        val = validation_indices(run_dir, data)
        if val:
            pick, where = val, "validation segments (tracks the model never trained on)"
    records = reconstruct(model, data, out / "reconstructions", n, seed=seed, pick=pick)
    relative = [
        {
            **r,
            **{
                k: Path(r[k]).relative_to(out).as_posix()
                for k in ("original", "reconstruction", "png")
            },
        }
        for r in records
    ]
    return relative, where


def _generated(model: Melvae, out: Path, n: int, seed: int) -> list[dict[str, str]]:
    """n clips from the prior (a conditional model: its labels in turn, seed + k each) as
    out/generated/NN.wav and NN.png; one {caption, wav, png} each, paths relative to out."""
    gen_dir = out / "generated"
    gen_dir.mkdir(parents=True, exist_ok=True)
    if model.conditional:
        names = [model.labels[k % len(model.labels)] for k in range(n)]
        mels = np.concatenate(
            [model.generate_mels(1, label=name, seed=seed + k) for k, name in enumerate(names)]
        )
        captions = [f"label {name}, seed {seed + k}" for k, name in enumerate(names)]
    else:
        mels = model.generate_mels(n, seed=seed)
        captions = [f"prior sample {k + 1} (seed {seed})" for k in range(n)]
    waves = model.mel_to_audio(mels, seed=seed)
    clips = []
    for k, (mel, wave, caption) in enumerate(zip(mels, waves, captions)):
        wav = write_audio(gen_dir / f"{k:02d}.wav", wave, model.sample_rate)
        png = save_mel_png(mel, model.audio, gen_dir / f"{k:02d}.png", title=caption)
        clips.append(
            {"caption": caption, "wav": f"generated/{wav.name}", "png": f"generated/{png.name}"}
        )
    return clips


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
def _history_epochs(run_dir: Path) -> int | None:
    """Epochs the run's history.csv records (one row each), or None without one."""
    path = run_dir / HISTORY
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh))


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
    epochs = _history_epochs(run_dir)
    if epochs is not None:
        rows.append(("epochs trained", epochs))
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
