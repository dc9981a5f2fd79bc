"""Commands that make new audio from a trained model: generate, interpolate, longform and
loops.

Each command is a pair: ``add_NAME(sub)`` declares its parser, ``cmd_NAME(args)`` runs it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from melvae.cli.common import (
    Subparsers,
    add_bpm,
    add_device,
    add_format,
    add_inversion,
    add_quiet,
    add_repeat,
    add_run_dir,
    add_seed,
    add_temperature,
    at_most,
    finite_float,
    label_list,
    load_model,
    positive_float,
    positive_int,
    temperature_list,
)
from melvae.config import (
    CLIP_REPEAT,
    DEFAULT_TEMPERATURE,
    GENERATE_CLIPS,
    INTERPOLATION_FADE_SECONDS,
    INTERPOLATION_STEPS,
    LONGFORM_SECONDS,
    LOOP_BARS,
    LOOP_REPEAT,
    MAX_LONGFORM_SECONDS,
    STEPS_PER_TARGET,
)
from melvae.errors import MelvaeError
from melvae.safeio import check_output


def add_generate(sub: Subparsers) -> None:
    p = sub.add_parser(
        "generate",
        help="sample new clips",
        description="Sample latent vectors, decode them to mels and invert to "
        "audio. Writes one audio file and one mel PNG per clip.",
    )
    add_run_dir(p)
    _add_draws(p, "clips")
    add_bpm(p, "clips at this tempo, starting on a beat (a sequence model with a clocked prior)")
    add_seed(p)
    add_inversion(p)
    add_device(p)
    p.set_defaults(func=cmd_generate)


def _add_draws(p: argparse.ArgumentParser, what: str, repeat: float = CLIP_REPEAT) -> None:
    """-n, -o, --label, --temperature, --repeat and --format: what generate and loops
    share."""
    p.add_argument(
        "-n", type=positive_int, default=GENERATE_CLIPS, help=f"{what} (default: %(default)s)"
    )
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT_DIR")
    p.add_argument(
        "--label",
        help="a label the model knows (e.g. a genre); a conditional model without it draws "
        f"the label of each of the {what} in the training data's proportions and names the "
        "file after it",
    )
    add_temperature(p)
    add_repeat(p, repeat)
    add_format(p)


def cmd_generate(args: argparse.Namespace) -> int:
    check_output(args.output)
    model = load_model(args)
    mels, labels = model.generate_mels(
        args.n,
        args.label,
        args.temperature,
        args.seed,
        return_labels=True,
        bpm=args.bpm,
        repeat=args.repeat,
    )
    # Each clip is named after its label (drawn in the data's proportions when none is given),
    # numbered over the whole draw: clip i of the API's output is file ..._{i:03d}.
    names = [f"{label or 'sample'}_{i:03d}" for i, label in enumerate(labels)]
    model.write_clips(args.output, mels, names, seed=args.seed, fmt=args.format)
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
        from melvae.data.dataset import MelDataset

        data = MelDataset(data_dir)
        assert_same_audio(model.audio, data.audio, f"dataset {data_dir}")
        if int(index) >= len(data):
            raise MelvaeError(f"{data_dir} has {len(data)} segments; no segment {index}")
        own = data.segments[int(index)].label
        return data[int(index)][0].numpy(), own if own in model.labels else label
    return spec, label


def add_interpolate(sub: Subparsers) -> None:
    p = sub.add_parser(
        "interpolate",
        help="a smooth transition between two clips or labels",
        description="Spherically interpolate between the latent means of A and B "
        "and decode each step. A and B are audio files, labels, or dataset "
        "segments written DATA_DIR@INDEX.",
    )
    add_run_dir(p)
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument(
        "--steps",
        type=positive_int,
        default=INTERPOLATION_STEPS,
        help="points from A to B, both included (default: %(default)s)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT_DIR")
    p.add_argument(
        "--label",
        help="conditional models: the label of A and B where they are audio files (default: "
        "the label that reconstructs each best); a dataset segment keeps its folder's label",
    )
    p.add_argument(
        "--fade-seconds",
        type=finite_float,
        default=INTERPOLATION_FADE_SECONDS,
        help="crossfade between steps in the joined file (default: %(default)g)",
    )
    add_bpm(p, "between two labels: every step at this tempo (a clocked prior)")
    add_seed(p)
    add_inversion(p)
    add_device(p)
    p.set_defaults(func=cmd_interpolate)


def cmd_interpolate(args: argparse.Namespace) -> int:
    check_output(args.output)
    model = load_model(args)
    if args.label is not None:
        model.label_index(args.label)  # an unknown label is an error even where unused
    (a, label_a), (b, label_b) = (_endpoint(x, model, args.label) for x in (args.a, args.b))
    path = model.write_interpolation(
        args.output,
        a,
        b,
        steps=args.steps,
        fade_seconds=args.fade_seconds,
        seed=args.seed,
        label_a=label_a,
        label_b=label_b,
        bpm=args.bpm,
    )
    print(f"wrote {args.steps} steps and the joined transition {path}")
    return 0


def add_longform(sub: Subparsers) -> None:
    p = sub.add_parser(
        "longform",
        help="a long seamless track from a real start",
        description="Start from a real segment and make one track of exactly --seconds. "
        "A sequence model continues the start's latent sequence with its prior and inverts it "
        "as one stream, with no joins; a vector model walks the latent space and joins the "
        "decoded segments with spectrogram crossfades. Writes TRACK and TRACK.json.",
    )
    add_run_dir(p)
    p.add_argument(
        "--seconds",
        type=at_most(positive_float, MAX_LONGFORM_SECONDS, " s"),
        default=LONGFORM_SECONDS,
        help=f"length of the track, at most {MAX_LONGFORM_SECONDS:g} (default: %(default)g)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, metavar="TRACK")
    p.add_argument(
        "--start",
        help="audio file, or DATA_DIR@INDEX, to open the track with (default: a random draw)",
    )
    add_bpm(
        p,
        "hold this tempo for the whole track; sequence kind with a clocked prior (--prior "
        "beat): a comma-separated list is a tempo schedule (e.g. 120,128; default: the start's "
        "own tempo); vector kind: segments and overlaps become whole bars",
    )
    p.add_argument(
        "--label",
        help="walk near this label (conditional or sequence models: condition on it; default: "
        "the start's label, or a drawn one)",
    )
    p.add_argument(
        "--labels",
        type=label_list,
        help="conditional or sequence models: labels to travel through, comma-separated, "
        "spread evenly over the track (e.g. techno,ambient)",
    )
    p.add_argument(
        "--temperature",
        type=temperature_list,
        default=[DEFAULT_TEMPERATURE],
        help="sampling temperature; sequence kind: a comma-separated list is spread over the "
        f"track (e.g. 0.8,1.2; default: {DEFAULT_TEMPERATURE:g})",
    )
    add_repeat(p)
    p.add_argument(
        "--steps-per-target",
        type=positive_int,
        default=STEPS_PER_TARGET,
        help="vector kind: segments spent moving towards each new random target "
        "(default: %(default)s)",
    )
    add_seed(p)
    add_quiet(p)
    add_inversion(p)
    add_device(p)
    p.set_defaults(func=cmd_longform)


def cmd_longform(args: argparse.Namespace) -> int:
    check_output(args.output, "file", (".wav", ".flac"))
    model = load_model(args)
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
        temperature=args.temperature,  # a vector model refuses a list of several
        labels=args.labels,
        repeat=args.repeat,
        steps_per_target=args.steps_per_target,
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


def add_loops(sub: Subparsers) -> None:
    p = sub.add_parser(
        "loops",
        help="seamless loops, exactly a number of bars at a tempo",
        description="Sample loops of exactly --bars bars at --bpm (to the sample) that repeat "
        "without a click or a jump: the prior's clock holds the tempo, and the audio past each "
        "loop's end is crossfaded into its start. Needs a sequence model with a clocked prior "
        "(train --prior beat). Writes one audio file per loop and loops.json.",
    )
    add_run_dir(p)
    p.add_argument("--bpm", type=positive_float, required=True, help="tempo of the loops")
    p.add_argument(
        "--bars",
        type=positive_int,
        default=LOOP_BARS,
        help="4/4 bars a loop (default: %(default)s)",
    )
    _add_draws(p, "loops", LOOP_REPEAT)
    add_seed(p)
    add_inversion(p)
    add_device(p)
    p.set_defaults(func=cmd_loops)


def cmd_loops(args: argparse.Namespace) -> int:
    from melvae.generation.outputs import write_loops

    check_output(args.output)
    model = load_model(args)
    info = write_loops(
        model,
        args.output,
        args.n,
        args.bpm,
        args.bars,
        label=args.label,
        temperature=args.temperature,
        seed=args.seed,
        fmt=args.format,
        repeat=args.repeat,
    )
    print(
        f"wrote {args.n} loops of {args.bars} bars at {args.bpm:g} BPM "
        f"({info['samples']} samples each) to {args.output}"
    )
    return 0
