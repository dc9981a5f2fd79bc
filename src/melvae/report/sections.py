"""The sections of the report's page that play and show clips: the long track,
reconstructions, generated clips, the interpolation, the latent space and the training
curves. Each takes the plain records :mod:`melvae.report.build` collected and returns HTML;
:mod:`melvae.report.html` lays them out on the page.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from melvae.report.markup import esc, href
from melvae.report.present import format_number
from melvae.report.verdicts import WINDOW_CLEAR_PULSE, beat_phrase


def _player(label: str, rel: str, element_id: str | None = None) -> str:
    ident = f' id="{esc(element_id)}"' if element_id else ""
    return (
        f'<div class="player"><span>{esc(label)}</span>'
        f'<audio{ident} controls preload="metadata" src="{href(rel)}"></audio></div>'
    )


def _img(rel: str, alt: str) -> str:
    return f'<img src="{href(rel)}" alt="{esc(alt)}" loading="lazy">'


# -- the long track -------------------------------------------------------------------------
def track(t: dict[str, Any]) -> str:
    """The player, the full-length picture (wide, or narrow on a phone) with a playhead that
    follows the player, and the track's beat in words."""
    tempo = beat_phrase(t["beat"])
    facts = [("tempo", tempo)]
    if t.get("tempo"):
        asked = t["tempo"]
        values = " -> ".join(f"{float(v):.1f}" for v in np.atleast_1d(asked["bpm"]))
        own = asked.get("start_bpm") and asked["how"] == "asked"
        start = f"; the start's own: {asked['start_bpm']:.1f} BPM" if own else ""
        facts.append(("tempo followed", f"{values} BPM ({asked['how']}{start}; the teal line)"))

    clarity = t.get("pulse_clarity")
    if clarity is not None:
        base = t.get("baseline")
        facts.append(
            (
                "pulse clarity",
                f"{clarity:.2f} (0: none, 1: a clear beat)"
                + (f"; {base['what']}: {base['pulse_clarity']:.2f}" if base else ""),
            )
        )
    facts.append(("labels", " -> ".join(t["labels"]) or "none"))
    temps = t["temperatures"]
    facts.append(
        (
            "temperature",
            format_number(temps[0]) if len(temps) == 1 else " -> ".join(map(format_number, temps)),
        )
    )
    joins = t.get("joins") or []
    facts.append(
        ("joins", f"{len(joins)} (dotted lines)" if joins else "none: one continuous sequence")
    )
    items = "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in facts)
    start = t.get("start_seconds")
    where = (
        f"the first {start:.1f} s come from the real start clip (left of the teal line), "
        "the rest is the model's"
        if start
        else "all of it is the model's"
    )
    panels = t["panels"]
    return (
        f'<p class="lead">{esc(format_number(round(t["seconds"], 1)))} s; {esc(tempo)}.</p>'
        + _player("the long track", t["wav"], "track-player")
        + f'<div id="track-figure" class="track-figure" data-seconds="{t["seconds"]:.3f}" '
        f'data-x0="{panels["wide"][0]:.4f}" data-x1="{panels["wide"][1]:.4f}" '
        f'data-nx0="{panels["narrow"][0]:.4f}" data-nx1="{panels["narrow"][1]:.4f}">'
        f'<picture><source media="(max-width: 640px)" srcset="{href(t["png_narrow"])}">'
        f'<img src="{href(t["png"])}" alt="the long track over time: labels and temperature, '
        'spectrogram, pulse clarity and tempo"></picture>'
        '<div class="playhead" aria-hidden="true"></div></div>'
        f'<p class="note">From the top: the labels it followed and its sampling temperature; '
        f"its spectrogram ({esc(where)}); the pulse clarity of each "
        f"{esc(format_number(t['window_seconds']))} s window (0: none, 1: a clear beat); and "
        f"the tempo, given only where the pulse reaches {WINDOW_CLEAR_PULSE:g} (the dashed line). "
        "Click the picture to play from there.</p>"
        f'<ul class="facts">{items}</ul>'
    )


# -- reconstructions ------------------------------------------------------------------------
def reconstructions(
    records: list[dict[str, Any]] | None, where: str, recordings: bool, metrics: dict | None
) -> str:
    if records is None:
        return '<p class="note">No dataset folder: pass one to see reconstructions.</p>'
    cards = []
    for r in records:
        label = f" · {r['label']}" if r.get("label") else ""
        caption = (
            f"{r['source']} at {r['start_seconds']:.1f} s{label} · mel error "
            f"{r['mel_l1_db']:.2f} dB"
        )
        players = [("recording", r["recording"])] if r.get("recording") else []
        players += [("inversion alone", r["original"]), ("reconstruction", r["reconstruction"])]
        rows = "".join(
            f'<div class="ab"><span>{esc(name)} <small>{gain:+.1f} dB</small></span>'
            f'<audio controls preload="metadata" src="{href(rel)}"></audio></div>'
            for (name, rel), gain in zip(players, [round(g, 1) + 0.0 for g in r["gains_db"]])
        )
        cards.append(
            '<figure class="card">'
            + _img(r["png"], f"mel of {r['source']} above its reconstruction")
            + f"<figcaption>{esc(caption)}</figcaption>{rows}</figure>"
        )
    mean_l1 = sum(r["mel_l1_db"] for r in records) / len(records)
    rec = (metrics or {}).get("reconstruction") or {}
    n_eval = ((metrics or {}).get("settings") or {}).get("segments")
    overall = ""
    if isinstance(rec.get("mel_l1_db"), (int, float)) and n_eval:
        overall = (
            f" Over all {n_eval} segments the evaluation measured it is "
            f"{format_number(rec['mel_l1_db'])} dB (the summary's figure)."
        )
    ways = (
        "<b>recording</b>: the real audio; "
        if recordings
        else "(no recording: the dataset's audio folder is gone) "
    )
    return (
        f'<p class="note">{len(records)} {esc(where)}, heard three ways. {ways}'
        "<b>inversion alone</b>: its true mel turned back into sound, the best any model "
        "can sound here; <b>reconstruction</b>: encoded, decoded and inverted the same way, "
        "so what it lacks against the inversion alone is the model's. <b>Loudness-matched</b>: "
        "each clip is scaled to the recording's RMS level (all a little lower where a peak "
        "would pass full scale), so the louder clip does not win; the gains are beside each "
        f"player. Mel error of these {len(records)}: mean {esc(format_number(mean_l1))} dB."
        f"{esc(overall)}</p>"
        f'<div class="cards">{"".join(cards)}</div>'
    )


# -- generated clips and the interpolation --------------------------------------------------
def _tile(png: str, caption: str, wav: str, alt: str) -> str:
    return (
        f'<figure class="tile">{_img(png, alt)}<figcaption>{caption}</figcaption>'
        f'<audio controls preload="metadata" src="{href(wav)}"></audio></figure>'
    )


PICTURE_KEY = "Each picture: time left to right, frequency (Hz) bottom to top, brighter is louder."


def generated(clips: list[dict[str, Any]], inverter: str) -> str:
    """The clips in a grid of small players, one row of them per label."""
    groups: dict[Any, list[str]] = {}
    for c in clips:
        caption = f"seed {c['seed']} · temp. {esc(format_number(c['temperature']))}"
        alt = f"mel of the generated {c['label'] or ''} clip of seed {c['seed']}"
        groups.setdefault(c.get("label"), []).append(_tile(c["png"], caption, c["wav"], alt))
    rows = "".join(
        (f'<h3 class="row-head">{esc(label)}</h3>' if label else "")
        + f'<div class="tiles">{"".join(tiles)}</div>'
        for label, tiles in groups.items()
    )
    labelled = any(c.get("label") for c in clips)
    again = "melvae generate RUN_DIR -n 1 --seed S" + (" --label L" if labelled else "")
    return (
        f'<p class="note">{len(clips)} clips drawn from the prior'
        + (", its labels in turn" if labelled else "")
        + f", each with its own seed, at sampling temperature (temp.) "
        f"{esc(format_number(clips[0]['temperature']))} (1: the prior as trained; lower is "
        f"tamer), decoded and inverted by {esc(inverter or 'the model')}, at the level "
        f"the model made them. {PICTURE_KEY} <code>{esc(again)} --temperature T</code> draws "
        "one again.</p>" + rows
    )


def loops(info: dict[str, Any]) -> str:
    """Each loop in a small player that repeats it, so its wrap is heard."""
    if "missing" in info:
        return f'<p class="note">No loops: {esc(info["missing"])}.</p>'
    tiles = []
    for c in info["loops"]:
        wrap = f" · wrap {c['wrap_jump']:.2f}x" if c.get("wrap_jump") is not None else ""
        label = f"<b>{esc(c['label'])}</b><br>" if c.get("label") else ""
        alt = f"mel of loop {c['seed']}"
        tiles.append(
            f'<figure class="tile">{_img(c["png"], alt)}'
            f"<figcaption>{label}seed {c['seed']}{esc(wrap)}</figcaption>"
            f'<audio controls loop preload="metadata" src="{href(c["wav"])}"></audio></figure>'
        )
    return (
        f'<p class="note">{len(info["loops"])} loops of exactly {info["bars"]} bars at '
        f"{esc(format_number(info['bpm']))} BPM ({esc(format_number(round(info['seconds'], 3)))} s"
        ", to the sample), as <code>melvae loops</code> makes them: each player repeats its "
        "loop, so the wrap is what you hear every few seconds. Wrap: how much the timbre "
        "changes where the end runs into the start, against anywhere else in the loop (1: "
        f"seamless). {PICTURE_KEY}</p>"
        f'<div class="tiles">{"".join(tiles)}</div>'
    )


def interpolation(info: dict[str, Any]) -> str:
    steps = info["steps"]
    tiles = [
        _tile(
            s["png"],
            f"step {s['step'] + 1} of {len(steps)}"
            + (
                f"<br><b>{esc(info['from'])}</b>"
                if s["step"] == 0
                else f"<br><b>{esc(info['to'])}</b>"
                if s["step"] == len(steps) - 1
                else "<br>&nbsp;"
            ),
            s["wav"],
            f"mel of interpolation step {s['step'] + 1}",
        )
        for s in steps
    ]
    return (
        f'<p class="note">From {esc(info["from"])} to {esc(info["to"])} in {len(steps)} steps '
        "through the latent space (spherical interpolation of latent means; the label "
        f"conditioning moves along). {PICTURE_KEY}</p>"
        + _player(
            f"all steps joined with {format_number(info['fade_seconds'])} s crossfades",
            info["joined"],
        )
        + f'<div class="tiles">{"".join(tiles)}</div>'
    )


# -- the latent space and training ----------------------------------------------------------
def latent(map_info: dict[str, Any] | None, grid: dict[str, Any] | None) -> str:
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
        picture = _img(map_info["png"], "latent means coloured by label")
        if map_info.get("png_narrow"):
            picture = (
                f'<picture><source media="(max-width: 640px)" '
                f'srcset="{href(map_info["png_narrow"])}">{picture}</picture>'
            )
        parts = [
            f'<figure class="map">{picture}'
            f'<figcaption class="note">Latent means of {map_info["n_points"]} segments '
            f"coloured by label: {esc(what)}. Styles the model tells apart sit apart."
            "</figcaption></figure>"
        ]
    if grid:
        parts.append(_grid(grid))
    return '<div class="side">' + "".join(parts) + "</div>"


def _grid(grid: dict[str, Any]) -> str:
    """An n x n grid of buttons over the decoded grid's PNG; a click plays the cell's clip
    in the one player below (grid.js)."""
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
        '<div><h3 class="flush">Latent grid: click a cell to hear it</h3>'
        f'<div class="latent-grid"><img src="{href(grid["png"])}" alt="mels decoded on a '
        f'{n} x {n} grid over the latent plane">'
        f'<div class="cells" style="grid-template-columns: repeat({n}, 1fr); '
        f'grid-template-rows: repeat({n}, 1fr)">{"".join(cells)}</div></div>'
        f'<p class="axis">{esc(span)}</p>'
        f'<p class="axis">Player: <span id="grid-now">{esc(centre_name)}</span></p>'
        f'<audio id="grid-player" controls preload="metadata" src="{href(centre["wav"])}">'
        "</audio></div>"
    )


def training(curves: list[str]) -> str:
    if not curves:
        return '<p class="note">The run folder holds no training history.</p>'
    images = "".join(_img(c, "training and validation loss curves") for c in curves)
    return (
        f'<div class="curves">{images}</div>'
        '<p class="note">Loss per segment over the epochs of the autoencoder\'s training, on '
        "the training data and on held-out tracks (validation; lower is better): the whole "
        "loss (negative ELBO), and its reconstruction and KL terms. Validation rising while "
        "training falls would mean it memorizes.</p>"
    )
