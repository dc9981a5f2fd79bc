"""Commands that make data and models: preprocess, train, synth and demo.

Each command is a pair: ``add_NAME(sub)`` declares its parser, ``cmd_NAME(args)`` runs it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from melvae import registry
from melvae.cli.common import (
    Subparsers,
    add_device,
    add_quiet,
    add_seed,
    commas,
    finite_float,
    listing,
    positive_float,
    positive_int,
)
from melvae.config import (  # config.py imports no torch
    DEFAULT_KIND,
    DEMO_LONGFORM_SECONDS,
    DEMO_MINUTES,
    FILES_PER_WORKER,
    LATENT_RATES,
    SCHEDULES,
    SEQUENCE_CHANNELS,
    SYNTH_SECONDS,
    SYNTH_STYLES,
    SYNTH_TRACKS_PER_STYLE,
    VECTOR_CHANNELS,
    AudioConfig,
    ModelConfig,
    TrainConfig,
    bars_to_seconds,
    default,
)
from melvae.errors import MelvaeError
from melvae.layout import BEST, CURVES, HISTORY, LAST
from melvae.safeio import check_output

# The segment length when neither --segment-seconds nor --bars is given: AudioConfig's own.
SEGMENT_SECONDS = AudioConfig().segment_seconds


def add_preprocess(sub: Subparsers) -> None:
    p = sub.add_parser(
        "preprocess",
        help="audio folder -> dataset of log-mel segments",
        description="Read every wav/flac/ogg/mp3 under AUDIO_DIR (any rate, mono "
        "or stereo), resample and mix to mono, cut fixed-length segments and "
        "store their normalized log-mels. A genre/track.wav layout gives labels.",
    )
    p.add_argument("audio_dir", type=Path, metavar="AUDIO_DIR")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DATA_DIR")
    for name, what in [
        ("sample_rate", "sample rate in Hz"),
        ("n_fft", "STFT size in samples"),
        ("hop_length", "STFT hop in samples"),
        ("n_mels", "mel bands"),
    ]:
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=positive_int,
            default=default(AudioConfig, name),
            help=f"{what} (default: %(default)s)",
        )
    p.add_argument(
        "--segment-seconds",
        type=positive_float,
        help=f"segment length in seconds (default: {SEGMENT_SECONDS:g})",
    )
    p.add_argument("--bars", type=positive_float, help="segment length in 4/4 bars (with --bpm)")
    p.add_argument("--bpm", type=positive_float, help="tempo for --bars / --hop-bars")
    p.add_argument(
        "--hop-seconds",
        type=positive_float,
        help="distance between segment starts (default: the segment length)",
    )
    p.add_argument("--hop-bars", type=positive_float, help="distance between starts in bars")
    p.add_argument(
        "--workers",
        type=positive_int,
        help=f"processes (default: all cores, one per {FILES_PER_WORKER} files at most)",
    )
    add_quiet(p)
    p.set_defaults(func=cmd_preprocess)


def cmd_preprocess(args: argparse.Namespace) -> int:
    from melvae.data.preprocess import preprocess

    check_output(args.output)
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
        cfg = cfg.with_segment(args.segment_seconds or SEGMENT_SECONDS)
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


def add_train(sub: Subparsers) -> None:
    p = sub.add_parser(
        "train",
        help="train a VAE on a dataset",
        description="Train the convolutional VAE on a dataset made by "
        f"`melvae preprocess`. Keeps {BEST} (lowest validation loss) and {LAST}, "
        f"{HISTORY} and {CURVES} in the run folder.",
    )

    def option(flag: str, cfg: type = TrainConfig, field: str | None = None, **kwargs) -> None:
        """--a-flag whose default is the dataclass field's (a_flag unless named)."""
        field = field or flag.lstrip("-").replace("-", "_")
        p.add_argument(flag, default=default(cfg, field), **kwargs)

    p.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="RUN_DIR")
    option("--epochs", type=positive_int, help="training epochs (default: %(default)s)")
    option(
        "--max-minutes",
        type=positive_float,
        help="stop cleanly after this much training time, keeping the best checkpoint; the "
        "learning rate decays over it. With --resume it is the total of the run so far plus "
        "what remains: give a larger value to train on",
    )
    option("--batch-size", type=positive_int, help="segments per batch (default: %(default)s)")
    p.add_argument(
        "--kind",
        choices=registry.KINDS.names(),
        default=DEFAULT_KIND,
        help="sequence: a latent sequence and a learned prior, keeps rhythm; vector: one "
        "latent vector per segment, for a 2-D latent map (default: %(default)s)",
    )
    option(
        "--latent-dim",
        ModelConfig,
        type=positive_int,
        help="vector kind: latent size, 2 for a visual map, 32-128 for quality "
        "(default: %(default)s)",
    )
    option(
        "--latent-channels",
        ModelConfig,
        type=positive_int,
        help="sequence kind: numbers per latent frame (default: %(default)s)",
    )
    rate, audio = default(ModelConfig, "rate"), AudioConfig()
    option(
        "--latent-rate",
        ModelConfig,
        "rate",
        type=int,
        choices=LATENT_RATES,
        help="sequence kind: mel frames per latent frame (default: %(default)s, "
        f"{audio.frames_to_seconds(rate) * 1000:.0f} ms at {audio.sample_rate:,} Hz)",
    )
    p.add_argument(
        "--channels",
        help=f"2-D conv channels, comma-separated (default: {commas(VECTOR_CHANNELS)} for the "
        f"vector kind, {commas(SEQUENCE_CHANNELS)} for the sequence kind)",
    )
    option(
        "--beta",
        type=finite_float,
        help="KL weight (default: the kind's: "
        + ", ".join(f"{registry.KINDS.get(k).beta:g} for {k}" for k in registry.KINDS)
        + ")",
    )
    option(
        "--prior",
        choices=registry.PRIORS.names(),
        help="sequence kind: the prior trained after the autoencoder (default: %(default)s)",
    )
    option(
        "--prior-fraction",
        type=finite_float,
        help="sequence kind: share of --max-minutes spent training the prior "
        "(default: %(default)s)",
    )
    option(
        "--prior-epochs",
        type=positive_int,
        help="sequence kind: the prior's epochs, where --max-minutes does not end it first "
        "(default: as --epochs)",
    )
    option(
        "--kl-warmup-epochs",
        type=int,
        help="epochs over which the KL weight ramps from 0 to beta (default: %(default)s)",
    )
    option(
        "--free-bits", type=finite_float, help="nats a latent dim is free (default: %(default)g)"
    )
    option("--lr", type=positive_float, help="learning rate (default: %(default)g)")
    option(
        "--grad-clip", type=finite_float, help="gradient norm clip, 0: off (default: %(default)g)"
    )
    option("--schedule", choices=SCHEDULES, help="learning-rate schedule (default: %(default)s)")
    option("--val-fraction", type=finite_float, help="tracks held out (default: %(default)s)")
    p.add_argument(
        "--conditional", action="store_true", help="condition on the labels (a conditional VAE)"
    )
    add_seed(p, default(TrainConfig, "seed"))
    option("--num-workers", type=int, help="data-loading processes (default: %(default)s)")
    option(
        "--devices",
        type=positive_int,
        help="processes/GPUs; > 1 trains with DDP through Lightning (default: %(default)s)",
    )
    option("--strategy", help="Lightning strategy, e.g. ddp (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run RUN_DIR holds (without it, a trained run is never replaced)",
    )
    add_quiet(p)
    add_device(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from melvae.training.train import train

    check_output(args.output)
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
        prior=args.prior,
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
        overwrite=args.overwrite,
        device=args.device,
        progress=not args.quiet,
    )
    if result.rank != 0:
        return 0  # under DDP, only the first process reports
    stopped = result.interrupted or not result.prior_finished
    print(
        f"training {'interrupted' if stopped else 'finished'} after {result.epochs} epochs "
        f"({result.seconds / 60:.1f} min); best {result.monitor} {result.best_score:.2f}; "
        f"active latent units {result.active_units}"
    )
    if not result.prior_finished:
        print(
            f"the prior stopped at epoch {result.prior_epochs} of {result.prior_planned}: "
            f"{BEST} holds it as trained so far; to train it in full, run the same command "
            "again with --resume"
        )
    print(f"checkpoints and curves in {args.output}")
    return 130 if stopped else 0


def add_synth(sub: Subparsers) -> None:
    p = sub.add_parser(
        "synth",
        help="synthesize a small labelled dataset of procedural music",
        description="Write OUT_DIR/<style>/<style>_NN.wav tracks of procedural "
        f"{listing(SYNTH_STYLES)} with random tempo, key and timbre.",
    )
    p.add_argument("output", type=Path, metavar="OUT_DIR")
    p.add_argument(
        "--tracks-per-style",
        type=positive_int,
        default=SYNTH_TRACKS_PER_STYLE,
        help="tracks of each style (default: %(default)s)",
    )
    p.add_argument(
        "--seconds",
        type=positive_float,
        default=SYNTH_SECONDS,
        help="length of each track (default: %(default)g)",
    )
    p.add_argument("--styles", help=f"comma-separated subset of {commas(SYNTH_STYLES)}")
    p.add_argument(
        "--sample-rate",
        type=positive_int,
        default=default(AudioConfig, "sample_rate"),
        help="sample rate in Hz (default: %(default)s)",
    )
    add_seed(p)
    p.set_defaults(func=cmd_synth)


def cmd_synth(args: argparse.Namespace) -> int:
    from melvae.data.synth import synthesize_dataset

    check_output(args.output)
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


def add_demo(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole pipeline on built-in synthetic music",
        description="Synthesize a small dataset, preprocess it, train for a few "
        "minutes, then generate, interpolate and write a "
        f"{DEMO_LONGFORM_SECONDS:g} s long track.",
    )
    p.add_argument("-o", "--output", type=Path, default=Path("demo_output"), metavar="DIR")
    p.add_argument(
        "--minutes",
        type=positive_float,
        default=DEMO_MINUTES,
        help="training time (default: %(default)g)",
    )
    p.add_argument(
        "--tracks-per-style",
        type=positive_int,
        default=SYNTH_TRACKS_PER_STYLE,
        help="tracks of each style (default: %(default)s)",
    )
    add_seed(p)
    add_device(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from melvae.demo import run_demo

    check_output(args.output)
    run_demo(
        Path(args.output),
        minutes=args.minutes,
        tracks_per_style=args.tracks_per_style,
        device=args.device,
        seed=args.seed,
    )
    return 0
