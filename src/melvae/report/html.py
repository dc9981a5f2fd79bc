"""The report's page: what :mod:`melvae.report.build` collected, as one self-contained HTML file.

Rendering only: nothing here touches a model, a dataset or an audio file. The input is a
:class:`ReportContent` of plain values whose paths are relative to the report folder; the
output is the text of ``index.html``. The page skeleton, its CSS and scripts are package
files (``melvae/report/templates/``), read with :mod:`importlib.resources` and inlined, so the
page loads nothing but the report's own PNGs and WAVs and works from ``file://``; a page
carries only the styles and scripts of the sections it has (the latent grid's, the long
track's). Every value shown is escaped (:func:`melvae.report.markup.esc`); numbers are written by
:func:`melvae.report.present.format_value`. This module holds the page, the summary and the
tables of figures; :mod:`melvae.report.sections` the sections that play and show clips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from string import Template
from typing import Any

from melvae.audio.beats import CLEAR_PULSE
from melvae.report import sections as s
from melvae.report.glossary import ARROWS, SECTIONS, describe
from melvae.report.markup import esc, template
from melvae.report.present import format_number, format_value, is_number
from melvae.report.verdicts import Verdict, overall
from melvae.version import __version__


@dataclass
class ReportContent:
    """What the page shows; every path is relative to the report folder (posix).

    title: the model and its data in words; about: one sentence of what it learned from.
    model_facts: (name, value) rows of the model table.
    summary: the verdicts of :func:`melvae.report.verdicts.summarize`.
    curves: the training curves' PNGs (none where the run folder has no history).
    metrics: {section: {figure: value}}, the evaluation, or None.
    track: the long track as :func:`melvae.report.track.long_track` records it, or None.
    reconstructions: records of :func:`melvae.report.listening.reconstructions`, or None: no
        dataset. ``reconstructions_from`` says which segments they are; ``recordings``
        whether each has its real recording.
    generated: records of :func:`melvae.report.listening.generated`, or None (no section).
    interpolation: :func:`melvae.report.listening.interpolation`'s record, or None.
    loops: :func:`melvae.report.listening.loops`'s record, {"missing": why} for a model that
        samples through a prior without a clock, or None (no section).
    inverter: the mel-to-audio stage every clip was inverted with, in words.
    latent_map: :func:`melvae.evaluation.analysis.latent_map`'s info with ``png`` relative,
        or None: no dataset.
    grid: the latent grid as report.json records it ({n, xs, ys, extent_from, png, clips,
        label where conditional}), or None (no grid).
    """

    title: str
    created: str
    model_facts: list[tuple[str, Any]]
    about: str = ""
    summary: list[Verdict] = field(default_factory=list)
    curves: list[str] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    track: dict[str, Any] | None = None
    reconstructions: list[dict[str, Any]] | None = None
    reconstructions_from: str = ""
    recordings: bool = False
    generated: list[dict[str, Any]] | None = None
    interpolation: dict[str, Any] | None = None
    loops: dict[str, Any] | None = None
    inverter: str = ""
    latent_map: dict[str, Any] | None = None
    grid: dict[str, Any] | None = None


# -- the page -------------------------------------------------------------------------------
def render_report(content: ReportContent) -> str:
    """The whole ``index.html``: a header with the sections' links, then each section."""
    parts = [("summary", "Summary", _summary(content))]
    if content.track is not None:
        parts.append(("track", "Long track", s.track(content.track)))
    parts.append(
        (
            "reconstructions",
            "Reconstructions",
            s.reconstructions(
                content.reconstructions,
                content.reconstructions_from,
                content.recordings,
                content.metrics,
            ),
        )
    )
    if content.generated is not None:
        parts.append(
            ("generated", "Generated clips", s.generated(content.generated, content.inverter))
        )
    if content.loops is not None:
        parts.append(("loops", "Loops", s.loops(content.loops)))
    if content.interpolation is not None:
        parts.append(("interpolation", "Interpolation", s.interpolation(content.interpolation)))
    parts.append(("latent", "Latent space", s.latent(content.latent_map, content.grid)))
    parts.append(("training", "Training", s.training(content.curves)))
    parts.append(("figures", "All figures", _figures(content.metrics, content.model_facts)))
    css, scripts = [template("report.css")], []
    if content.track is not None:  # only the styles and scripts of the sections it has
        css.append(template("track.css"))
        scripts.append(template("track.js"))
    if content.grid is not None:
        css.append(template("grid.css"))
        scripts.append(template("grid.js"))
    return _page(content, parts, "".join(css), scripts)


def _page(content: ReportContent, parts: list[tuple[str, str, str]], css: str, scripts) -> str:
    """parts: (id, title, html) each, in page order."""
    nav = "".join(f'<a href="#{esc(sid)}">{esc(title)}</a>' for sid, title, _ in parts)
    body = "\n".join(
        f'<section id="{esc(sid)}"><h2>{esc(title)}</h2>\n{html_}\n</section>'
        for sid, title, html_ in parts
    )
    script = "".join(f"<script>\n{js}</script>\n" for js in scripts)
    return Template(template("report.html")).substitute(
        title=esc(content.title),
        about=esc(content.about),
        created=esc(content.created),
        version=esc(__version__),
        css=css,
        nav=nav,
        sections=body,
        script=script,
    )


# -- the summary ----------------------------------------------------------------------------
MARKS = {"good": ("↑", "good"), "fair": ("→", "fair"), "poor": ("↓", "falls short")}


def _summary(content: ReportContent) -> str:
    verdicts = content.summary
    rows = []
    for v in verdicts:
        mark, word = MARKS[v.grade]
        details = "".join(f"<li>{esc(d)}</li>" for d in v.details)
        rows.append(
            f'<div class="verdict {esc(v.grade)}">'
            f'<span class="mark" aria-hidden="true">{mark}</span><div>'
            f'<h3>{esc(v.topic)} <span class="grade">{esc(word)}</span></h3>'
            f'<p class="headline">{esc(v.headline)}</p>'
            + (f'<ul class="details">{details}</ul>' if details else "")
            + "</div></div>"
        )
    note = (
        "Each verdict sets a figure beside the baseline that gives it meaning: the "
        "inversion's own limit, real music against itself, the music a track starts from. "
        "↑ good, → fair, ↓ falls short. The figures are computed offline from hand-made "
        "features, not a trained listener: trust your ears over them, with the players below. "
        'Every figure, with its unit and direction, is under <a href="#figures">All '
        "figures</a>."
    )
    return (
        f'<p class="overall">{esc(overall(verdicts))}</p>'
        f'<div class="verdicts">{"".join(rows)}</div>'
        f'<p class="note">{note}</p>'
    )


# -- every figure ---------------------------------------------------------------------------
def with_unit(value: Any, unit: str) -> str:
    """A figure as the tables write it: a share as a percentage, a ratio with an x, else the
    number and its unit."""
    if is_number(value) and unit == "share":
        return f"{float(value):.0%}"
    if is_number(value) and unit == "x":
        return f"{format_number(value)}x"
    text = format_value(value)
    return f"{text} {unit}" if unit and (is_number(value) or isinstance(value, list)) else text


def _figure_rows(name: str, values: dict[str, Any]) -> str:
    rows = []
    unclear = name == "longform" and (values.get("pulse_clarity") or 0) < CLEAR_PULSE
    for key, value in values.items():
        fig = describe(key)
        shown = esc(with_unit(value, fig.unit))
        if key == "tempo_bpm" and unclear:
            shown += "<small>not a tempo: the pulse is not clear enough (no steady beat)</small>"
        kind = ' class="num"' if is_number(value) else ""
        rows.append(
            f'<tr><th scope="row">{esc(fig.name)}<code>{esc(key)}</code></th>'
            f"<td{kind}>{shown}</td>"
            f'<td class="better">{esc(ARROWS.get(fig.better, ""))}</td></tr>'
        )
    return "".join(rows)


def _figures(metrics: dict[str, Any] | None, facts: list[tuple[str, Any]]) -> str:
    """The evaluation's figures, one collapsible table per section, then the model's facts."""
    parts = []
    for name, values in (metrics or {}).items():
        title = SECTIONS.get(name, name)
        if isinstance(values, dict):
            body = (
                '<div class="table-wrap"><table class="figures"><thead><tr><th>figure</th>'
                "<th>value</th><th>better</th></tr></thead>"
                f"<tbody>{_figure_rows(name, values)}</tbody></table></div>"
            )
        else:
            body = f'<p class="num">{esc(format_value(values))}</p>'
        parts.append(f"<details><summary>{esc(title)}</summary>{body}</details>")
    if not parts:
        parts.append(
            '<p class="note">No evaluation given: run <code>melvae evaluate RUN_DIR -o '
            "metrics.json</code> and pass <code>--metrics metrics.json</code>.</p>"
        )
    rows = "".join(
        f'<tr><th scope="row">{esc(k)}</th><td>{esc(format_value(v))}</td></tr>' for k, v in facts
    )
    parts.append(
        "<details><summary>The model and its training</summary>"
        f'<div class="table-wrap"><table><tbody>{rows}</tbody></table></div></details>'
    )
    return "\n".join(parts)
