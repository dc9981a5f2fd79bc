"""`melvae demo`: the whole pipeline on built-in synthetic music, with no data of the user's.

synth -> preprocess -> train (a few minutes) -> generate -> interpolate -> longform ->
evaluate -> report.
Each step calls the same library function as its command.
"""

from __future__ import annotations

import time
from pathlib import Path

from melvae.config import (
    DEFAULT_DEVICE,
    DEMO_LONGFORM_SECONDS,
    DEMO_MINUTES,
    SYNTH_SECONDS,
    SYNTH_TRACKS_PER_STYLE,
    AudioConfig,
    TrainConfig,
)


def run_demo(
    out: Path,
    minutes: float = DEMO_MINUTES,
    tracks_per_style: int = SYNTH_TRACKS_PER_STYLE,
    seconds: float = SYNTH_SECONDS,
    device: str = DEFAULT_DEVICE,
    seed: int = 0,
    longform_seconds: float = DEMO_LONGFORM_SECONDS,
    epochs: int = 200,
    audio: AudioConfig | None = None,
    train_kwargs: dict | None = None,
    eval_segments: int = 16,
    progress: bool = True,
    inverter_options: dict | None = None,
) -> dict[str, Path]:
    """Run the demo into ``out``; returns the paths of what it made. ``inverter_options``:
    the mel-to-audio stage's own options (:func:`melvae.load`) for every clip it writes."""
    import melvae
    from melvae.data.preprocess import preprocess
    from melvae.data.synth import STYLES, synthesize_dataset
    from melvae.evaluation.evaluate import evaluate
    from melvae.report.build import build_report
    from melvae.report.present import format_table, write_metrics
    from melvae.training.train import train

    t0 = time.perf_counter()
    out = Path(out)
    paths = {
        "audio": out / "audio",
        "data": out / "data",
        "run": out / "run",
        "generated": out / "generated",
        "interpolation": out / "interpolation",
        "longform": out / "longform.wav",
        "metrics": out / "metrics.json",
        "report": out / "report",
    }

    def step(text: str) -> None:
        print(f"\n[{time.perf_counter() - t0:6.1f} s] {text}", flush=True)

    step(
        f"1/7 synthesizing {tracks_per_style} x {len(STYLES)} tracks of {seconds:g} s "
        f"({', '.join(STYLES)})"
    )
    synthesize_dataset(
        paths["audio"], tracks_per_style=tracks_per_style, seconds=seconds, seed=seed
    )

    step("2/7 preprocessing into 10 s log-mel segments (hop 2.5 s)")
    cfg = audio or AudioConfig()
    summary = preprocess(
        paths["audio"], paths["data"], cfg, hop_seconds=cfg.segment_seconds / 4, progress=progress
    )
    print("\n".join(summary.lines()))

    step(f"3/7 training for up to {minutes:g} minutes")
    train_cfg = TrainConfig(
        epochs=epochs,
        max_minutes=minutes,
        seed=seed,
        val_fraction=0.15,
        kl_warmup_epochs=5,
        **(train_kwargs or {}),
    )
    # the demo's own run, remade with the rest of its folder each time the demo runs
    result = train(
        paths["data"], paths["run"], train_cfg, device=device, progress=progress, overwrite=True
    )
    print(
        f"trained {result.epochs} epochs; best {result.monitor} {result.best_score:.1f}; "
        f"active latent units {result.active_units}"
    )

    model = melvae.load(paths["run"], device=device, **(inverter_options or {}))
    step("4/7 generating one clip per style, and two unconditioned ones")
    for label in [*model.labels, None]:
        n = 1 if label else 2
        names = [f"{label or 'sample'}_{i:02d}" for i in range(n)]
        mels = model.generate_mels(n, label, seed=seed)
        model.write_clips(paths["generated"], mels, names, seed=seed)

    a, b = (model.labels[0], model.labels[-1]) if model.labels else (None, None)
    step(f"5/7 interpolating from {a} to {b}")
    model.write_interpolation(paths["interpolation"], a, b, steps=6, seed=seed)

    # The long track starts from the beat-driven style (techno, the last label) whose beat
    # it should keep; the report measures its pulse against this start's.
    start = sorted((paths["audio"] / model.labels[-1]).glob("*.wav"))[0] if model.labels else None
    step(
        f"6/7 a {longform_seconds:g} s long track starting from {start.name if start else 'a draw'}"
    )
    model.write_longform(
        paths["longform"],
        longform_seconds,
        start=start,
        seed=seed,
        progress=progress,
        settings={"start": str(start) if start else None},
    )

    step("7/7 evaluating on the held-out tracks and writing the report")
    metrics = evaluate(
        paths["run"],
        paths["data"],
        max_segments=eval_segments,
        longform=paths["longform"],
        seed=seed,
        device=device,
        progress=progress,
        model=model,
    )
    write_metrics(metrics, paths["metrics"])
    print(format_table(metrics))
    index = build_report(
        paths["run"],
        paths["report"],
        data_dir=paths["data"],
        metrics=metrics,
        seed=seed,
        device=device,
        model=model,
        longform=paths["longform"],
    )

    step("done. Listen to:")
    for name in ("generated", "interpolation", "longform", "metrics"):
        print(f"  {name:14s} {paths[name]}")
    print(f"  {'report':14s} {index}  (open it in a browser)")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return paths
