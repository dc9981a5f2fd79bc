"""Both model kinds side by side on real music: the figures behind the README's evaluation.

    python -m benchmarks.devset DEVSET                 # once, as root: real game music
    python -m benchmarks.realmusic DEVSET -o bench_results/realmusic [--minutes 10]

For each kind (sequence, then vector), on the dev set's train side: ``melvae train`` for
``--minutes`` of wall time (the sequence kind's prior included), then, on the held-out tracks
of the test side, ``melvae evaluate`` (temporal detail, spectral convergence against the
phase-only floor, Frechet and diversity ratios) and a 180 s ``melvae longform`` from the first
clip of a beat-driven test genre, timed, with its pulse clarity against that genre's real
clips and its timbre jumps at its joins (or every 10 s when it has none) against real music's
at arbitrary 10 s marks. Prints one table, writes ``results.json`` and ``table.md``.

Never run by the test suite: it needs the dev set and about 15 minutes per kind on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("sequence", "vector")


def _dataset(audio_dir: Path, out: Path) -> Path:
    from melvae.config import AudioConfig
    from melvae.data.preprocess import preprocess
    from melvae.layout import MELS

    if not (out / MELS).is_file():
        preprocess(audio_dir, out, AudioConfig(), progress=False)
    return out


def _segments_per_second(run: Path, train_segments: int) -> float:
    """Training throughput from history.csv: segments seen / seconds in training epochs."""
    from melvae.layout import HISTORY

    with open(run / HISTORY, newline="") as fh:
        rows = list(csv.DictReader(fh))
    seconds = sum(float(r["seconds"]) for r in rows)
    return len(rows) * train_segments / max(seconds, 1e-9)


def _throughput(model_cfg, crop_frames: int = 0, batch: int = 16, repeats: int = 6) -> float:
    """Training segments per second of a model shape: forward, backward and an Adam step on
    a batch of whole segments (or of ``crop_frames`` windows), median of ``repeats`` after a
    warm-up, on random input (speed does not depend on the data)."""
    from melvae.models import build_network

    torch.manual_seed(0)
    model = build_network(model_cfg).train()
    opt = torch.optim.Adam(model.parameters())
    frames = crop_frames or model_cfg.n_frames
    mel = torch.rand(batch, model_cfg.n_mels, frames)
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        recon, mu, logvar = model(mel)
        loss = (recon - mel).square().sum() + mu.square().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return batch / float(np.median(times[1:]))


def _real_rhythm(test_audio: Path, genre: str, cfg) -> dict:
    """Pulse clarity of the genre's real test clips, and real music's timbre jump ratio at
    arbitrary 10 s marks (all test clips)."""
    from melvae.audio.io import load_audio
    from melvae.evaluation.rhythm import pulse_clarity, regular_marks, timbre_jump_ratio

    clips = sorted((test_audio / genre).glob("*.wav"))
    pulse = [pulse_clarity(load_audio(c, cfg.sample_rate), cfg) for c in clips]
    # The longform starts from the genre's most beat-driven held-out clip (not, say, a
    # fade-in that happens to sort first).
    start = clips[int(np.nanargmax(pulse))]
    jumps = []
    for clip in sorted(test_audio.glob("*/*.wav")):
        wave = load_audio(clip, cfg.sample_rate)
        jumps.append(timbre_jump_ratio(wave, cfg, regular_marks(len(wave) / cfg.sample_rate)))
    return {
        "genre": genre,
        "real_pulse_clarity": float(np.nanmean(pulse)),
        "real_timbre_jump_ratio": float(np.nanmean(jumps)),
        "real_clips": len(clips),
        "start": str(start),
        "start_pulse_clarity": float(np.nanmax(pulse)),
    }


def run_kind(kind: str, train_dir: Path, test_dir: Path, start: Path, out: Path, args) -> dict:
    import melvae
    from melvae.config import TrainConfig
    from melvae.data.dataset import MelDataset, track_split
    from melvae.evaluation.evaluate import evaluate
    from melvae.layout import BEST, HISTORY
    from melvae.training.train import train

    torch.set_num_threads(args.threads)
    run = out / f"run_{kind}"
    cfg = TrainConfig(max_minutes=args.minutes, epochs=10_000, seed=args.seed)
    facts = {"kind": kind}
    if not (args.reuse and (run / BEST).is_file()):
        t0 = time.perf_counter()
        result = train(train_dir, run, cfg, kind=kind, device=args.device, progress=False)
        facts["train_wall_seconds"] = round(time.perf_counter() - t0, 1)
        facts["best_val_loss"] = result.best_score
    data = MelDataset(train_dir)
    train_idx, _ = track_split(data.segments, cfg.val_fraction, cfg.seed)
    with open(run / HISTORY, newline="") as fh:
        facts["epochs"] = len(list(csv.DictReader(fh)))
    facts["train_segments_per_second"] = round(_segments_per_second(run, len(train_idx)), 1)
    model = melvae.load(run, device=args.device)
    facts["weights"] = model.n_weights
    facts["whole_segments_per_second"] = round(_throughput(model.core.network.cfg), 1)
    if kind == "sequence" and cfg.crop_frames:
        facts["crop_frames"] = cfg.crop_frames
        facts["crop_windows_per_second"] = round(
            _throughput(model.core.network.cfg, cfg.crop_frames), 1
        )
    facts.update({k: v for k, v in model.info.items() if k.startswith("prior_")})

    track = out / f"longform_{kind}.wav"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    model.write_longform(track, args.longform_seconds, start=start, progress=False, seed=args.seed)
    facts["longform_seconds"] = args.longform_seconds
    facts["longform_wall_seconds"] = round(time.perf_counter() - t0, 2)
    facts["longform_peak_rss_growth_mib"] = round(
        (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, 1
    )

    metrics = evaluate(
        run,
        test_dir,
        split="all",
        longform=track,
        max_segments=args.segments,
        seed=args.seed,
        device=args.device,
        progress=False,
    )
    return {"facts": facts, "metrics": metrics}


ROWS = [
    ("temporal detail, model mel (target >= 0.5)", "reconstruction", "temporal_detail"),
    ("temporal detail, resynthesized audio", "reconstruction", "temporal_detail_audio"),
    ("spectral convergence of reconstructions, dB", "reconstruction", "sc_db"),
    ("phase-only floor of the same, dB", "reconstruction", "phase_only_sc_db"),
    ("Frechet ratio to the real-vs-real floor (target <= 2)", "generation", "frechet_ratio"),
    ("diversity ratio, generated / real (target >= 0.8)", "generation", "diversity_ratio"),
    ("kNN genre accuracy of (time-pooled) latent means", "latent", "knn_accuracy"),
    ("180 s longform: pulse clarity", "longform", "pulse_clarity"),
    ("180 s longform: timbre jump ratio", "longform", "timbre_jump_ratio"),
    ("180 s longform: seam score at joins", "longform", "seam_score"),
]
FACTS = [
    ("training throughput, whole 10 s segments / s", "whole_segments_per_second"),
    ("training throughput in the run (segments or windows / s)", "train_segments_per_second"),
    ("epochs in the budget", "epochs"),
    ("180 s longform, wall seconds (target < 20)", "longform_wall_seconds"),
    ("weights", "weights"),
]


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "nan" if v != v else (f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}")
    return f"{v:,}" if isinstance(v, int) else str(v)


def table(results: dict, real: dict) -> str:
    kinds = [k for k in KINDS if k in results]
    lines = ["| figure | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for name, section, key in ROWS:
        vals = [results[k]["metrics"].get(section, {}).get(key) for k in kinds]
        lines.append(f"| {name} | " + " | ".join(_fmt(v) for v in vals) + " |")
    for name, key in FACTS:
        vals = [results[k]["facts"].get(key) for k in kinds]
        lines.append(f"| {name} | " + " | ".join(_fmt(v) for v in vals) + " |")
    lines.append(
        f"\nReal {real['genre']} clips: pulse clarity {real['real_pulse_clarity']:.3f}; "
        f"real music at arbitrary 10 s marks: timbre jump ratio "
        f"{real['real_timbre_jump_ratio']:.3f}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("devset", type=Path, help="folder made by benchmarks.devset")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench_results/realmusic")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per kind")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--genre", default="electronic", help="beat-driven genre to start from")
    parser.add_argument("--longform-seconds", type=float, default=180.0)
    parser.add_argument("--segments", type=int, default=64, help="held-out segments evaluated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reuse", action="store_true", help="evaluate the run folders already in OUTPUT again"
    )
    args = parser.parse_args(argv)

    from melvae.config import AudioConfig

    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    train_dir = _dataset(args.devset / "train", out / "data_train")
    test_dir = _dataset(args.devset / "test", out / "data_test")
    real = _real_rhythm(args.devset / "test", args.genre, AudioConfig())
    start = Path(real["start"])
    results = {}
    path = out / "results.json"
    if path.is_file():  # one kind at a time: keep what an earlier call measured
        results = json.loads(path.read_text()).get("kinds", {})
    for kind in args.kinds.split(","):
        what = "reusing its run" if args.reuse else f"training {args.minutes:g} min"
        print(f"{kind}: {what}, then longform and evaluation", flush=True)
        results[kind] = run_kind(kind, train_dir, test_dir, start, out, args)
        payload = {
            "machine": {
                "cpu": platform.processor() or platform.machine(),
                "torch": torch.__version__,
            },
            "options": {k: str(v) for k, v in vars(args).items()},
            "start": str(start),
            "real": real,
            "kinds": results,
        }
        path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    text = table(results, real)
    (out / "table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
