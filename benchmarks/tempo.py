"""Long tracks that keep their beat: each prior's tempo figures on one autoencoder.

    python -m benchmarks.devset DEVSET                  # once, as root: real game music
    python -m benchmarks.tempo DEVSET -o bench_results/tempo [--minutes 8] [--prior-minutes 2]
        [--priors gru,beat] [--repeats 0,0.8] [--starts 3] [--reuse]

On the dev set's train side (preprocessed with beats where melvae writes them): the sequence
model trained once for ``--minutes`` (its own prior phase cut to a few seconds), then every
prior named by ``--priors`` fitted for ``--prior-minutes`` on that same autoencoder's latents
(:func:`melvae.training.train.fit_prior_on_run`). For each prior and each ``--repeats``
value (``longform --repeat`` / ``loops --repeat``: how much a clocked prior's draws repeat
beat after beat; a prior without a clock has one column), from each of the ``--starts``
held-out clips of the beat-driven test genre (``--genre``) whose first segment (the start a
longform is given) has the clearest pulse, the figures averaged over the starts:

* a 180 s longform, timed: pulse clarity over the whole track and after its first 40 s,
  beside the genre's real clips; the tempo held, and the beat-locked pulse, at the start's
  own tempo (the start segment's beats, :func:`melvae.audio.beats.track_beats`); its
  variation (:func:`variation`) over the real clips', so a track that holds its beat by
  standing still shows it;
* longforms asked for ``--bpm`` 100, 128 and 150: the share of 20 s windows holding that
  tempo, and the beat-locked pulse at it;
* ``loops --bpm 128 --bars 4``: exact length, the tempo held when tiled four times, the
  timbre jump at the wrap;
* generated clips against held-out music (``melvae evaluate``): Frechet and diversity
  ratios, and the temporal detail of reconstructions.

A figure that a prior cannot give (a tempo asked of a prior without a clock) is "n/a" with
the reason in results.json, never a failure. Adding a prior is a
name in ``--priors`` (one that ``fit_prior_on_run`` knows); adding a figure is one line in
FIGURES and the code that sets its key. Prints the table, writes ``results.json`` and
``table.md``. Never run by the test suite: about 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.realmusic import _fmt, _real_rhythm

ROOT = Path(__file__).resolve().parent.parent
BPMS = (100.0, 128.0, 150.0)
LOOP_BPM, LOOP_BARS, LOOP_COUNT = 128.0, 4, 8
AFTER_SECONDS = 40.0  # "after its first 40 s": the start's own audio is long gone by then
PRIOR_SHARE = 0.01  # the autoencoder run's own prior phase: a few seconds, replaced anyway

# (row label, result key, target as printed); the "real" column is the same key in `real`.
FIGURES = [
    ("longform: pulse clarity, whole track", "pulse_whole", ">= 0.8 x real"),
    ("longform: pulse clarity after 40 s", "pulse_after_40s", ">= 0.8 x real"),
    ("longform: tempo held at the start's tempo", "held_start", ">= 0.8"),
    ("longform: beat-locked pulse at the start's tempo", "locked_start", ""),
    ("longform: variation over real music's", "variation", "~ 1"),
    *[
        row
        for bpm in BPMS
        for row in (
            (f"longform --bpm {bpm:g}: tempo held", f"held_{bpm:g}", ">= 0.8"),
            (f"longform --bpm {bpm:g}: beat-locked pulse", f"locked_{bpm:g}", ""),
        )
    ],
    (f"loops --bpm {LOOP_BPM:g} --bars {LOOP_BARS}: exact length", "loop_exact", "yes"),
    ("loops: tempo held, tiled 4 times", "loop_held", ">= 0.8"),
    ("loops: timbre jump at the wrap", "loop_wrap_jump", "<= 1.3"),
    ("generated clips: Frechet ratio to the real floor", "frechet_ratio", "<= today's"),
    ("generated clips: diversity ratio", "diversity_ratio", ">= 0.8"),
    ("clips at the held-out tempos: Frechet ratio", "clocked_frechet_ratio", "<= today's"),
    ("clips at the held-out tempos: diversity ratio", "clocked_diversity_ratio", ">= 0.8"),
    ("temporal detail of reconstructions", "temporal_detail", ">= today's"),
    ("longform: wall seconds", "longform_wall_seconds", "< 20"),
    ("longform: peak memory growth, MiB", "longform_rss_growth_mib", "flat"),
    ("prior: epochs in its budget", "prior_epochs", ""),
    ("prior: validation NLL per latent number", "prior_val_nll", ""),
]


def _dataset(audio_dir: Path, out: Path) -> Path:
    """Preprocess once; again where melvae now writes a beat file the folder lacks."""
    from melvae import layout
    from melvae.config import AudioConfig
    from melvae.data.preprocess import preprocess

    wanted = [layout.MELS] + ([layout.BEATS] if hasattr(layout, "BEATS") else [])
    if not all((out / name).is_file() for name in wanted):
        preprocess(audio_dir, out, AudioConfig(), progress=False)
    return out


def _make_loops(model, bpm: float, bars: int, n: int, seed: int, out_dir: Path, repeat: float):
    """``n`` loops of ``bars`` bars at ``bpm`` as ``melvae loops`` writes them, read back:
    (audio (n, samples), sample rate). A prior that cannot hold a tempo raises MelvaeError."""
    from melvae.audio.io import load_audio
    from melvae.generation.outputs import write_loops

    info = write_loops(model, out_dir, n, bpm, bars, seed=seed, repeat=repeat)
    sr = info["sample_rate"]
    audio = [load_audio(out_dir / item["file"], sr) for item in info["loops"]]
    return np.stack(audio), sr


def real_tempo(test_audio: Path, genre: str, cfg) -> dict:
    """The genre's real test clips at their own tempo (their beats tracked): median tempo
    held and beat-locked pulse, the references of the tempo rows."""
    from melvae.audio.beats import track_beats
    from melvae.audio.io import load_audio
    from melvae.evaluation.rhythm import beat_locked_pulse, tempo_held

    held, locked = [], []
    for clip in sorted((test_audio / genre).glob("*.wav")):
        wave = load_audio(clip, cfg.sample_rate)
        beats = track_beats(wave, cfg.sample_rate)
        if beats.clear:
            held.append(tempo_held(wave, cfg, beats.bpm))
            locked.append(beat_locked_pulse(wave, cfg, beats.bpm))
    return {"held": float(np.median(held)), "locked": float(np.median(locked)), "clips": len(held)}


def train_autoencoder(train_dir: Path, out: Path, args) -> Path:
    """The sequence model for ``--minutes``, its own prior phase cut to PRIOR_SHARE."""
    from melvae.config import TrainConfig
    from melvae.layout import BEST
    from melvae.training.train import train

    run = out / "run_autoencoder"
    if args.reuse and (run / BEST).is_file():
        return run
    cfg = TrainConfig(
        max_minutes=args.minutes / (1 - PRIOR_SHARE),
        epochs=10_000,
        seed=args.seed,
        prior_fraction=PRIOR_SHARE,
    )
    train(train_dir, run, cfg, kind="sequence", device=args.device, progress=False)
    return run


def _variation(wave: np.ndarray, cfg, window: float = 2.0, apart: float = 8.0) -> float:
    """How much the music changes: the median distance between the mean log-mels of
    ``window`` s windows ``apart`` s apart (dB-scaled units, per mel band)."""
    from melvae.audio.features import log_mel

    mel = log_mel(torch.from_numpy(np.ascontiguousarray(wave))[None], cfg)[0].numpy()
    w, gap = round(window * cfg.sample_rate / cfg.hop_length), round(apart / window)
    means = np.stack([mel[:, i : i + w].mean(1) for i in range(0, mel.shape[1] - w + 1, w)])
    if len(means) <= gap:
        return float("nan")
    return float(np.median(np.sqrt(((means[gap:] - means[:-gap]) ** 2).mean(1))))


def variation(wave: np.ndarray, cfg, real: float) -> float:
    """A track's variation over the real clips' (``real``: their median): near 1 changes as
    much as real music over 8 s, near 0 stands still (a loop of one beat)."""
    return _variation(wave, cfg) / real


def longform_figures(path: Path, cfg, bpm: float | None) -> dict:
    """Pulse clarity of a long track (whole, after AFTER_SECONDS), and at ``bpm`` (where
    known) the tempo held and the beat-locked pulse."""
    from melvae.audio.io import load_audio
    from melvae.evaluation.rhythm import beat_locked_pulse, pulse_clarity, tempo_held

    wave = load_audio(path, cfg.sample_rate)
    late = wave[int(AFTER_SECONDS * cfg.sample_rate) :]
    out = {
        "pulse_whole": pulse_clarity(wave, cfg),
        "pulse_after_40s": pulse_clarity(late, cfg) if len(late) > cfg.n_fft else None,
        "wave": wave,
    }
    if bpm is not None:
        out["held"], out["locked"] = tempo_held(wave, cfg, bpm), beat_locked_pulse(wave, cfg, bpm)
    return out


def prior_spec(name: str) -> tuple[str, dict]:
    """'beat:lag_beats=1+4:input_noise=0.1' -> ('beat', {'lag_beats': (1, 4),
    'input_noise': 0.1}): a prior and PriorConfig settings, as --priors names them."""
    kind, *pairs = name.split(":")
    settings = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        parts = [float(v) if "." in v else int(v) for v in value.split("+")]
        settings[key] = tuple(parts) if "+" in value or key == "lag_beats" else parts[0]
    return kind, settings


def pick_starts(test_audio: Path, genre: str, cfg, count: int) -> list[dict]:
    """The ``count`` clips of ``genre`` whose first segment (what a longform starts from)
    has the clearest pulse, each with that segment's pulse clarity and tracked tempo."""
    from melvae.audio.beats import track_beats
    from melvae.audio.io import load_audio
    from melvae.evaluation.rhythm import pulse_clarity

    found = []
    for clip in sorted((test_audio / genre).glob("*.wav")):
        head = load_audio(clip, cfg.sample_rate)[: cfg.segment_samples]
        beats = track_beats(head, cfg.sample_rate)
        # Its tempo even where the tracker calls the beat unclear: the figure asks whether the
        # track keeps the tempo its start has.
        bpm = float(beats.bpm) if np.isfinite(beats.bpm) else None
        found.append({"clip": clip, "pulse": pulse_clarity(head, cfg), "bpm": bpm})
    found.sort(key=lambda s: -s["pulse"])
    return found[:count]


def _mean(values: list) -> float | None:
    kept = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(kept)) if kept else None


def run_prior(name: str, run_ae: Path, test_dir: Path, starts: list[dict], out: Path, args):
    """Fit one prior and measure it at each repeat: ({column: figures by key}, facts,
    reasons for each n/a)."""
    import melvae
    from melvae.errors import MelvaeError
    from melvae.evaluation.evaluate import evaluate
    from melvae.layout import BEST
    from melvae.training.prior import fit_prior_on_run

    run = out / f"run_{name}"
    figures, missing = {}, {}
    if not (args.reuse and (run / BEST).is_file()):
        try:
            kind, settings = prior_spec(name)
            fit_prior_on_run(
                run_ae,
                run,
                args.prior_minutes,
                prior=kind,
                device=args.device,
                progress=False,
                **settings,
            )
        except MelvaeError as exc:
            return {name: figures}, {}, {"prior": str(exc)}
    model = melvae.load(run, device=args.device)
    facts = {k: v for k, v in model.info.items() if k.startswith("prior_")}
    figures.update({k: facts.get(k) for k in ("prior_epochs", "prior_val_nll")})
    metrics = evaluate(
        run,
        test_dir,
        split="all",
        max_segments=args.segments,
        seed=args.seed,
        device=args.device,
        progress=False,
    )
    figures["frechet_ratio"] = metrics["generation"].get("frechet_ratio")
    figures["diversity_ratio"] = metrics["generation"].get("diversity_ratio")
    for key in ("clocked_frechet_ratio", "clocked_diversity_ratio"):
        figures[key] = metrics["generation"].get(key)
    figures["temporal_detail"] = metrics["reconstruction"].get("temporal_detail")

    columns = {}
    repeats = args.repeats if model.core.prior.has_clock else [0.0]
    for repeat in repeats:
        column = name if len(repeats) == 1 else f"{name} repeat={repeat:g}"
        tag = column.replace(" ", "_")
        per_start = [
            _track_figures(model, s, out / f"longform_{tag}_{i}", repeat, missing, args)
            for i, s in enumerate(starts)
        ]
        got = dict(figures)
        for key in {k for f in per_start for k in f}:
            got[key] = _mean([f.get(key) for f in per_start])
        got["longform_rss_growth_mib"] = max(f["longform_rss_growth_mib"] for f in per_start)
        got.update(_loop_figures(model, repeat, out / f"loops_{tag}", missing, args))
        columns[column] = got
    return columns, facts, missing


def _track_figures(model, start: dict, stem: Path, repeat: float, missing: dict, args) -> dict:
    """One start's longform figures: its own tempo, then each of BPMS."""
    from melvae.errors import MelvaeError

    cfg, figures = model.audio, {}
    track = stem.parent / f"{stem.name}.wav"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    model.write_longform(
        track, args.longform_seconds, start=start["clip"], progress=False, seed=args.seed,
        repeat=repeat,
    )  # fmt: skip
    figures["longform_wall_seconds"] = round(time.perf_counter() - t0, 2)
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    figures["longform_rss_growth_mib"] = round(growth / 1024, 1)
    own = longform_figures(track, cfg, start["bpm"])
    figures.update(pulse_whole=own["pulse_whole"], pulse_after_40s=own["pulse_after_40s"])
    figures.update(held_start=own.get("held"), locked_start=own.get("locked"))
    figures["variation"] = variation(own["wave"], cfg, args.real_variation)

    for bpm in BPMS:  # a prior without a clock refuses a tempo: n/a, with its reason
        path = stem.parent / f"{stem.name}_{bpm:g}bpm.wav"
        try:
            model.write_longform(
                path, args.longform_seconds, start=start["clip"], bpm=bpm, progress=False,
                seed=args.seed, repeat=repeat,
            )  # fmt: skip
        except MelvaeError as exc:
            missing[f"held_{bpm:g}"] = str(exc)
            continue
        asked = longform_figures(path, cfg, bpm)
        figures[f"held_{bpm:g}"], figures[f"locked_{bpm:g}"] = asked["held"], asked["locked"]
    return figures


def _loop_figures(model, repeat: float, out_dir: Path, missing: dict, args) -> dict:
    from melvae.errors import MelvaeError
    from melvae.evaluation.rhythm import loop_wrap_jump, tempo_held

    figures = {}
    try:
        audio, sr = _make_loops(model, LOOP_BPM, LOOP_BARS, LOOP_COUNT, args.seed, out_dir, repeat)
    except MelvaeError as exc:
        missing["loop_exact"] = str(exc)
        return figures
    length = round(LOOP_BARS * 4 * 60.0 / LOOP_BPM * sr)
    figures["loop_exact"] = "yes" if audio.shape[-1] == length else f"no ({audio.shape[-1]})"
    figures["loop_held"] = float(np.mean([tempo_held(np.tile(a, 4), sr, LOOP_BPM) for a in audio]))
    figures["loop_wrap_jump"] = float(np.median([loop_wrap_jump(a, sr) for a in audio]))
    return figures


def table(priors: dict, real: dict) -> str:
    names = list(priors)
    lines = [
        "| figure | target | real | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for label, key, target in FIGURES:
        vals = [priors[n]["figures"].get(key) for n in names]
        lines.append(
            f"| {label} | {target} | {_fmt(real.get(key))} | "
            + " | ".join(_fmt(v) for v in vals)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("devset", type=Path, help="folder made by benchmarks.devset")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench_results/tempo")
    parser.add_argument("--minutes", type=float, default=8.0, help="the autoencoder's budget")
    parser.add_argument("--prior-minutes", type=float, default=2.0, help="each prior's budget")
    parser.add_argument("--priors", default="gru", help="comma-separated prior names")
    parser.add_argument(
        "--repeats", default="0.8", help="comma-separated --repeat values for a clocked prior"
    )
    parser.add_argument("--starts", type=int, default=3, help="beat-driven starts averaged")
    parser.add_argument("--genre", default="electronic", help="beat-driven genre to start from")
    parser.add_argument("--longform-seconds", type=float, default=180.0)
    parser.add_argument("--segments", type=int, default=64, help="held-out segments evaluated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="reuse the run folders in OUTPUT")
    args = parser.parse_args(argv)
    args.repeats = [float(x) for x in args.repeats.split(",")]

    from melvae.audio.io import load_audio
    from melvae.config import AudioConfig

    torch.set_num_threads(args.threads)
    load_at_start = os.getloadavg()  # other processes slow a budgeted run: say how busy
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    cfg = AudioConfig()
    t0 = time.perf_counter()
    train_dir = _dataset(args.devset / "train", out / "data_train")
    test_dir = _dataset(args.devset / "test", out / "data_test")
    rhythm = _real_rhythm(args.devset / "test", args.genre, cfg)
    starts = pick_starts(args.devset / "test", args.genre, cfg, args.starts)
    clips = sorted((args.devset / "test" / args.genre).glob("*.wav"))
    args.real_variation = float(
        np.median([_variation(load_audio(c, cfg.sample_rate), cfg) for c in clips])
    )
    real = {"pulse_whole": rhythm["real_pulse_clarity"], "pulse_after_40s": None, "variation": 1.0}
    ref = real_tempo(args.devset / "test", args.genre, cfg)
    real.update(held_start=ref["held"], locked_start=ref["locked"])
    for b in BPMS:  # real music at its own tempo, the reference of every tempo row
        real.update({f"held_{b:g}": ref["held"], f"locked_{b:g}": ref["locked"]})
    for s in starts:
        print(
            f"start {s['clip'].name}: first segment's pulse clarity {s['pulse']:.3f}, "
            f"tempo {_fmt(s['bpm'])} BPM",
            flush=True,
        )
    print(
        f"autoencoder: {'reusing' if args.reuse else f'training {args.minutes:g} min'}", flush=True
    )
    run_ae = train_autoencoder(train_dir, out, args)
    priors = {}
    for name in args.priors.split(","):
        print(f"prior {name}: fitting {args.prior_minutes:g} min, then measuring", flush=True)
        columns, facts, missing = run_prior(name, run_ae, test_dir, starts, out, args)
        for column, figures in columns.items():
            priors[column] = {"figures": figures, "facts": facts, "not_available": missing}
        payload = {
            "machine": {
                "cpu": platform.processor() or platform.machine(),
                "torch": torch.__version__,
                "threads": args.threads,
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
                "load_average_at_start": load_at_start,
                "load_average_now": os.getloadavg(),
            },
            "options": {k: str(v) for k, v in vars(args).items()},
            "starts": [s | {"clip": str(s["clip"])} for s in starts],
            "real_variation": args.real_variation,
            "real": real | {"genre": args.genre, "clips": rhythm["real_clips"]},
            "priors": priors,
            "wall_seconds": round(time.perf_counter() - t0, 1),
        }
        (out / "results.json").write_text(json.dumps(payload, indent=2, default=float) + "\n")
    text = table(priors, real) + (
        f"\n\nreal: the held-out {args.genre} clips (pulse clarity), and those with a clear beat "
        "at their own tracked tempo (tempo rows). Longform figures: the mean over "
        f"{len(starts)} starts ("
        + ", ".join(f"{s['clip'].name} at {_fmt(s['bpm'])} BPM" for s in starts)
        + f"), each {args.longform_seconds:g} s."
    )
    (out / "table.md").write_text(text + "\n")
    print(text)
    for name, result in priors.items():
        for key, why in result["not_available"].items():
            print(f"{name}: {key} n/a: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
