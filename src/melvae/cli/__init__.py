"""The ``melvae`` command: parse, validate, call one library function.

Each command is declared on its own, beside the function that runs it: ``add_NAME(sub)``
adds its parser and ``cmd_NAME(args)`` runs it, in :mod:`melvae.cli.training` (preprocess,
train, synth, demo), :mod:`melvae.cli.generation` (generate, interpolate, longform) and
:mod:`melvae.cli.inspection` (reconstruct, evaluate, latent-map, report). Every default comes
from :mod:`melvae.config`, which the library reads too.

Nothing heavy is imported at the top (``melvae --help`` answers in a fraction of a second);
each command imports what it needs. User errors print one line to stderr and exit 2, and so
do faults of the disk (``OSError``: no space, a read-only file system, a permission), in
the words of :func:`melvae.safeio.os_error_message`.
"""

from __future__ import annotations

import argparse
import sys

from melvae.cli import generation, inspection, training
from melvae.errors import MelvaeError
from melvae.version import __version__

__all__ = ["COMMANDS", "build_parser", "main"]

# The subcommands in the order `melvae --help` lists them: the pipeline first.
COMMANDS = (
    training.add_preprocess,
    training.add_train,
    generation.add_generate,
    generation.add_interpolate,
    generation.add_longform,
    generation.add_loops,
    inspection.add_reconstruct,
    inspection.add_evaluate,
    inspection.add_latent_map,
    inspection.add_report,
    training.add_synth,
    training.add_demo,
)


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
    for add_command in COMMANDS:
        add_command(sub)
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
    except OSError as exc:  # a full disk, a read-only file system, a permission: one line
        from melvae.safeio import os_error_message

        print(f"melvae: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
