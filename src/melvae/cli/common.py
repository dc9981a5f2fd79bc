"""Argument types and the options several ``melvae`` commands share.

Defaults come from :mod:`melvae.config` (its dataclasses' fields, or a named constant the
library reads too); help texts print them with argparse's ``%(default)s``, so no value is
written twice.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

from melvae import registry
from melvae.config import (
    AUDIO_FORMATS,
    DEFAULT_DEVICE,
    DEFAULT_INVERTER,
    DEFAULT_ITERATIONS,
    DEFAULT_REPEAT,
    DEFAULT_SEED,
    DEFAULT_TEMPERATURE,
    MAX_CLOCK_BPM,
    MAX_TEMPERATURE,
    MIN_CLOCK_BPM,
)

# What argparse's add_subparsers returns (a private class: only its add_parser is used).
Subparsers = argparse._SubParsersAction


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def finite_float(text: str) -> float:
    """A number that is neither infinite nor NaN."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def at_most(kind, limit: float, unit: str = ""):
    """An argument type: ``kind`` (e.g. positive_float), and no more than ``limit``."""

    def parse(text: str) -> float:
        value = kind(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"must be at most {limit:g}{unit}, got {value:g}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def temperature(text: str) -> float:
    """A sampling temperature: 0 to MAX_TEMPERATURE."""
    return at_most(non_negative_float, MAX_TEMPERATURE)(text)


def label_list(text: str) -> list[str]:
    """'a, b' -> ['a', 'b'] (comma-separated labels)."""
    labels = [n.strip() for n in text.split(",") if n.strip()]
    if not labels:
        raise argparse.ArgumentTypeError("give at least one label")
    return labels


def number_list(what: str, low: float, high: float):
    """An argparse type: '0.8,1.2' -> [0.8, 1.2], each from ``low`` to ``high`` (NaN and inf
    refused); one number is a list of one."""

    def parse(text: str) -> list[float]:
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not a number or a list of numbers: {text!r}"
            ) from None
        if not all(low <= v <= high for v in values):
            raise argparse.ArgumentTypeError(f"{what} must be from {low:g} to {high:g}")
        return values

    parse.__name__ = f"{what} list"
    return parse


# '0.8,1.2': temperatures spread over a track; '120,128': a tempo schedule.
temperature_list = number_list("temperatures", 0.0, MAX_TEMPERATURE)
bpm_list = number_list("tempos (BPM)", MIN_CLOCK_BPM, MAX_CLOCK_BPM)


def add_temperature(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--temperature",
        type=temperature,
        default=DEFAULT_TEMPERATURE,
        help="scale of the latent draws (default: %(default)g)",
    )


def add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=AUDIO_FORMATS,
        default=AUDIO_FORMATS[0],
        help="audio file format (default: %(default)s)",
    )


def add_bpm(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--bpm", type=bpm_list, help=help)


def add_repeat(p: argparse.ArgumentParser, default: float = DEFAULT_REPEAT) -> None:
    p.add_argument(
        "--repeat",
        type=at_most(non_negative_float, 1.0),
        default=default,
        help="at a steady tempo (a clocked prior): how much each beat's random draws repeat the "
        "last beat's, 0 (fresh every frame) to 1 (the same every beat); the beat holds "
        "stronger as it rises, the music varies less (default: %(default)g)",
    )


def listing(values: Sequence) -> str:
    """('a', 'b', 'c') -> 'a, b and c', for help texts that name a constant's values."""
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def commas(values: Sequence) -> str:
    """(16, 32) -> '16,32': a tuple as the command line writes it."""
    return ",".join(str(v) for v in values)


# -- options several commands take ---------------------------------------------------------
def add_run_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")


def add_optional_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data_dir",
        type=Path,
        nargs="?",
        metavar="DATA_DIR",
        help="dataset (default: the one the run trained on)",
    )


def add_seed(p: argparse.ArgumentParser, default: int = DEFAULT_SEED) -> None:
    p.add_argument("--seed", type=int, default=default, help="random seed (default: %(default)s)")


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default=DEFAULT_DEVICE,
        help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps (default: %(default)s)",
    )


def add_inversion(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--inverter",
        choices=registry.INVERTERS.names(),
        default=DEFAULT_INVERTER,
        help="the mel-to-audio stage (default: %(default)s)",
    )
    p.add_argument(
        "--iterations",
        type=positive_int,
        default=DEFAULT_ITERATIONS,
        help="griffin-lim's iterations (default: %(default)s)",
    )


def load_model(args: argparse.Namespace):
    """The run's model on ``--device`` with the mel-to-audio stage ``--inverter`` (and its
    options: ``--iterations`` for Griffin-Lim)."""
    import melvae

    device = getattr(args, "device", None)
    name = getattr(args, "inverter", None)
    if name is None:
        return melvae.load(args.run_dir, device=device)
    options = {}
    if "n_iter" in registry.INVERTERS.get(name).options:
        options["n_iter"] = args.iterations
    return melvae.load(args.run_dir, device=device, inverter=name, **options)
