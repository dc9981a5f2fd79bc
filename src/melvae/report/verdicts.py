"""The report's summary: each part of the evaluation judged against its own baseline, in words.

>>> from melvae.report.verdicts import summarize
>>> rec = {"sc_db": -3.0, "phase_only_sc_db": -11.6, "temporal_detail": 0.3}
>>> [v.grade for v in summarize({"reconstruction": rec})]
['poor']

Each verdict compares a figure with the baseline that gives it meaning, never with a bare
number: the reconstruction's audio with the true mel through the same inversion (the
inversion's own limit), generated clips with real music's distance to itself, the long
track's pulse with the music it starts from. Grades are ``good``, ``fair`` and ``poor``; the
thresholds sit beside each rule, with why. Plain values in, plain values out: the page
(:mod:`melvae.report.html`) draws them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from melvae.audio.beats import CLEAR_PULSE

GRADES = ("good", "fair", "poor")

# Reconstruction: SC within 3 dB of the inversion's own limit is as good as the inversion
# lets any model be (DESIGN's target); beyond 8 dB the model loses most of what it could keep.
SC_GAP_GOOD_DB, SC_GAP_FAIR_DB = 3.0, 8.0
# Temporal detail: 0.5 keeps half of each segment's movement beyond its average (the target);
# below 0.2 a listener hears mostly a held timbre.
DETAIL_GOOD, DETAIL_FAIR = 0.5, 0.2
# Generation: a Frechet distance within 2x real music's distance to itself is the target.
FRECHET_GOOD, FRECHET_FAIR = 2.0, 4.0
# Variety between 0.8x and 1.25x of real music's counts as the same.
DIVERSITY_LOW, DIVERSITY_HIGH = 0.8, 1.25
# Copying: up to 10% of clips nearer a training segment than any held-out one is chance.
COPY_FAIR, COPY_POOR = 0.1, 0.25
# Long track: a pulse kept at 80% of its start's clarity is kept; below half, it is lost.
PULSE_KEPT, PULSE_LOST = 0.8, 0.5
# A track's pulse is clear from CLEAR_PULSE (its pulse clarity over 20 s windows, the beat
# tracker's own line). The picture's shorter 8 s windows read higher on music with no beat,
# so a window states a tempo only from WINDOW_CLEAR_PULSE: on the demo's synthetic music,
# 8 s windows of techno and breakbeat score 0.63-0.81, of ambient (no beat) 0.06-0.49. A
# track keeps a steady beat when most windows are clear and their tempi agree within
# STEADY_SPREAD_BPM (std).
WINDOW_CLEAR_PULSE = 0.5
STEADY_SPREAD_BPM = 4.0
# An asked tempo is held where most 20 s windows find it (rhythm.tempo_held).
HELD_GOOD, HELD_FAIR = 0.8, 0.5


@dataclass
class Verdict:
    """One line of the summary: ``topic`` (what is judged), ``grade``, ``headline`` (the
    verdict in words, against its baseline), ``details`` (further sentences), and
    ``short``: the phrase the overall sentence uses (a strength when good, else a
    shortcoming)."""

    topic: str
    grade: str
    headline: str
    details: list[str] = field(default_factory=list)
    short: str = ""


def _num(section: dict | None, key: str) -> float | None:
    """A finite number from a section, or None."""
    value = (section or {}).get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _worst(*grades: str) -> str:
    return max(grades, key=GRADES.index)


def _grade(value: float, good: float, fair: float, higher: bool = False) -> str:
    if higher:
        return "good" if value >= good else "fair" if value >= fair else "poor"
    return "good" if value <= good else "fair" if value <= fair else "poor"


def summarize(metrics: dict[str, Any] | None, track: dict[str, Any] | None = None) -> list[Verdict]:
    """Verdicts on reconstruction, style separation, generation and the long track, each
    where the figures it needs are there. ``metrics``: the evaluation
    (:func:`melvae.evaluation.evaluate.evaluate`); ``track``: the long track as
    :func:`melvae.report.track.long_track` measured it (its beat figures take the place of
    the evaluation's, which measured the same file the same way)."""
    metrics = metrics or {}
    found = [
        _reconstruction(metrics.get("reconstruction"), metrics.get("settings")),
        _styles(metrics.get("latent")),
        _generation(metrics.get("generation"), metrics.get("settings")),
        _long_track(metrics.get("longform"), track),
    ]
    return [v for v in found if v is not None]


def _reconstruction(rec: dict | None, settings: dict | None) -> Verdict | None:
    sc, floor = _num(rec, "sc_db"), _num(rec, "phase_only_sc_db")
    if sc is None or floor is None:
        return None
    gap = sc - floor
    grade = _grade(gap, SC_GAP_GOOD_DB, SC_GAP_FAIR_DB)
    if grade == "good":
        headline = f"Close to the inversion's own limit: {gap:.1f} dB from it."
    else:
        headline = (
            f"{gap:.1f} dB short of the inversion's own limit: what you hear lost is the "
            "model's, not the inversion's."
        )
    details = [
        f"Spectral convergence {sc:.1f} dB, where the true mel through the same inversion "
        f"reaches {floor:.1f} dB (lower is better)."
    ]
    detail = _num(rec, "temporal_detail")
    if detail is not None:
        grade = _worst(grade, _grade(detail, DETAIL_GOOD, DETAIL_FAIR, higher=True))
        alone = _num(rec, "phase_only_temporal_detail_audio")
        details.append(
            f"It keeps {detail:.0%} of each clip's movement in time beyond its average sound "
            "(0% would be a blur, 100% exact; 50% is the aim"
            + (f"; the inversion alone keeps {alone:.0%}" if alone is not None else "")
            + ")."
        )
    l1 = _num(rec, "mel_l1_db")
    if l1 is not None:
        n = (settings or {}).get("segments")
        details.append(
            f"Mel error {l1:.1f} dB on average"
            + (f" over the {n} held-out segments evaluated" if n else "")
            + " (lower is better)."
        )
    short = (
        "reconstructs close to the inversion's limit"
        if grade == "good"
        else "reconstruction detail"
    )
    return Verdict("Reconstruction", grade, headline, details, short)


def _styles(latent: dict | None) -> Verdict | None:
    chance = _num(latent, "knn_chance")
    across = _num(latent, "knn_accuracy_other_tracks")
    acc = across if across is not None else _num(latent, "knn_accuracy")
    if acc is None or chance is None or chance >= 1:
        return None
    lift = (acc - chance) / (1 - chance)  # 0 at chance, 1 when every one is right
    grade = _grade(lift, 0.6, 0.25, higher=True)
    where = "among other tracks' segments" if across is not None else "among the others"
    headline = (
        f"{'Tells' if grade != 'poor' else 'Barely tells'} its styles apart: {acc:.0%} of "
        f"held-out segments sit nearest their own style {where} (chance: {chance:.0%})."
    )
    short = "tells its styles apart" if grade == "good" else "telling its styles apart"
    return Verdict("Styles in its latent space", grade, headline, [], short)


def _generation(gen: dict | None, settings: dict | None) -> Verdict | None:
    ratio = _num(gen, "frechet_ratio")
    if ratio is None:
        return None
    grade = _grade(ratio, FRECHET_GOOD, FRECHET_FAIR)
    if ratio <= 1.3:
        headline = "About as close to real music as real music is to itself."
    else:
        headline = (
            f"{ratio:.1f}x as far from real music as real music is from itself "
            f"({FRECHET_GOOD:g}x or less is good)."
        )
    details = []
    variety = _num(gen, "diversity_ratio")
    if variety is not None:
        if variety < DIVERSITY_LOW:
            grade = _worst(grade, "fair")
            details.append(f"Less varied than real music: {variety:.2f}x its variety.")
        elif variety > DIVERSITY_HIGH:
            details.append(
                f"More varied than real music ({variety:.2f}x its variety): some clips stray "
                "from anything in it."
            )
        else:
            details.append(f"As varied as real music ({variety:.2f}x its variety).")
    share = _num(gen, "copy_fraction")
    n = (settings or {}).get("generated")
    if share is not None:
        k = round(share * n) if isinstance(n, int) and n else None
        count = f"{k} of {n} clips" if k is not None else f"{share:.0%} of clips"
        count = f"none of its {n} clips" if k == 0 else count
        verb = "sits" if k in (0, 1) else "sit"
        nearer = f"{count} {verb} nearer a training segment than any held-out real segment does"
        if share > COPY_FAIR:
            grade = _worst(grade, "fair" if share <= COPY_POOR else "poor")
            details.append(f"{nearer[0].upper()}{nearer[1:]}: it leans on what it heard.")
        else:
            details.append(f"No sign of copying: {nearer}.")
    short = (
        "generates music close to the real thing" if grade == "good" else "sounding like real music"
    )
    return Verdict("Generation", grade, headline, details, short)


def beat_phrase(beat: dict[str, Any]) -> str:
    """The beat in a phrase: a steady one (and its tempo, or that it follows the tempo
    asked), a clear pulse whose tempo wanders, or no steady beat; a tempo only where there
    is a clear pulse to have one."""
    spread = beat.get("spread_bpm")
    if beat["steady"]:
        if beat.get("follows"):
            return f"a steady beat that keeps the tempo it follows (±{spread:.1f} BPM)"
        return f"a steady beat at {beat['bpm']:.0f} BPM (±{spread:.1f})"
    windows, clear = beat.get("windows", 0), beat.get("clear_windows", 0)
    if windows and clear > windows / 2:
        strays = "strays from the tempo it follows" if beat.get("follows") else "wanders"
        return f"no steady beat: a clear pulse, but its tempo {strays} (±{spread:.1f} BPM)"
    if clear:
        size = f" ({beat['window_seconds']:g} s each)"
        return f"no steady beat: a clear pulse in only {clear} of its {windows} windows{size}"
    if windows:
        return f"no steady beat: no {beat['window_seconds']:g} s window has a clear pulse"
    return "no steady beat"


def _long_track(section: dict | None, track: dict | None) -> Verdict | None:
    beat = (track or {}).get("beat")
    clarity = _num(track, "pulse_clarity")
    if clarity is None:
        clarity = _num(section, "pulse_clarity")
    if clarity is None:
        return None
    seconds = _num(track, "seconds") or _num(section, "track_seconds")
    baseline = (track or {}).get("baseline")  # {"pulse_clarity", "what"} or None
    base = _num(baseline, "pulse_clarity") if baseline else None
    if base is not None and base > 0:
        kept = clarity / base
        grade = "good" if kept >= PULSE_KEPT else "fair" if kept >= PULSE_LOST else "poor"
        against = f", where {baseline['what']} has {base:.2f}"
    else:
        grade = "good" if clarity >= CLEAR_PULSE else "poor"
        against = f" (a clear beat scores {CLEAR_PULSE:g} or more)"
    if beat is None and section is not None:  # no track measured here: the evaluation's
        tempo, spread = _num(section, "tempo_bpm"), _num(section, "tempo_stability_bpm")
        steady = clarity >= CLEAR_PULSE and spread is not None and spread <= STEADY_SPREAD_BPM
        beat = {"steady": steady, "bpm": tempo, "spread_bpm": spread} if tempo else None
    steady = bool(beat and beat.get("steady"))
    length = f"{seconds:.0f} s: " if seconds else ""
    phrase = beat_phrase(beat) if beat else "no steady beat"
    headline = f"{length}{phrase.split(':')[0]}."
    if not steady:
        grade = _worst(grade, "fair")
    details = [f"Pulse clarity {clarity:.2f} (0: none, 1: a clear beat){against}."]
    if ":" in phrase:
        rest = phrase.split(":", 1)[1].strip()
        details.append(rest[0].upper() + rest[1:] + ".")
    held, bpm = _num(section, "tempo_held"), _num(section, "held_bpm")
    if held is not None and bpm is not None:  # a tempo asked (or carried on from the start)
        grade = _worst(grade, _grade(held, HELD_GOOD, HELD_FAIR, higher=True))
        if held >= HELD_GOOD:
            pulse = "a clear, steady beat" if steady else "a weak pulse"
            headline = f"{length}holds {bpm:.0f} BPM, with {pulse}."
        details.insert(
            0,
            f"The tempo it followed, {bpm:.1f} BPM, is found in {held:.0%} of its 20 s "
            f"windows ({HELD_GOOD:.0%} or more: held).",
        )
    else:
        target = _num(section, "target_bpm")
        error = _num(section, "tempo_error_bpm")
        if target is not None and error is not None:
            details.append(f"Asked for {target:.1f} BPM; off by {error:.1f} BPM.")
    seam = _num(section, "seam_score")
    if seam is not None:
        details.append(
            f"Its joins stand out {seam:.2f}x as much as the music around them (1: seamless)."
        )
    elif section is not None and section.get("joins") == 0:
        details.append("One continuous sequence: no joins.")
    short = "keeps a steady beat over a long track" if grade == "good" else "holding a beat"
    return Verdict("Long track", grade, headline, details, short)


def overall(verdicts: list[Verdict]) -> str:
    """One sentence from the verdicts: what it does well, where it is fair, where it falls
    short."""
    if not verdicts:
        return "No evaluation was given: listen below, or run melvae evaluate and pass --metrics."

    def join(items: list[str]) -> str:
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]

    by = {g: [v.short for v in verdicts if v.grade == g] for g in GRADES}
    parts = []
    if by["good"]:
        parts.append(f"it {join(by['good'])}")
    if by["fair"]:
        parts.append(f"it is fair at {join(by['fair'])}")
    if by["poor"]:
        parts.append(f"it falls short at {join(by['poor'])}")
    return "In short: " + "; ".join(parts) + "."
