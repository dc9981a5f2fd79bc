"""The ``melvae`` command: parse, validate, call one library function.

Nothing heavy is imported at the top (``melvae --help`` answers in a fraction of a second);
each command imports what it needs. User errors print one line to stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from melvae.config import (  # config.py imports no torch
    DEFAULT_ITERATIONS,
    DEFAULT_KIND,
    MODEL_KINDS,
    bars_to_seconds,
)
from melvae.errors import MelvaeError
from melvae.version import __version__


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one label")
    return names


def _temperatures(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or a list of numbers: {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("temperatures must be >= 0")
    return values


def _add_optional_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data_dir",
        type=Path,
        nargs="?",
        metavar="DATA_DIR",
        help="dataset (default: the one the run trained on)",
    )


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps (default: auto)",
    )


def _add_inversion(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--iterations",
        type=_positive_int,
        default=DEFAULT_ITERATIONS,
        help=f"fast Griffin-Lim iterations (default: {DEFAULT_ITERATIONS})",
    )


# -- commands ------------------------------------------------------------------------------
def cmd_preprocess(args: argparse.Namespace) -> int:
    from melvae.config import AudioConfig
    from melvae.preprocess import preprocess

    cfg = AudioConfig(
        sample_rate=args.sample_rate,
        n_fft=args.n_fft,
        hop_length=args.hop_length,
        n_mels=args.n_mels,
    )
    if args.bars is not None:  # in bars at --bpm (with_segment says what is missing)
        if args.segment_seconds is not None:
            raise MelvaeError("give the segment length in --segment-seconds or --bars, not both")
        cfg = cfg.with_segment(bars=args.bars, bpm=args.bpm)
    else:  # --bpm alone only sets the tempo for --hop-bars
        cfg = cfg.with_segment(args.segment_seconds or 10.0)
    hop = args.hop_seconds
    if hop is None and args.hop_bars is not None:
        if args.bpm is None:
            raise MelvaeError("--hop-bars needs --bpm")
        hop = bars_to_seconds(args.hop_bars, args.bpm)
    summary = preprocess(
        args.audio_dir,
        args.output,
        cfg,
        hop_seconds=hop,
        workers=args.workers,
        progress=not args.quiet,
    )
    for line in summary.lines():
        print(line)
    for source, reason in list(summary.files_skipped.items())[:20]:
        print(f"  skipped {source}: {reason}", file=sys.stderr)
    print(f"dataset written to {args.output} ({summary.seconds_taken:.1f} s)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from melvae.config import TrainConfig
    from melvae.train import train

    cfg = TrainConfig(
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        batch_size=args.batch_size,
        lr=args.lr,
        beta=args.beta,
        kl_warmup_epochs=args.kl_warmup_epochs,
        free_bits=args.free_bits,
        grad_clip=args.grad_clip,
        val_fraction=args.val_fraction,
        seed=args.seed,
        num_workers=args.num_workers,
        schedule=args.schedule,
        conditional=args.conditional,
        devices=args.devices,
        strategy=args.strategy,
        prior_fraction=args.prior_fraction,
        prior_epochs=args.prior_epochs,
    )
    channels = tuple(int(c) for c in args.channels.split(",")) if args.channels else None
    result = train(
        args.data_dir,
        args.output,
        cfg,
        latent_dim=args.latent_dim,
        channels=channels,
        kind=args.kind,
        latent_channels=args.latent_channels,
        rate=args.latent_rate,
        resume=args.resume,
        device=args.device,
        progress=not args.quiet,
    )
    if result.rank != 0:
        return 0  # under DDP, only the first process reports
    state = "interrupted" if result.interrupted else "finished"
    print(
        f"training {state} after {result.epochs} epochs ({result.seconds / 60:.1f} min); "
        f"best {result.monitor} {result.best_score:.2f}; "
        f"active latent units {result.active_units}"
    )
    print(f"checkpoints and curves in {args.output}")
    return 130 if result.interrupted else 0


def cmd_generate(args: argparse.Namespace) -> int:
    import melvae

    model = melvae.load(args.run_dir, device=args.device)
    mels, labels = model.generate_mels(
        args.n, label=args.label, temperature=args.temperature, seed=args.seed, return_labels=True
    )
    # Each clip is named after its label (drawn in the data's proportions when none is given),
    # numbered over the whole draw: clip i of the API's output is file ..._{i:03d}.
    names = [f"{label or 'sample'}_{i:03d}" for i, label in enumerate(labels)]
    model.write_clips(
        args.output, mels, names, n_iter=args.iterations, seed=args.seed, fmt=args.format
    )
    print(
        f"wrote {args.n} clips of {model.audio.segment_seconds:.1f} s (+ mel PNGs) to {args.output}"
    )
    return 0


def _endpoint(spec: str, model, label: str | None = None):
    """-> (what the API takes, its label or None). 'DATA_DIR@N' means segment N of a dataset
    folder: its mel, and its folder's label where the model knows it; anything else (an audio
    file, a label) goes to the API as it is, with ``label`` (the --label option)."""
    data_dir, sep, index = spec.rpartition("@")
    if sep and index.isdigit() and Path(data_dir).is_dir():
        from melvae.config import assert_same_audio
        from melvae.dataset import MelDataset

        data = MelDataset(data_dir)
        assert_same_audio(model.audio, data.audio, f"dataset {data_dir}")
        if int(index) >= len(data):
            raise MelvaeError(f"{data_dir} has {len(data)} segments; no segment {index}")
        own = data.segments[int(index)].label
        return data[int(index)][0].numpy(), own if own in model.labels else label
    return spec, label


def cmd_interpolate(args: argparse.Namespace) -> int:
    import melvae

    model = melvae.load(args.run_dir, device=args.device)
    if args.label is not None:
        model.label_index(args.label)  # an unknown label is an error even where unused
    (a, label_a), (b, label_b) = (_endpoint(x, model, args.label) for x in (args.a, args.b))
    path = model.write_interpolation(
        args.output,
        a,
        b,
        steps=args.steps,
        fade_seconds=args.fade_seconds,
        n_iter=args.iterations,
        seed=args.seed,
        label_a=label_a,
        label_b=label_b,
    )
    print(f"wrote {args.steps} steps and the joined transition {path}")
    return 0


def cmd_longform(args: argparse.Namespace) -> int:
    import melvae

    model = melvae.load(args.run_dir, device=args.device)
    start, start_label = _endpoint(args.start, model) if args.start else (None, None)
    label = args.label
    if label is None and model.label_conditioned:
        label = start_label  # a dataset segment keeps its folder's label (None: the API picks)
    settings = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in ("func", "quiet")
    }
    info = model.write_longform(
        args.output,
        args.seconds,
        start=start,
        label=label,
        bpm=args.bpm,
        seed=args.seed,
        temperature=args.temperature[0] if model.kind == "vector" else args.temperature,
        labels=args.labels,
        steps_per_target=args.steps_per_target,
        n_iter=args.iterations,
        progress=not args.quiet,
        settings=settings,
    )
    print(
        f"wrote {info['seconds']:.1f} s track {args.output} ({len(info['segments'])} "
        f"segments, {len(info['joins'])} joins) and {Path(args.output).with_suffix('.json')}"
        + (f"; labels {' -> '.join(info['labels'])}" if info.get("labels") else "")
    )
    if info["clipped_samples"]:
        print(
            f"note: {info['clipped_samples']} samples were over full scale and were clipped",
            file=sys.stderr,
        )
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    import melvae
    from melvae.analysis import reconstruct, validation_indices

    model = melvae.load(args.run_dir, device=args.device)
    pick = "even"
    if args.validation:
        if not Path(args.source).is_dir():
            raise MelvaeError("--validation takes a dataset folder, not an audio file")
        pick = validation_indices(args.run_dir, args.source)
        if not pick:
            raise MelvaeError(f"the run {args.run_dir} kept no validation segments")
    records = reconstruct(
        model,
        args.source,
        args.output,
        max_items=args.n,
        n_iter=args.iterations,
        seed=args.seed,
        pick=pick,
        label=args.label,
    )
    for r in records:
        print(f"  {Path(r['png']).name}: mel L1 {r['mel_l1_db']:.2f} dB")
    print(f"wrote {len(records)} original / reconstruction pairs (+ PNGs) to {args.output}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from melvae.evaluate import evaluate, format_table, write_metrics

    result = evaluate(
        args.run_dir,
        args.data_dir,
        split=args.split,
        n_generate=args.n_generate,
        longform=args.longform,
        n_iter=args.iterations,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
        audio_dir=args.audio_dir,
        max_segments=args.max_segments,
    )
    print(format_table(result))
    write_metrics(result, args.output)
    print(f"metrics written to {args.output}")
    return 0


def cmd_latent_map(args: argparse.Namespace) -> int:
    import melvae
    from melvae.analysis import decoded_grid, latent_map
    from melvae.plots import save_grid_png

    model = melvae.load(args.run_dir, device=args.device)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    info = latent_map(
        model,
        args.data_dir,
        out,
        max_points=args.max_points,
        grid=args.grid if model.has_plane else None,
        seed=args.seed,
    )
    print(f"latent map of {info['n_points']} segments ({', '.join(info['panels'])}) in {out}")
    if model.has_plane:
        mels, xs, ys = decoded_grid(model, n=args.grid, extent=info.get("extent"))
        grid_png = out.with_name(out.stem + "_grid.png")
        save_grid_png(mels, model.audio, grid_png, xs=xs, ys=ys)
        print(f"decoded {args.grid} x {args.grid} grid over the plane in {grid_png}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import json

    from melvae.report import build_report

    metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else None
    index = build_report(
        args.run_dir,
        args.output,
        data_dir=args.data_dir,
        metrics=metrics,
        n_generate=args.n_generate,
        grid=args.grid,
        n_iter=args.iterations,
        seed=args.seed,
        device=args.device,
    )
    print(f"report written: open {index} in a browser")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from melvae.synth import synthesize_dataset

    styles = tuple(args.styles.split(",")) if args.styles else None
    kwargs = {"styles": styles} if styles else {}
    try:
        paths = synthesize_dataset(
            args.output,
            tracks_per_style=args.tracks_per_style,
            seconds=args.seconds,
            sample_rate=args.sample_rate,
            seed=args.seed,
            **kwargs,
        )
    except ValueError as exc:
        raise MelvaeError(str(exc)) from None
    print(f"wrote {len(paths)} tracks of {args.seconds:g} s to {args.output}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from melvae.demo import run_demo

    run_demo(
        Path(args.output),
        minutes=args.minutes,
        tracks_per_style=args.tracks_per_style,
        device=args.device,
        seed=args.seed,
    )
    return 0


# -- parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="melvae",
        description="Learn music from a folder of audio with a mel-spectrogram VAE, and "
        "generate clips, transitions and long seamless tracks from it.",
        epilog="Start with `melvae demo`, or: preprocess -> train -> generate / longform. "
        "`melvae COMMAND --help` explains each command.",
    )
    parser.add_argument("--version", action="version", version=f"melvae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "preprocess",
        help="audio folder -> dataset of log-mel segments",
        description="Read every wav/flac/ogg/mp3 under AUDIO_DIR (any rate, mono "
        "or stereo), resample and mix to mono, cut fixed-length segments and "
        "store their normalized log-mels. A genre/track.wav layout gives labels.",
    )
    p.add_argument("audio_dir", type=Path, metavar="AUDIO_DIR")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DATA_DIR")
    p.add_argument("--sample-rate", type=_positive_int, default=22050)
    p.add_argument("--n-fft", type=_positive_int, default=2048)
    p.add_argument("--hop-length", type=_positive_int, default=512)
    p.add_argument("--n-mels", type=_positive_int, default=128)
    p.add_argument(
        "--segment-seconds",
        type=_positive_float,
        help="segment length in seconds (default: 10)",
    )
    p.add_argument("--bars", type=_positive_float, help="segment length in 4/4 bars (with --bpm)")
    p.add_argument("--bpm", type=_positive_float, help="tempo for --bars / --hop-bars")
    p.add_argument(
        "--hop-seconds",
        type=_positive_float,
        help="distance between segment starts (default: the segment length)",
    )
    p.add_argument("--hop-bars", type=_positive_float, help="distance between starts in bars")
    p.add_argument("--workers", type=_positive_int, help="processes (default: all cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser(
        "train",
        help="train a VAE on a dataset",
        description="Train the convolutional VAE on a dataset made by "
        "`melvae preprocess`. Keeps best.pt (lowest validation loss) and last.pt, "
        "history.csv and curves.png in the run folder.",
    )
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="RUN_DIR")
    p.add_argument("--epochs", type=_positive_int, default=100)
    p.add_argument(
        "--max-minutes",
        type=_positive_float,
        help="stop cleanly after this much training time, keeping the best checkpoint; the "
        "learning rate decays over it. With --resume it is the total of the run so far plus "
        "what remains: give a larger value to train on",
    )
    p.add_argument("--batch-size", type=_positive_int, default=16)
    p.add_argument(
        "--kind",
        choices=MODEL_KINDS,
        default=DEFAULT_KIND,
        help="sequence: a latent sequence and a learned prior, keeps rhythm; vector: one "
        f"latent vector per segment, for a 2-D latent map (default: {DEFAULT_KIND})",
    )
    p.add_argument(
        "--latent-dim",
        type=_positive_int,
        default=64,
        help="vector kind: latent size, 2 for a visual map, 32-128 for quality (default: 64)",
    )
    p.add_argument(
        "--latent-channels",
        type=_positive_int,
        default=16,
        help="sequence kind: numbers per latent frame (default: 16)",
    )
    p.add_argument(
        "--latent-rate",
        type=int,
        choices=(1, 2, 4, 8),
        default=4,
        help="sequence kind: mel frames per latent frame (default: 4, 93 ms at 22,050 Hz)",
    )
    p.add_argument(
        "--channels",
        help="2-D conv channels, comma-separated (default: 16,32,64,128,256 for the vector "
        "kind, 16,32,32 for the sequence kind)",
    )
    p.add_argument(
        "--beta",
        type=float,
        help="KL weight (default: 1 for the vector kind, 0.01 for the sequence kind)",
    )
    p.add_argument(
        "--prior-fraction",
        type=float,
        default=0.2,
        help="sequence kind: share of --max-minutes spent training the prior (default: 0.2)",
    )
    p.add_argument(
        "--prior-epochs",
        type=_positive_int,
        help="sequence kind: the prior's epochs, where --max-minutes does not end it first "
        "(default: as --epochs)",
    )
    p.add_argument(
        "--kl-warmup-epochs",
        type=int,
        default=10,
        help="epochs over which the KL weight ramps from 0 to beta (default: 10)",
    )
    p.add_argument(
        "--free-bits",
        type=float,
        default=0.0,
        help="nats per latent dimension not penalised (default: 0)",
    )
    p.add_argument("--lr", type=_positive_float, default=1e-3)
    p.add_argument(
        "--grad-clip",
        type=float,
        default=100.0,
        help="clip the gradient norm to this (0: off; default: 100)",
    )
    p.add_argument("--schedule", choices=("cosine", "plateau"), default="cosine")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of tracks held out for validation (default: 0.1)",
    )
    p.add_argument(
        "--conditional", action="store_true", help="condition on the labels (a conditional VAE)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-workers", type=int, default=0, help="data-loading processes")
    p.add_argument(
        "--devices",
        type=_positive_int,
        default=1,
        help="processes/GPUs; > 1 trains with DDP through Lightning",
    )
    p.add_argument(
        "--strategy", default="auto", help="Lightning strategy, e.g. ddp (default: auto)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_device(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "generate",
        help="sample new clips",
        description="Sample latent vectors, decode them to mels and invert to "
        "audio. Writes one audio file and one mel PNG per clip.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("-n", type=_positive_int, default=8, help="clips (default: 8)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT_DIR")
    p.add_argument(
        "--label",
        help="a label the model knows (e.g. a genre); a conditional model without it draws "
        "each clip's label in the training data's proportions and names the file after it",
    )
    p.add_argument(
        "--temperature",
        type=_non_negative_float,
        default=1.0,
        help="scale of the latent draws (default: 1)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=("wav", "flac"), default="wav")
    _add_inversion(p)
    _add_device(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "interpolate",
        help="a smooth transition between two clips or labels",
        description="Spherically interpolate between the latent means of A and B "
        "and decode each step. A and B are audio files, labels, or dataset "
        "segments written DATA_DIR@INDEX.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--steps", type=_positive_int, default=8)
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT_DIR")
    p.add_argument(
        "--label",
        help="conditional models: the label of A and B where they are audio files (default: "
        "the label that reconstructs each best); a dataset segment keeps its folder's label",
    )
    p.add_argument(
        "--fade-seconds",
        type=float,
        default=1.0,
        help="crossfade between steps in the joined file (default: 1)",
    )
    p.add_argument("--seed", type=int, default=0)
    _add_inversion(p)
    _add_device(p)
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser(
        "longform",
        help="a long seamless track from a real start",
        description="Start from a real segment and make one track of exactly --seconds. "
        "A sequence model continues the start's latent sequence with its prior and inverts it "
        "as one stream, with no joins; a vector model walks the latent space and joins the "
        "decoded segments with spectrogram crossfades. Writes TRACK and TRACK.json.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--seconds", type=_positive_float, default=180.0)
    p.add_argument("-o", "--output", type=Path, required=True, metavar="TRACK")
    p.add_argument(
        "--start",
        help="audio file, or DATA_DIR@INDEX, to open the track with (default: a random draw)",
    )
    p.add_argument(
        "--bpm",
        type=_positive_float,
        help="vector kind: segments and overlaps become whole bars, keeping the beat",
    )
    p.add_argument(
        "--label",
        help="walk near this label (conditional or sequence models: condition on it; default: "
        "the start's label, or a drawn one)",
    )
    p.add_argument(
        "--labels",
        type=_names,
        help="conditional or sequence models: labels to travel through, comma-separated, "
        "spread evenly over the track (e.g. techno,ambient)",
    )
    p.add_argument(
        "--temperature",
        type=_temperatures,
        default=[1.0],
        help="sampling temperature; sequence kind: a comma-separated list is spread over the "
        "track (e.g. 0.8,1.2)",
    )
    p.add_argument(
        "--steps-per-target",
        type=_positive_int,
        default=4,
        help="vector kind: segments spent moving towards each new random target (default: 4)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_inversion(p)
    _add_device(p)
    p.set_defaults(func=cmd_longform)

    p = sub.add_parser(
        "reconstruct",
        help="encode and decode clips: hear what the model keeps",
        description="Encode and decode the segments of an audio file, or segments of a dataset "
        "folder, and write each original beside its reconstruction with a PNG of both mels.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("source", type=Path, metavar="AUDIO_FILE_OR_DATA_DIR")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT_DIR")
    p.add_argument("-n", type=_positive_int, default=8, help="segments (default: 8)")
    p.add_argument(
        "--validation",
        action="store_true",
        help="with a dataset: take the run's held-out (validation) segments",
    )
    p.add_argument("--label", help="label to condition on (conditional models, audio files)")
    p.add_argument("--seed", type=int, default=0)
    _add_inversion(p)
    _add_device(p)
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser(
        "evaluate",
        help="metrics: reconstruction, latent space, generation, long tracks",
        description="Measure a model offline on held-out segments: reconstruction error beside "
        "the phase-only baseline, KL and active units, kNN label accuracy, Frechet and kernel "
        "distances of generated clips against a real-data floor, copying, and (with "
        "--longform) seams and tempo stability. Prints a table and writes JSON.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    _add_optional_data_dir(p)
    p.add_argument(
        "-o", "--output", type=Path, default=Path("metrics.json"), metavar="METRICS_JSON"
    )
    p.add_argument("--split", choices=("val", "train", "all"), default="val")
    p.add_argument(
        "--max-segments",
        type=_positive_int,
        default=64,
        help="evaluate a seeded subsample of at most this many (default: 64)",
    )
    p.add_argument("--n-generate", type=_positive_int, help="generated clips (default: as many)")
    p.add_argument("--longform", type=Path, metavar="TRACK", help="a track from `melvae longform`")
    p.add_argument(
        "--audio-dir", type=Path, help="the audio folder (default: the one preprocess recorded)"
    )
    p.add_argument("--seed", type=int, default=0)
    _add_inversion(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_device(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "latent-map",
        help="plot the dataset in latent space, coloured by label",
        description="Latent means of a dataset coloured by label: the plane itself for a "
        "latent size of 2 (plus MAP_grid.png, mels decoded over a regular grid), a PCA "
        "projection (and t-SNE where scikit-learn is installed) otherwise.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    p.add_argument("-o", "--output", type=Path, default=Path("map.png"), metavar="MAP_PNG")
    p.add_argument("--grid", type=_positive_int, default=8, help="grid size for 2-D models")
    p.add_argument("--max-points", type=_positive_int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    _add_device(p)
    p.set_defaults(func=cmd_latent_map)

    p = sub.add_parser(
        "report",
        help="a self-contained HTML report to open in a browser",
        description="Write OUT_DIR/index.html: training curves, the evaluation table "
        "(--metrics), reconstructions and generated clips with players and spectrograms, the "
        "latent map, and for a 2-D model a clickable grid that plays the clip decoded there.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    _add_optional_data_dir(p)
    p.add_argument("-o", "--output", type=Path, default=Path("report"), metavar="OUT_DIR")
    p.add_argument("--metrics", type=Path, help="metrics.json from `melvae evaluate`")
    p.add_argument("--n-generate", type=_positive_int, default=4)
    p.add_argument("--grid", type=_positive_int, default=6, help="grid size for 2-D models")
    p.add_argument("--seed", type=int, default=0)
    _add_inversion(p)
    _add_device(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "synth",
        help="synthesize a small labelled dataset of procedural music",
        description="Write OUT_DIR/<style>/<style>_NN.wav tracks of procedural "
        "techno, breakbeat and ambient with random tempo, key and timbre.",
    )
    p.add_argument("output", type=Path, metavar="OUT_DIR")
    p.add_argument("--tracks-per-style", type=_positive_int, default=8)
    p.add_argument("--seconds", type=_positive_float, default=30.0)
    p.add_argument("--styles", help="comma-separated subset of techno,breakbeat,ambient")
    p.add_argument("--sample-rate", type=_positive_int, default=22050)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser(
        "demo",
        help="the whole pipeline on built-in synthetic music",
        description="Synthesize a small dataset, preprocess it, train for a few "
        "minutes, then generate, interpolate and write a 60 s long track.",
    )
    p.add_argument("-o", "--output", type=Path, default=Path("demo_output"), metavar="DIR")
    p.add_argument(
        "--minutes", type=_positive_float, default=4.0, help="training time (default: 4)"
    )
    p.add_argument("--tracks-per-style", type=_positive_int, default=8)
    p.add_argument("--seed", type=int, default=0)
    _add_device(p)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MelvaeError as exc:
        print(f"melvae: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("melvae: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        print(f"melvae: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
