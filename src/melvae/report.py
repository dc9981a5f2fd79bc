"""One self-contained HTML report of a trained model: open ``index.html`` in any browser.

>>> from melvae.report import build_report
>>> metrics = {"test": {"mel L1 dB": 4.2}}
>>> build_report("runs/techno", "out/report", metrics=metrics)        # doctest: +SKIP

The folder holds the page, its PNGs and WAVs, and ``report.json`` (the same facts for
scripts). Every reference is a relative path inside the folder; the page loads nothing else
(no server, no CDN) and works from ``file://``. Inference only: never imports the training
code.
"""

from __future__ import annotations

import csv
import datetime
import html
import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from melvae.analysis import (
    decoded_grid,
    latent_map,
    reconstruct,
    validation_indices,
)
from melvae.api import Melvae
from melvae.audio import write_audio
from melvae.config import DEFAULT_ITERATIONS, jsonable
from melvae.errors import MelvaeError
from melvae.layout import AUDIO_CONFIG, CURVES, HISTORY, read_run_config, same_path
from melvae.plots import save_grid_png, save_mel_png
from melvae.present import format_number, format_value
from melvae.version import __version__

INDEX = "index.html"
SUBFOLDERS = ("reconstructions", "generated", "grid")

CSS = """
:root { --fg: #1f2024; --muted: #6a6b73; --line: #e2e3e8; --bg: #f6f6f8; --accent: #5b3cc4; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 20px 24px 40px; }
header h1 { font-size: 1.55em; margin: 8px 0 2px; }
header h1 .run { color: var(--accent); }
.muted, figcaption, .note { color: var(--muted); }
.note { font-size: 14px; margin: 0 0 12px; }
nav { margin: 10px 0 4px; }
nav a { color: var(--accent); text-decoration: none; margin-right: 16px; font-size: 14px; }
nav a:hover { text-decoration: underline; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px;
  padding: 16px 20px 20px; margin: 16px 0; }
h2 { font-size: 1.2em; margin: 0 0 12px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1em; margin: 18px 0 8px; }
img { max-width: 100%; height: auto; display: block; }
table { border-collapse: collapse; font-size: 14px; margin-bottom: 8px; }
th, td { text-align: left; padding: 4px 18px 4px 0; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 14px; }
.card { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 10px; }
.card figcaption { font-size: 13px; margin: 6px 0 4px; }
.player { margin-top: 6px; }
.player span { display: block; font-size: 12px; color: var(--muted); margin-bottom: 2px; }
audio { display: block; width: 100%; height: 34px; }
.side { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.side > * { flex: 1 1 420px; min-width: 0; margin: 0; }
.latent-grid { position: relative; width: 100%; max-width: 540px; aspect-ratio: 1 / 1;
  border-radius: 6px; overflow: hidden; }
.latent-grid img { position: absolute; inset: 0; width: 100%; height: 100%; }
.cells { position: absolute; inset: 0; display: grid; }
.cell { margin: 0; padding: 0; border: 0; background: transparent; cursor: pointer;
  box-shadow: inset 0 0 0 0.5px rgba(255, 255, 255, 0.45); }
.cell:hover, .cell:focus-visible { background: rgba(255, 255, 255, 0.2); outline: none; }
.cell.active { box-shadow: inset 0 0 0 3px #fff; background: rgba(255, 255, 255, 0.12); }
.axis { font-size: 13px; color: var(--muted); margin: 6px 0; }
#grid-now { font-variant-numeric: tabular-nums; }
footer { font-size: 13px; color: var(--muted); text-align: center; margin-top: 24px; }
"""

GRID_JS = """
(function () {
  var player = document.getElementById("grid-player");
  var now = document.getElementById("grid-now");
  var cells = document.querySelectorAll(".cell");
  function play(cell) {
    for (var k = 0; k < cells.length; k++) cells[k].classList.remove("active");
    cell.classList.add("active");
    player.src = cell.getAttribute("data-clip");
    now.textContent = cell.getAttribute("aria-label");
    var started = player.play();
    if (started && started.catch) started.catch(function () {});
  }
  for (var k = 0; k < cells.length; k++) {
    cells[k].addEventListener("click", function (event) { play(event.currentTarget); });
  }
})();
"""


def esc(value: Any) -> str:
    """Text (or anything str() can show) made safe inside HTML text and quoted attributes."""
    return html.escape(str(value), quote=True)


def _href(path: Path | str, root: Path) -> str:
    """A relative, URL-quoted and HTML-escaped reference to a file inside the report."""
    rel = Path(path).resolve().relative_to(root.resolve()).as_posix()
    return esc(quote(rel))


# -- metrics ---------------------------------------------------------------------------------
def _metrics_html(metrics: dict[str, Any]) -> str:
    parts = []
    for section, values in metrics.items():
        parts.append(f"<h3>{esc(section)}</h3>")
        if not isinstance(values, dict):
            parts.append(f'<p class="num">{esc(format_value(values))}</p>')
            continue
        rows = "".join(
            f'<tr><th scope="row">{esc(name)}</th><td class="num">{esc(format_value(v))}</td></tr>'
            for name, v in values.items()
        )
        parts.append(f"<table><tbody>{rows}</tbody></table>")
    return "\n".join(parts)


# -- pieces of the page ---------------------------------------------------------------------
def _player(label: str, path: Path, root: Path) -> str:
    return (
        f'<div class="player"><span>{esc(label)}</span>'
        f'<audio controls preload="metadata" src="{_href(path, root)}"></audio></div>'
    )


def _card(png: Path, caption: str, players: list[tuple[str, Path]], root: Path, alt: str) -> str:
    audio = "".join(_player(label, path, root) for label, path in players)
    return (
        f'<figure class="card"><img src="{_href(png, root)}" alt="{esc(alt)}" loading="lazy">'
        f"<figcaption>{esc(caption)}</figcaption>{audio}</figure>"
    )


def _facts_table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(
        f'<tr><th scope="row">{esc(k)}</th><td>{esc(format_value(v))}</td></tr>' for k, v in rows
    )
    return f"<table><tbody>{body}</tbody></table>"


def _history_epochs(run_dir: Path) -> int | None:
    path = run_dir / HISTORY
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def _model_facts(model: Melvae, run_dir: Path, saved: dict, data_dir: Path | None) -> list:
    info = model.info
    cfg = model.audio
    weights = sum(p.numel() for p in model.model.parameters())
    rows: list[tuple[str, Any]] = [
        ("run folder", str(run_dir.resolve())),
        ("model kind", model.kind),
        (
            "latent size",
            model.latent_dim
            if model.kind == "vector"
            else f"{model.latent_dim} channels every {model.model.rate} frames",
        ),
        ("conditional", model.model.cfg.conditional),
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
    if data_dir is not None:
        return Path(data_dir)
    trained_on = saved.get("data_dir")
    if trained_on and (Path(trained_on) / AUDIO_CONFIG).is_file():
        return Path(trained_on)
    return None


# -- the report -----------------------------------------------------------------------------
def build_report(
    run_dir: Path | str,
    out_dir: Path | str,
    data_dir: Path | str | None = None,
    metrics: dict[str, dict[str, Any]] | None = None,
    n_generate: int = 4,
    grid: int = 6,
    n_iter: int = DEFAULT_ITERATIONS,
    seed: int = 0,
    n_reconstruct: int = 4,
    device: str | None = None,
) -> Path:
    """Write a report of the model in ``run_dir`` into ``out_dir`` and return its index.html.

    The page shows the model's facts; the training curves (the run's curves.png, copied); an
    evaluation table from ``metrics`` ({section: {metric: number or list}}, lists summarized);
    ``n_reconstruct`` reconstructions of dataset segments (the run's validation segments
    where ``data_dir`` is the dataset it trained on) and ``n_generate`` clips from the prior,
    each with its mel PNG and players; the latent map; and for a latent-2 model a ``grid`` x
    ``grid`` latent grid whose cells play their pre-rendered clip when clicked.
    ``data_dir`` defaults to the dataset named in the run's config.json; without one the
    data-dependent sections say so. ``n_iter``: Griffin-Lim iterations for every clip.
    """
    run_dir, out = Path(run_dir), Path(out_dir)
    if same_path(run_dir, out):
        raise MelvaeError("write the report into its own folder, not the run folder")
    model = Melvae.load(run_dir, device=device)
    saved = read_run_config(run_dir, required=False)
    data = _resolve_data_dir(data_dir, saved)
    cfg = model.audio

    out.mkdir(parents=True, exist_ok=True)
    if (out / "report.json").is_file():  # a previous report: drop its clips, not stale files
        for sub in SUBFOLDERS:
            shutil.rmtree(out / sub, ignore_errors=True)
    facts: dict[str, Any] = {
        "run_dir": str(run_dir.resolve()),
        "data_dir": str(data) if data else None,
        "melvae_version": __version__,
        "created": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }
    sections: list[tuple[str, str, str]] = []  # (id, title, html)

    sections.append(("model", "Model", _facts_table(_model_facts(model, run_dir, saved, data))))

    # Training curves.
    if (run_dir / CURVES).is_file():
        shutil.copyfile(run_dir / CURVES, out / CURVES)
        body = (
            f'<img src="{_href(out / CURVES, out)}" alt="training and validation loss curves">'
            '<p class="note">Negative ELBO per segment (left); its reconstruction and KL terms '
            "(right).</p>"
        )
    else:
        body = f'<p class="note">The run folder holds no {esc(CURVES)}.</p>'
    sections.append(("training", "Training", body))

    if metrics:
        sections.append(("evaluation", "Evaluation", _metrics_html(metrics)))
        facts["metrics"] = metrics

    # Reconstructions.
    if data is not None and n_reconstruct > 0:
        pick: str | list[int] = "even"
        where = "evenly spaced segments of the dataset"
        if saved.get("data_dir") and same_path(saved["data_dir"], data):
            val = validation_indices(run_dir, data)
            if val:
                pick, where = val, "validation segments (tracks the model never trained on)"
        records = reconstruct(
            model, data, out / "reconstructions", n_reconstruct, n_iter=n_iter, seed=seed, pick=pick
        )
        cards = []
        for r in records:
            caption = (
                f"{r['source']} at {r['start_seconds']:.1f} s"
                + (f" [{r['label']}]" if r["label"] else "")
                + f" - mel L1 {r['mel_l1_db']:.2f} dB"
            )
            cards.append(
                _card(
                    Path(r["png"]),
                    caption,
                    [
                        ("original", Path(r["original"])),
                        ("reconstruction", Path(r["reconstruction"])),
                    ],
                    out,
                    alt=f"original and reconstructed mel of {r['source']}",
                )
            )
        mean_l1 = float(np.mean([r["mel_l1_db"] for r in records]))
        body = (
            f'<p class="note">{len(records)} {esc(where)}, encoded to their latent mean and '
            f"decoded; mean mel L1 {esc(format_number(mean_l1))} dB. The dataset stores mels "
            "only, so each original is its true mel inverted exactly as the reconstruction is: "
            "the difference you hear is the model's.</p>"
            f'<div class="cards">{"".join(cards)}</div>'
        )
        facts["reconstructions"] = [
            {
                **r,
                **{
                    k: Path(r[k]).relative_to(out).as_posix()
                    for k in ("original", "reconstruction", "png")
                },
            }
            for r in records
        ]
    else:
        body = '<p class="note">No dataset folder: pass one to see reconstructions.</p>'
    sections.append(("reconstructions", "Reconstructions", body))

    # Generated clips.
    if n_generate > 0:
        gen_dir = out / "generated"
        gen_dir.mkdir(parents=True, exist_ok=True)
        if model.model.cfg.conditional:
            names = [model.labels[k % len(model.labels)] for k in range(n_generate)]
            mels = np.concatenate(
                [model.generate_mels(1, label=name, seed=seed + k) for k, name in enumerate(names)]
            )
            captions = [f"label {name}, seed {seed + k}" for k, name in enumerate(names)]
        else:
            mels = model.generate_mels(n_generate, seed=seed)
            captions = [f"prior sample {k + 1} (seed {seed})" for k in range(n_generate)]
        waves = model.mel_to_audio(mels, n_iter=n_iter, seed=seed)
        cards, generated = [], []
        for k, (mel, wave, caption) in enumerate(zip(mels, waves, captions)):
            wav = write_audio(gen_dir / f"{k:02d}.wav", wave, cfg.sample_rate)
            png = save_mel_png(mel, cfg, gen_dir / f"{k:02d}.png", title=caption)
            cards.append(_card(png, caption, [("generated", wav)], out, alt=f"mel of {caption}"))
            generated.append(
                {"caption": caption, "wav": f"generated/{wav.name}", "png": f"generated/{png.name}"}
            )
        body = (
            f'<p class="note">Latents drawn from the prior, decoded and inverted with '
            f"{n_iter} Griffin-Lim iterations.</p>"
            f'<div class="cards">{"".join(cards)}</div>'
        )
        facts["generated"] = generated
        sections.append(("generated", "Generated clips", body))

    # Latent space.
    latent_parts = []
    map_info = None
    grid_n = grid if model.has_plane and grid and grid > 0 else None
    if data is not None:
        map_info = latent_map(model, data, out / "latent_map.png", grid=grid_n, seed=seed)
        what = (
            "the latent plane; dashed circles: 1 and 2 sigma of the prior"
            + ("; grey lattice: the cells of the latent grid" if grid_n else "")
            if model.has_plane
            else "a PCA projection"
            + (" and a t-SNE embedding" if "tsne" in map_info["panels"] else "")
        )
        latent_parts.append(
            f'<figure><img src="{_href(out / "latent_map.png", out)}" '
            'alt="latent means coloured by label">'
            f'<figcaption class="note">Latent means of {map_info["n_points"]} segments coloured '
            f"by label: {esc(what)}.</figcaption></figure>"
        )
        facts["latent_map"] = {**map_info, "png": "latent_map.png"}
    else:
        latent_parts.append('<p class="note">No dataset folder: no latent map.</p>')
    if grid_n:
        latent_parts.append(_grid_section(model, out, grid_n, map_info, n_iter, seed, facts))
    sections.append(
        ("latent", "Latent space", '<div class="side">' + "".join(latent_parts) + "</div>")
    )

    (out / "report.json").write_text(json.dumps(jsonable(facts, nonfinite="str"), indent=2) + "\n")
    page = _page(run_dir.resolve().name, facts["created"], sections, has_grid=bool(grid_n))
    tmp = out / f".{INDEX}.tmp"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out / INDEX)
    return out / INDEX


def _grid_section(
    model: Melvae, out: Path, n: int, map_info: dict | None, n_iter: int, seed: int, facts: dict
) -> str:
    extent = tuple(map_info["extent"]) if map_info else None
    mels, xs, ys = decoded_grid(model, n, extent)
    grid_dir = out / "grid"
    grid_dir.mkdir(parents=True, exist_ok=True)
    flat = mels.reshape(n * n, *mels.shape[2:])
    waves = np.concatenate(
        [
            model.mel_to_audio(flat[i : i + 16], n_iter=n_iter, seed=seed)
            for i in range(0, len(flat), 16)
        ]
    )
    png = save_grid_png(mels, model.audio, grid_dir / "grid.png", bare=True)
    cells, clips = [], []
    for i in range(n):
        for j in range(n):
            wav = write_audio(grid_dir / f"r{i}_c{j}.wav", waves[i * n + j], model.sample_rate)
            name = f"z1 = {xs[j]:.2f}, z2 = {ys[i]:.2f}"
            clips.append(
                {"row": i, "col": j, "z": [float(xs[j]), float(ys[i])], "wav": f"grid/{wav.name}"}
            )
            cells.append(
                f'<button type="button" class="cell" data-clip="{_href(wav, out)}" '
                f'aria-label="{esc(name)}" title="{esc(name)}"></button>'
            )
    centre = n // 2
    first = grid_dir / f"r{centre}_c{centre}.wav"
    where = "the data's latent means" if map_info else "+-2.5 sigma of the prior"
    facts["grid"] = {
        "n": n,
        "xs": xs,
        "ys": ys,
        "extent_from": where,
        "png": "grid/grid.png",
        "clips": clips,
    }
    span = (
        f"z1 from {xs[0]:.2f} (left) to {xs[-1]:.2f} (right), "
        f"z2 from {ys[-1]:.2f} (bottom) to {ys[0]:.2f} (top): cell centres, over {where}"
    )
    if model.model.cfg.conditional:
        span += f"; decoded with label {model.labels[0]}"
        facts["grid"]["label"] = model.labels[0]
    centre_name = f"z1 = {xs[centre]:.2f}, z2 = {ys[centre]:.2f}"
    return (
        '<div><h3 style="margin-top:0">Latent grid: click a cell to hear it</h3>'
        f'<div class="latent-grid"><img src="{_href(png, out)}" alt="mels decoded on a '
        f'{n} x {n} grid over the latent plane">'
        f'<div class="cells" style="grid-template-columns: repeat({n}, 1fr); '
        f'grid-template-rows: repeat({n}, 1fr)">{"".join(cells)}</div></div>'
        f'<p class="axis">{esc(span)}</p>'
        f'<p class="axis">Player: <span id="grid-now">{esc(centre_name)}</span></p>'
        f'<audio id="grid-player" controls preload="metadata" src="{_href(first, out)}"></audio>'
        "</div>"
    )


def _page(run_name: str, created: str, sections: list[tuple[str, str, str]], has_grid: bool) -> str:
    nav = "".join(f'<a href="#{esc(sid)}">{esc(title)}</a>' for sid, title, _ in sections)
    body = "\n".join(
        f'<section id="{esc(sid)}"><h2>{esc(title)}</h2>\n{content}\n</section>'
        for sid, title, content in sections
    )
    script = f"<script>{GRID_JS}</script>" if has_grid else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>melvae report: {esc(run_name)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<h1>melvae report: <span class="run">{esc(run_name)}</span></h1>
<p class="muted">Made {esc(created)} by melvae {esc(__version__)}.</p>
<nav>{nav}</nav>
</header>
{body}
<footer>All files of this report are in its folder; it needs no server or network.</footer>
</main>
{script}
</body>
</html>
"""
