"""The report's page: what :mod:`melvae.report.build` collected, as one self-contained HTML file.

Rendering only: nothing here touches a model, a dataset or an audio file. The input is a
:class:`ReportContent` of plain values whose paths are relative to the report folder; the
output is the text of ``index.html``. The page skeleton, its CSS and the latent grid's
JavaScript are package files (``melvae/report/templates/``), read with :mod:`importlib.resources`
and inlined, so the page loads nothing but the report's own PNGs and WAVs and works from
``file://``. Every value shown is escaped here (:func:`esc`); numbers are written by
:func:`melvae.report.present.format_value`.
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import quote

from melvae.layout import CURVES
from melvae.report.present import format_number, format_value
from melvae.version import __version__


@dataclass
class ReportContent:
    """What the page shows; every path is relative to the report folder (posix).

    model_facts: (name, value) rows of the model table.
    curves: the training curves PNG, or None where the run folder holds none.
    metrics: {section: {metric: value}} for the evaluation table, or None (no section).
    reconstructions: records of :func:`melvae.evaluation.analysis.reconstruct` (``original``,
        ``reconstruction`` and ``png`` relative), or None: no dataset. ``reconstructions_from``
        says which segments they are.
    generated: one {caption, wav, png} per generated clip, or None (no section).
    inverter: the mel-to-audio stage every clip was inverted with, in words.
    latent_map: :func:`melvae.evaluation.analysis.latent_map`'s info with ``png`` relative,
        or None: no dataset.
    grid: the latent grid as report.json records it ({n, xs, ys, extent_from, png, clips,
        label where conditional}), or None (no grid).
    """

    run_name: str
    created: str
    model_facts: list[tuple[str, Any]]
    curves: str | None = None
    metrics: dict[str, Any] | None = None
    reconstructions: list[dict[str, Any]] | None = None
    reconstructions_from: str = ""
    generated: list[dict[str, str]] | None = None
    inverter: str = ""
    latent_map: dict[str, Any] | None = None
    grid: dict[str, Any] | None = None


def esc(value: Any) -> str:
    """Text (or anything str() can show) made safe inside HTML text and quoted attributes."""
    return html.escape(str(value), quote=True)


def href(rel: str) -> str:
    """A path relative to the report folder as a URL-quoted, HTML-escaped reference."""
    return esc(quote(rel))


@functools.cache
def template(name: str) -> str:
    """The text of the package file ``melvae/report/templates/NAME``, read once."""
    return resources.files("melvae.report").joinpath("templates", name).read_text(encoding="utf-8")


# -- the page -------------------------------------------------------------------------------
def render_report(content: ReportContent) -> str:
    """The whole ``index.html``: a header with the sections' links, then each section."""
    sections = [
        ("model", "Model", _facts_table(content.model_facts)),
        ("training", "Training", _training(content.curves)),
    ]
    if content.metrics:
        sections.append(("evaluation", "Evaluation", _metrics_html(content.metrics)))
    sections.append(
        (
            "reconstructions",
            "Reconstructions",
            _reconstructions(content.reconstructions, content.reconstructions_from),
        )
    )
    if content.generated is not None:
        body = _generated(content.generated, content.inverter)
        sections.append(("generated", "Generated clips", body))
    sections.append(("latent", "Latent space", _latent(content.latent_map, content.grid)))
    return _page(content.run_name, content.created, sections, has_grid=content.grid is not None)


def _page(run_name: str, created: str, sections: list[tuple[str, str, str]], has_grid: bool) -> str:
    """sections: (id, title, html) each, in page order."""
    nav = "".join(f'<a href="#{esc(sid)}">{esc(title)}</a>' for sid, title, _ in sections)
    body = "\n".join(
        f'<section id="{esc(sid)}"><h2>{esc(title)}</h2>\n{content}\n</section>'
        for sid, title, content in sections
    )
    # The script only drives the latent grid: a page without one carries none.
    script = f"<script>\n{template('report.js')}</script>" if has_grid else ""
    return Template(template("report.html")).substitute(
        run=esc(run_name),
        created=esc(created),
        version=esc(__version__),
        css=template("report.css"),
        nav=nav,
        sections=body,
        script=script,
    )


# -- pieces ---------------------------------------------------------------------------------
def _facts_table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(
        f'<tr><th scope="row">{esc(k)}</th><td>{esc(format_value(v))}</td></tr>' for k, v in rows
    )
    return f"<table><tbody>{body}</tbody></table>"


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


def _player(label: str, rel: str) -> str:
    return (
        f'<div class="player"><span>{esc(label)}</span>'
        f'<audio controls preload="metadata" src="{href(rel)}"></audio></div>'
    )


def _card(png: str, caption: str, players: list[tuple[str, str]], alt: str) -> str:
    """A figure: the mel PNG, its caption and one player per (label, wav)."""
    audio = "".join(_player(label, rel) for label, rel in players)
    return (
        f'<figure class="card"><img src="{href(png)}" alt="{esc(alt)}" loading="lazy">'
        f"<figcaption>{esc(caption)}</figcaption>{audio}</figure>"
    )


def _training(curves: str | None) -> str:
    if curves is None:
        return f'<p class="note">The run folder holds no {esc(CURVES)}.</p>'
    return (
        f'<img src="{href(curves)}" alt="training and validation loss curves">'
        '<p class="note">Negative ELBO per segment (left); its reconstruction and KL terms '
        "(right).</p>"
    )


def _reconstructions(records: list[dict[str, Any]] | None, where: str) -> str:
    if records is None:
        return '<p class="note">No dataset folder: pass one to see reconstructions.</p>'
    cards = []
    for r in records:
        caption = (
            f"{r['source']} at {r['start_seconds']:.1f} s"
            + (f" [{r['label']}]" if r["label"] else "")
            + f" - mel L1 {r['mel_l1_db']:.2f} dB"
        )
        players = [("original", r["original"]), ("reconstruction", r["reconstruction"])]
        alt = f"original and reconstructed mel of {r['source']}"
        cards.append(_card(r["png"], caption, players, alt=alt))
    mean_l1 = sum(r["mel_l1_db"] for r in records) / len(records)
    return (
        f'<p class="note">{len(records)} {esc(where)}, encoded to their latent mean and '
        f"decoded; mean mel L1 {esc(format_number(mean_l1))} dB. The dataset stores mels "
        "only, so each original is its true mel inverted exactly as the reconstruction is: "
        "the difference you hear is the model's.</p>"
        f'<div class="cards">{"".join(cards)}</div>'
    )


def _generated(clips: list[dict[str, str]], inverter: str) -> str:
    cards = [
        _card(c["png"], c["caption"], [("generated", c["wav"])], alt=f"mel of {c['caption']}")
        for c in clips
    ]
    return (
        f'<p class="note">Latents drawn from the prior, decoded and inverted by '
        f"{html.escape(inverter)}.</p>"
        f'<div class="cards">{"".join(cards)}</div>'
    )


def _latent(map_info: dict[str, Any] | None, grid: dict[str, Any] | None) -> str:
    """The latent map beside, for a latent-2 model, the clickable grid."""
    if map_info is None:
        parts = ['<p class="note">No dataset folder: no latent map.</p>']
    else:
        if "plane" in map_info["panels"]:
            what = "the latent plane; dashed circles: 1 and 2 sigma of the prior"
            what += "; grey lattice: the cells of the latent grid" if grid else ""
        else:
            what = "a PCA projection"
            what += " and a t-SNE embedding" if "tsne" in map_info["panels"] else ""
        parts = [
            f'<figure><img src="{href(map_info["png"])}" '
            'alt="latent means coloured by label">'
            f'<figcaption class="note">Latent means of {map_info["n_points"]} segments coloured '
            f"by label: {esc(what)}.</figcaption></figure>"
        ]
    if grid:
        parts.append(_grid(grid))
    return '<div class="side">' + "".join(parts) + "</div>"


def _grid(grid: dict[str, Any]) -> str:
    """An n x n grid of buttons over the decoded grid's PNG; a click plays the cell's clip
    in the one player below (report.js)."""
    n, xs, ys, clips = grid["n"], grid["xs"], grid["ys"], grid["clips"]
    cells = []
    for clip in clips:  # row by row, as the PNG reads
        name = f"z1 = {clip['z'][0]:.2f}, z2 = {clip['z'][1]:.2f}"
        cells.append(
            f'<button type="button" class="cell" data-clip="{href(clip["wav"])}" '
            f'aria-label="{esc(name)}" title="{esc(name)}"></button>'
        )
    centre = clips[(n // 2) * n + n // 2]
    span = (
        f"z1 from {xs[0]:.2f} (left) to {xs[-1]:.2f} (right), "
        f"z2 from {ys[-1]:.2f} (bottom) to {ys[0]:.2f} (top): cell centres, over "
        f"{grid['extent_from']}"
    )
    if "label" in grid:
        span += f"; decoded with label {grid['label']}"
    centre_name = f"z1 = {centre['z'][0]:.2f}, z2 = {centre['z'][1]:.2f}"
    return (
        '<div><h3 style="margin-top:0">Latent grid: click a cell to hear it</h3>'
        f'<div class="latent-grid"><img src="{href(grid["png"])}" alt="mels decoded on a '
        f'{n} x {n} grid over the latent plane">'
        f'<div class="cells" style="grid-template-columns: repeat({n}, 1fr); '
        f'grid-template-rows: repeat({n}, 1fr)">{"".join(cells)}</div></div>'
        f'<p class="axis">{esc(span)}</p>'
        f'<p class="axis">Player: <span id="grid-now">{esc(centre_name)}</span></p>'
        f'<audio id="grid-player" controls preload="metadata" src="{href(centre["wav"])}">'
        "</audio></div>"
    )
