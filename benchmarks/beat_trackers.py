"""melvae's beat tracker against librosa's on real music: the figures behind the choice.

    python -m benchmarks.beat_trackers DEVSET [-o bench_results/beat_trackers]

Trackers: melvae's (:func:`melvae.audio.beats.track_beats`: Ellis's dynamic programme on
melvae's onset envelope and tempo), librosa's ``beat.beat_track`` (the same algorithm on
librosa's onset strength and tempo) and librosa's ``beat.plp`` (predominant local pulse; beats
at its peaks, tempo from their median interval). For every clip of the dev set (train and
test, 30 s each, several clips per track):

* self-agreement: over every pair of clips of one track, the share whose tempi agree within
  3% (and within 3% of the same, half or double): a track keeps its tempo, so a tracker
  that reads it well agrees with itself;
* alignment: the onset strength at the beats (largest within +-2 frames) over its mean, on
  melvae's onset envelope and on librosa's, so neither judge favours its own tracker;
* click tracks at 90-174 BPM: tempo error and the beats' offset from the clicks;
* seconds per minute of audio (one torch thread, as a preprocess worker), and the first
  librosa call's cost in a fresh process (numba compiles its kernels).

Also the pulse clarity of each clip per genre and the tempo agreement by the lower clarity of
the pair: the figures that set ``melvae.audio.beats.CLEAR_PULSE``. Writes results.json and
table.md. Never run by the test suite (it needs the dev set and librosa; about 3 minutes).
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
TRACKERS = ("melvae", "librosa_beat_track", "librosa_plp")
CLARITY_BINS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.01)


def _librosa_beats(which: str, wave: np.ndarray, sr: int) -> tuple[float, np.ndarray]:
    import librosa

    if which == "librosa_beat_track":
        tempo, times = librosa.beat.beat_track(y=wave, sr=sr, units="time")
        return float(np.atleast_1d(tempo)[0]), np.asarray(times)
    env = librosa.onset.onset_strength(y=wave, sr=sr)
    pulse = librosa.beat.plp(onset_envelope=env, sr=sr)
    times = librosa.frames_to_time(np.flatnonzero(librosa.util.localmax(pulse)), sr=sr)
    bpm = 60.0 / float(np.median(np.diff(times))) if len(times) > 2 else float("nan")
    return bpm, times


def beats_of(which: str, wave: np.ndarray, sr: int) -> tuple[float, np.ndarray]:
    if which == "melvae":
        from melvae.audio.beats import track_beats

        found = track_beats(wave, sr)
        return found.bpm, found.times
    return _librosa_beats(which, wave, sr)


def _alignment(env: np.ndarray, times: np.ndarray, fps: float, reach: int = 2) -> float:
    frames = np.round(np.asarray(times) * fps).astype(int)
    frames = frames[(frames >= 0) & (frames < len(env))]
    if not len(frames):
        return float("nan")
    at = [env[max(0, f - reach) : f + reach + 1].max() for f in frames]
    return float(np.mean(at) / (env.mean() + 1e-12))


def first_librosa_call_seconds() -> float:
    """Seconds of the first beat_track call in a fresh process (numba's compilation)."""
    code = (
        "import time, numpy as np, librosa; y = np.random.default_rng(0).standard_normal("
        "22050 * 5).astype(np.float32); t = time.perf_counter(); "
        "librosa.beat.beat_track(y=y, sr=22050); print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def click_figures(which: str) -> dict:
    """Tempo error (%) and beat offset (ms, median and largest) on noisy click tracks."""
    sr = 22050
    errors, offsets = [], []
    for bpm in (90.0, 100.0, 128.0, 150.0, 174.0):
        rng = np.random.default_rng(0)
        wave = 0.01 * rng.standard_normal(30 * sr).astype(np.float32)
        burst = rng.standard_normal(200) * np.exp(-np.arange(200) / 30.0) * 0.5
        clicks = np.arange(0.0, 30.0, 60.0 / bpm)
        for c in clicks:
            i = int(c * sr)
            wave[i : i + 200] += burst[: len(wave) - i]
        found, times = beats_of(which, wave, sr)
        errors.append(100 * abs(found / bpm - 1))
        offsets += [t - clicks[np.argmin(np.abs(clicks - t))] for t in times]
    offsets = 1000 * np.asarray(offsets)
    return {
        "click_tempo_error_pct_max": float(max(errors)),
        "click_offset_ms_median": float(np.median(offsets)),
        "click_offset_ms_max": float(np.abs(offsets).max()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("devset", type=Path, help="folder made by benchmarks.devset")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench_results/beat_trackers")
    args = parser.parse_args(argv)

    import librosa

    from melvae.audio.io import load_audio
    from melvae.audio.onsets import onset_envelope
    from melvae.config import AudioConfig
    from melvae.evaluation.rhythm import pulse_clarity

    torch.set_num_threads(1)
    cfg = AudioConfig()
    fps = cfg.sample_rate / cfg.hop_length
    first_call = first_librosa_call_seconds()
    clips = sorted(args.devset.glob("*/*/*.wav"))
    warm = load_audio(clips[0], cfg.sample_rate)[: 5 * cfg.sample_rate]
    for which in TRACKERS:  # warm up: compile, import, allocate
        beats_of(which, warm, cfg.sample_rate)
    seconds = defaultdict(float)
    audio_minutes = 0.0
    per_clip = {}
    for clip in clips:
        wave = load_audio(clip, cfg.sample_rate)
        audio_minutes += len(wave) / cfg.sample_rate / 60
        env_melvae = onset_envelope(wave, cfg)
        env_librosa = librosa.onset.onset_strength(y=wave, sr=cfg.sample_rate)
        rec = {"clarity": pulse_clarity(wave, cfg)}
        for which in TRACKERS:
            t0 = time.perf_counter()
            bpm, times = beats_of(which, wave, cfg.sample_rate)
            seconds[which] += time.perf_counter() - t0
            rec[which] = {
                "bpm": bpm,
                "align_melvae": _alignment(env_melvae, times, fps),
                "align_librosa": _alignment(env_librosa, times, cfg.sample_rate / 512),
            }
        split, genre, name = clip.relative_to(args.devset).parts
        per_clip[f"{split}/{genre}/{name}"] = rec | {"genre": genre, "track": name.split("__")[0]}

    by_track = defaultdict(list)
    for rec in per_clip.values():
        by_track[(rec["genre"], rec["track"])].append(rec)
    pairs = [p for recs in by_track.values() for p in itertools.combinations(recs, 2)]
    rows = {}
    for which in TRACKERS:
        ratio = np.array([a[which]["bpm"] / b[which]["bpm"] for a, b in pairs])
        same = np.abs(ratio - 1) <= 0.03
        octave = np.any([np.abs(ratio / m - 1) <= 0.03 for m in (0.5, 1, 2)], axis=0)
        genres = sorted({a["genre"] for a, _ in pairs})
        rows[which] = {
            "pairs": len(pairs),
            "tempo_agreement": float(same.mean()),
            "tempo_agreement_octave": float(octave.mean()),
            **{
                f"agreement_{g}": float(
                    np.mean([s for s, (a, _) in zip(same, pairs) if a["genre"] == g])
                )
                for g in genres
            },
            "align_melvae": float(np.median([r[which]["align_melvae"] for r in per_clip.values()])),
            "align_librosa": float(
                np.median([r[which]["align_librosa"] for r in per_clip.values()])
            ),
            "seconds_per_audio_minute": seconds[which] / audio_minutes,
            **click_figures(which),
        }
    rows["librosa_beat_track"]["first_call_seconds"] = first_call
    low = np.array([min(a["clarity"], b["clarity"]) for a, b in pairs])
    same = np.array([abs(a["melvae"]["bpm"] / b["melvae"]["bpm"] - 1) <= 0.03 for a, b in pairs])
    by_clarity = [
        {
            "lower_clarity": f"[{lo:g}, {hi:g})",
            "pairs": int(m.sum()),
            "agreement": float(same[m].mean()),
        }
        for lo, hi in zip(CLARITY_BINS[:-1], CLARITY_BINS[1:])
        if (m := (low >= lo) & (low < hi)).any()
    ]
    clarity = defaultdict(list)
    for rec in per_clip.values():
        clarity[rec["genre"]].append(rec["clarity"])
    genre_clarity = {
        g: [round(float(q), 3) for q in np.quantile(v, [0.1, 0.5, 0.9])] for g, v in clarity.items()
    }

    lines = ["| figure | " + " | ".join(TRACKERS) + " |", "|---|" + "---|" * len(TRACKERS)]
    for key in rows["melvae"]:
        vals = [rows[w].get(key) for w in TRACKERS]
        lines.append(
            f"| {key} | " + " | ".join("n/a" if v is None else f"{v:.3g}" for v in vals) + " |"
        )
    lines.append(f"\nlibrosa's first beat_track call in a fresh process: {first_call:.1f} s")
    lines.append("\nmelvae's tempo agreement by the lower pulse clarity of the pair:")
    lines += [
        f"  {r['lower_clarity']}: {r['agreement']:.2f} of {r['pairs']} pairs" for r in by_clarity
    ]
    lines.append("\npulse clarity per genre (10%, 50%, 90%): " + json.dumps(genre_clarity))
    text = "\n".join(lines)
    args.output.mkdir(parents=True, exist_ok=True)
    payload = {
        "trackers": rows,
        "by_clarity": by_clarity,
        "genre_clarity": genre_clarity,
        "clips": per_clip,
    }
    (args.output / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    (args.output / "table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
