"""Commands that look into a trained model: reconstruct, evaluate, latent-map and report.

Each command is a pair: ``add_NAME(sub)`` declares its parser, ``cmd_NAME(args)`` runs it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from melvae.cli.common import (
    Subparsers,
    add_device,
    add_inversion,
    add_optional_data_dir,
    add_quiet,
    add_run_dir,
    add_seed,
    load_model,
    positive_int,
)
from melvae.config import (
    EVAL_MAX_SEGMENTS,
    EVAL_SPLIT,
    EVAL_SPLITS,
    MAP_GRID,
    MAP_MAX_POINTS,
    RECONSTRUCT_SEGMENTS,
    REPORT_CLIPS,
    REPORT_GRID,
)
from melvae.errors import MelvaeError
from melvae.safeio import check_output


def add_reconstruct(sub: Subparsers) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="encode and decode clips: hear what the model keeps",
        description="Encode and decode the segments of an audio file, or segments of a dataset "
        "folder, and write each original beside its reconstruction with a PNG of both mels.",
    )
    add_run_dir(p)
    p.add_argument("source", type=Path, metavar="AUDIO_FILE_OR_DATA_DIR")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT_DIR")
    p.add_argument(
        "-n",
        type=positive_int,
        default=RECONSTRUCT_SEGMENTS,
        help="segments (default: %(default)s)",
    )
    p.add_argument(
        "--validation",
        action="store_true",
        help="with a dataset: take the run's held-out (validation) segments",
    )
    p.add_argument("--label", help="label to condition on (conditional models, audio files)")
    add_seed(p)
    add_inversion(p)
    add_device(p)
    p.set_defaults(func=cmd_reconstruct)


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from melvae.evaluation.analysis import reconstruct, validation_indices

    check_output(args.output)
    model = load_model(args)
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
        seed=args.seed,
        pick=pick,
        label=args.label,
    )
    for r in records:
        print(f"  {Path(r['png']).name}: mel L1 {r['mel_l1_db']:.2f} dB")
    print(f"wrote {len(records)} original / reconstruction pairs (+ PNGs) to {args.output}")
    return 0


def add_evaluate(sub: Subparsers) -> None:
    p = sub.add_parser(
        "evaluate",
        help="metrics: reconstruction, latent space, generation, long tracks",
        description="Measure a model offline on held-out segments: reconstruction error beside "
        "the phase-only baseline, KL and active units, kNN label accuracy, Frechet and kernel "
        "distances of generated clips against a real-data floor, copying, and (with "
        "--longform) seams and tempo stability. Prints a table and writes JSON.",
    )
    add_run_dir(p)
    add_optional_data_dir(p)
    p.add_argument(
        "-o", "--output", type=Path, default=Path("metrics.json"), metavar="METRICS_JSON"
    )
    p.add_argument(
        "--split",
        choices=EVAL_SPLITS,
        default=EVAL_SPLIT,
        help="val: the run's held-out tracks (default: %(default)s)",
    )
    p.add_argument(
        "--max-segments",
        type=positive_int,
        default=EVAL_MAX_SEGMENTS,
        help="evaluate a seeded subsample of at most this many (default: %(default)s)",
    )
    p.add_argument("--n-generate", type=positive_int, help="generated clips (default: as many)")
    p.add_argument("--longform", type=Path, metavar="TRACK", help="a track from `melvae longform`")
    p.add_argument(
        "--audio-dir", type=Path, help="the audio folder (default: the one preprocess recorded)"
    )
    add_seed(p)
    add_inversion(p)
    add_quiet(p)
    add_device(p)
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from melvae.evaluation.evaluate import evaluate
    from melvae.report.present import format_table, write_metrics

    check_output(args.output, "file")
    result = evaluate(
        args.run_dir,
        args.data_dir,
        split=args.split,
        n_generate=args.n_generate,
        longform=args.longform,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
        audio_dir=args.audio_dir,
        max_segments=args.max_segments,
        model=load_model(args),
    )
    print(format_table(result))
    write_metrics(result, args.output)
    print(f"metrics written to {args.output}")
    return 0


def add_latent_map(sub: Subparsers) -> None:
    p = sub.add_parser(
        "latent-map",
        help="plot the dataset in latent space, coloured by label",
        description="Latent means of a dataset coloured by label: the plane itself for a "
        "latent size of 2 (plus MAP_grid.png, mels decoded over a regular grid), a PCA "
        "projection (and t-SNE where scikit-learn is installed) otherwise.",
    )
    add_run_dir(p)
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    p.add_argument("-o", "--output", type=Path, default=Path("map.png"), metavar="MAP_PNG")
    p.add_argument(
        "--grid",
        type=positive_int,
        default=MAP_GRID,
        help="grid size for 2-D models (default: %(default)s)",
    )
    p.add_argument(
        "--max-points",
        type=positive_int,
        default=MAP_MAX_POINTS,
        help="segments drawn at most (default: %(default)s)",
    )
    add_seed(p)
    add_device(p)
    p.set_defaults(func=cmd_latent_map)


def cmd_latent_map(args: argparse.Namespace) -> int:
    from melvae.evaluation.analysis import decoded_grid, latent_map
    from melvae.plots import save_grid_png

    check_output(args.output, "file")
    model = load_model(args)
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


def add_report(sub: Subparsers) -> None:
    p = sub.add_parser(
        "report",
        help="a self-contained HTML report to open in a browser",
        description="Write OUT_DIR/index.html: a summary in words of the evaluation "
        "(--metrics) and every figure behind it, the long track (--longform) with its "
        "picture and beat, reconstructions beside their recordings (loudness-matched), "
        "generated clips and an interpolation with players and spectrograms, the latent map, "
        "the training curves, and for a 2-D model a clickable grid that plays the clip "
        "decoded there.",
    )
    add_run_dir(p)
    add_optional_data_dir(p)
    p.add_argument("-o", "--output", type=Path, default=Path("report"), metavar="OUT_DIR")
    p.add_argument("--metrics", type=Path, help="metrics.json from `melvae evaluate`")
    p.add_argument(
        "--longform",
        type=Path,
        metavar="TRACK",
        help="a track made by `melvae longform` (its .json beside it), shown and measured",
    )
    p.add_argument(
        "--n-generate",
        type=positive_int,
        default=REPORT_CLIPS,
        help="generated clips (default: %(default)s)",
    )
    p.add_argument(
        "--grid",
        type=positive_int,
        default=REPORT_GRID,
        help="grid size for 2-D models (default: %(default)s)",
    )
    add_seed(p)
    add_inversion(p)
    add_device(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    import json

    from melvae.report.build import build_report

    check_output(args.output)
    metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else None
    index = build_report(
        args.run_dir,
        args.output,
        data_dir=args.data_dir,
        metrics=metrics,
        n_generate=args.n_generate,
        grid=args.grid,
        seed=args.seed,
        device=args.device,
        model=load_model(args),
        longform=args.longform,
    )
    print(f"report written: open {index} in a browser")
    return 0
