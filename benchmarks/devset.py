"""Build a real-music development set from Debian game-music packages.

    python -m benchmarks.devset OUT_DIR [--cache DIR] [--clip-seconds 30]
                                        [--test-fraction 0.2] [--seed 0]

Needs root: the packages are fetched with ``apt-get download`` and unpacked with ``dpkg -x``
into the cache (default OUT_DIR/.debs), never installed. Genres, chosen from the files' tags,
credits and measured spectra (nothing here was listened to):

* rock: fretsonfire-songs-muldjord (tagged "Death Metal") and fretsonfire-songs-sectoid
  (guitar rock/metal, "Metal madness"); each song is a folder of stems (song.ogg, guitar.ogg),
  summed into one track;
* electronic: nexuiz-music, techno by elysis, blkrbt and Parapraxis (one tagged "Electronic"),
  read from the game's music.pk3 (a zip); dense, bright spectra with strong beats (its
  thunder.ogg, a sound effect at 11 kHz, is left out);
* ambient: singularity-music, the Endgame: Singularity score by Maxstack: slow, tonal,
  dark (lowest spectral centroid of all); its win/lose stingers are left out;
* orchestral: hyperrogue-music, fantasy game score by Shawn Parrotte, Will Savino and
  Lincoln Domina (short loops of 1 to 2 minutes; its sound effects are left out);
* adventure: drascula-music, the score of a comic point-and-click adventure (many short
  cues, of which those under one clip are skipped).

Left out: asc-music (three untagged mp3s, style unknown; would take the download over about
300 MB), warzone2100-music and wesnoth-music (too large), and tracker-format packs (.xm).
Tracks are mixed to mono, resampled to 22050 Hz, peak-normalised, trimmed of near-silence at
both ends, and cut into non-overlapping clips, at most 6 per track, evenly spread. The split
is by track, seeded; each genre is capped to a balanced number of clips per side, shared out
round-robin over its tracks. The result: OUT_DIR/{train,test}/<genre>/<track>__<k>.wav
(16-bit, mono; k is the clip's position in the track) and OUT_DIR/devset.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

SR = 22050
MAX_CLIPS_PER_TRACK = 6
CLIPS_PER_GENRE = {"train": 36, "test": 10}
SILENCE_DB = -50.0  # frames this far under the loudest frame count as silence at the ends
PEAK = 0.9


@dataclass(frozen=True)
class Source:
    package: str
    genre: str
    tag: str  # prefix of the track names
    pattern: str  # glob in the unpacked package; with stems, one match per song folder
    stems: bool = False
    skip: tuple[str, ...] = ()  # file stems that are not music


SOURCES = (
    Source("fretsonfire-songs-muldjord", "rock", "muldjord", "**/songs/*/*/song.ogg", stems=True),
    Source("fretsonfire-songs-sectoid", "rock", "sectoid", "**/songs/*/*/song.ogg", stems=True),
    Source("nexuiz-music", "electronic", "nexuiz", "**/cdtracks/*.ogg", skip=("thunder",)),
    Source("singularity-music", "ambient", "singularity", "**/singularity/music/*.ogg"),
    Source("hyperrogue-music", "orchestral", "hyperrogue", "**/hyperrogue/music/*.ogg"),
    Source("drascula-music", "adventure", "drascula", "**/drascula/audio/*.ogg"),
)


class DevsetError(Exception):
    """A failure reported as one line."""


def fetch(cache: Path) -> dict[str, Path]:
    """Download and unpack every package (once); its unpacked root by package name."""
    if os.geteuid() != 0:
        raise DevsetError("must run as root (apt-get download, dpkg -x)")
    cache.mkdir(parents=True, exist_ok=True)
    packages = sorted({s.package for s in SOURCES})
    missing = [p for p in packages if not list(cache.glob(f"{p}_*.deb"))]
    if missing:
        print(f"downloading {len(missing)} packages into {cache}", flush=True)
        done = subprocess.run(["apt-get", "download", *missing], cwd=cache, capture_output=True)
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines() or ["?"]
            raise DevsetError(f"apt-get download failed: {lines[-1]}")
    roots = {}
    for package in packages:
        root = cache / package
        if not (root / ".unpacked").exists():
            deb = sorted(cache.glob(f"{package}_*.deb"))[-1]
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
            for pk3 in root.rglob("*.pk3"):  # Quake-style game archives are zips
                zipfile.ZipFile(pk3).extractall(pk3.with_name(pk3.name + ".d"))
            (root / ".unpacked").touch()
        roots[package] = root
    return roots


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def tracks_of(source: Source, root: Path) -> list[tuple[str, list[Path]]]:
    """(track name, audio files to mix) for each track of a source."""
    out = []
    for path in sorted(root.glob(source.pattern)):
        if source.stems:
            out.append(
                (f"{source.tag}-{slug(path.parent.name)}", sorted(path.parent.glob("*.ogg")))
            )
        elif path.stat().st_size > 0 and path.stem not in source.skip:
            out.append((f"{source.tag}-{slug(path.stem)}", [path]))
    return out


def load_mono(files: list[Path]) -> np.ndarray:
    """The files summed (stems of one song), mono at SR, peak-normalised."""
    parts = []
    for path in files:
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
        parts.append(soxr.resample(audio.mean(axis=1), sr, SR))
    mix = np.zeros(max(len(p) for p in parts), dtype=np.float32)
    for part in parts:
        mix[: len(part)] += part
    peak = float(np.abs(mix).max())
    return mix * (PEAK / peak) if peak > 0 else mix


def trim_silence(audio: np.ndarray, frame: int = 2048) -> np.ndarray:
    n = len(audio) // frame
    if n == 0:
        return audio
    rms = np.sqrt((audio[: n * frame].reshape(n, frame) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (SILENCE_DB / 20))
    return audio[loud[0] * frame : (loud[-1] + 1) * frame]


def spread(n: int, k: int) -> list[int]:
    """At most k of range(n), evenly spread."""
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, min(n, k))}) if n else []


def cut_track(name: str, files: list[Path], stage: Path, clip_seconds: float) -> dict:
    """Cut one track into clips under stage/; its name, seconds and clip paths."""
    audio = trim_silence(load_mono(files))
    size = int(round(clip_seconds * SR))
    clips = []
    for k in spread(len(audio) // size, MAX_CLIPS_PER_TRACK):
        path = stage / f"{name}__{k}.wav"
        sf.write(path, audio[k * size : (k + 1) * size], SR, subtype="PCM_16")
        clips.append(path)
    return {"track": name, "seconds": len(audio) / SR, "clips": clips}


def round_robin(counts: list[int], cap: int) -> list[int]:
    """How many clips each track gives, one per track per round, up to cap in all."""
    take = [0] * len(counts)
    while sum(take) < cap and any(t < c for t, c in zip(take, counts)):
        for i, count in enumerate(counts):
            if take[i] < count and sum(take) < cap:
                take[i] += 1
    return take


def build(out: Path, roots: dict[str, Path], clip_seconds: float, frac: float, seed: int) -> dict:
    stage = out / ".stage"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    jobs = [(s, *t) for s in SOURCES for t in tracks_of(s, roots[s.package])]
    done: dict[str, dict] = {}
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {
            pool.submit(cut_track, name, files, stage, clip_seconds): src
            for src, name, files in jobs
        }
        for future in tqdm(as_completed(futures), total=len(futures), desc="tracks"):
            track = future.result()
            done[track["track"]] = track | {"src": futures[future]}
    skipped = sorted(t["track"] for t in done.values() if not t["clips"])
    for name in skipped:
        print(f"skipped {name}: {done[name]['seconds']:.0f} s, shorter than one clip")
    rng = random.Random(seed)
    report: dict = {}
    for genre in dict.fromkeys(s.genre for s in SOURCES):
        tracks = sorted(n for n, t in done.items() if t["src"].genre == genre and t["clips"])
        rng.shuffle(tracks)
        n_test = min(max(1, round(frac * len(tracks))), len(tracks) - 1)
        sides = {"train": sorted(tracks[n_test:]), "test": sorted(tracks[:n_test])}
        report[genre] = {}
        for side, names in sides.items():
            take = round_robin([len(done[n]["clips"]) for n in names], CLIPS_PER_GENRE[side])
            folder = out / side / genre
            folder.mkdir(parents=True, exist_ok=True)
            rows = []
            for name, n in zip(names, take):
                clips = done[name]["clips"]
                for i in spread(len(clips), n):
                    clips[i].replace(folder / clips[i].name)
                rows.append({"track": name, "package": done[name]["src"].package, "clips": n})
            total = sum(take)
            report[genre][side] = {
                "packages": sorted({r["package"] for r in rows}),
                "tracks": rows,
                "clips": total,
                "minutes": round(total * clip_seconds / 60, 1),
            }
    shutil.rmtree(stage)
    return {"genres": report, "skipped": skipped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--cache", type=Path, help="where the .debs go (default OUT_DIR/.debs)")
    parser.add_argument("--clip-seconds", type=float, default=30.0)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    out: Path = args.out_dir
    try:
        roots = fetch(args.cache or out / ".debs")
    except (DevsetError, subprocess.CalledProcessError, OSError) as err:
        print(f"devset: error: {err}", file=sys.stderr)
        return 1
    for side in ("train", "test"):
        shutil.rmtree(out / side, ignore_errors=True)
    result = build(out, roots, args.clip_seconds, args.test_fraction, args.seed)
    options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    result = {"options": options, "sample_rate": SR, **result}
    (out / "devset.json").write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{'genre':12s} {'train trk':>9s} {'clips':>6s} {'test trk':>9s} {'clips':>6s}")
    totals = {"train": 0, "test": 0}
    for genre, sides in result["genres"].items():
        tr, te = sides["train"], sides["test"]
        print(
            f"{genre:12s} {len(tr['tracks']):9d} {tr['clips']:6d} "
            f"{len(te['tracks']):9d} {te['clips']:6d}"
        )
        totals["train"] += tr["clips"]
        totals["test"] += te["clips"]
    minutes = {k: v * args.clip_seconds / 60 for k, v in totals.items()}
    print(
        f"{'total':12s} {'':9s} {totals['train']:6d} {'':9s} {totals['test']:6d}   "
        f"({minutes['train']:.0f} + {minutes['test']:.0f} min; "
        f"{time.perf_counter() - start:.0f} s) -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
