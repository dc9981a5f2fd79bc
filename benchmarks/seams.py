"""Which way of joining long-track segments leaves the least audible seams?

    python -m benchmarks.seams RUN_DIR [--seconds 60] [--start FILE]

Renders the same latent walk three ways and prints melvae.evaluation.rhythm.seam_score for each
(flux at the joins over flux elsewhere; 1.0 means the joins look like the music around them):

* spectrogram: melvae's way: overlap-add in the power mel, one continuous inversion;
* audio: each segment inverted alone, joined with equal-power audio crossfades as long
  as the spectrogram overlap;
* butt: each segment inverted alone, cut at the join and butt-joined (the reference bug).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import melvae
from melvae.evaluation.rhythm import seam_score
from melvae.generation.joins import latent_walk, plan_segments
from melvae.generation.latents import crossfade_concat


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--start", help="audio file opening the track")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=64)
    args = parser.parse_args(argv)

    model = melvae.load(args.run_dir, device="cpu", n_iter=args.iterations)
    cfg = model.audio
    track, sr, info = model.longform(args.seconds, start=args.start, seed=args.seed)
    ours = seam_score(track, cfg, info["joins"])

    # The same walk, segment by segment.
    plan = plan_segments(args.seconds, cfg)
    first = model.encode(args.start) if args.start else model.sample_latents(1, seed=args.seed)
    z0 = first[0]
    walk = latent_walk(torch.from_numpy(z0), len(plan.positions), seed=args.seed)
    z = torch.stack([p.z for p in walk])
    pieces = model.mel_to_audio(model.decode(z.numpy()), seed=args.seed)
    hop = cfg.hop_length
    step = (plan.positions[1] - plan.positions[0]) * hop if len(plan.positions) > 1 else 0
    overlap = plan.used_frames * hop - step
    audio_xfade = crossfade_concat([p[: plan.used_frames * hop] for p in pieces], overlap)
    audio_joins = [(k + 1) * step + overlap / 2 for k in range(len(pieces) - 1)]
    butt = np.concatenate([p[:step] for p in pieces])
    butt_joins = [(k + 1) * step for k in range(len(pieces) - 1)]
    to_s = 1.0 / sr
    rows = [
        ("spectrogram overlap-add, one inversion", ours),
        (
            "equal-power audio crossfade",
            seam_score(audio_xfade, cfg, [j * to_s for j in audio_joins]),
        ),
        ("butt join", seam_score(butt, cfg, [j * to_s for j in butt_joins])),
    ]
    print(
        f"seam score over {len(info['joins'])} joins of a {args.seconds:g} s walk "
        f"({plan.describe([], cfg)['overlap_seconds']} s overlaps); 1.0 = seamless"
    )
    for name, score in rows:
        print(f"  {name:42s} {score:6.2f}")


if __name__ == "__main__":
    main()
