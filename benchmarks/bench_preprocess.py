"""Stage 1, preprocess: seconds of audio per wall second, wav and mp3, 1 and 2 workers.

Input: synthesized tracks written as 44.1 kHz stereo files (the usual format of a music
collection), so every run also mixes to mono and resamples to 22,050 Hz. Each run is a
fresh process (its own memory high-water mark) that imports torch before the clock starts;
with 2 workers the pool's spawned processes import torch themselves, which is measured on
its own (``spawn``) so the steady-state rate is visible:
steady = audio seconds / (wall - spawn).
Peak memory: VmHWM (the peak resident size of the process's own address space, from
/proc) of the parent and of each worker, which records it after every file. Not ru_maxrss:
a process started by fork + exec inherits its parent's peak there (see
:func:`benchmarks.common.rss_mib`). With 2 workers, the parent and both workers run at once.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Bench, median, proc_status_kib, run_isolated
from melvae.data.preprocess import _segment_file

WORKER_LOG = "MELVAE_BENCH_WORKER_LOG"

STAGE = "preprocess"
FILE_RATE = 44100


def make_audio(folder: Path, tracks: int, seconds: float) -> dict[str, Path]:
    import soundfile as sf

    from melvae.data.synth import STYLES, synthesize

    dirs = {fmt: folder / fmt for fmt in ("wav", "mp3")}
    stamp = folder / f"done-{tracks}x{seconds:g}"
    if stamp.exists():
        return dirs
    shutil.rmtree(folder, ignore_errors=True)
    for i in range(tracks):
        style = STYLES[i % len(STYLES)]
        mono = synthesize(style, seconds, FILE_RATE, seed=100 + i)
        stereo = np.stack([mono, 0.9 * mono], axis=1)
        for fmt, d in dirs.items():
            (d / style).mkdir(parents=True, exist_ok=True)
            path = d / style / f"{style}_{i:02d}.{fmt}"
            if fmt == "wav":
                sf.write(path, stereo, FILE_RATE, subtype="PCM_16")
            else:
                sf.write(path, stereo, FILE_RATE, format="MP3")
    stamp.touch()
    return dirs


def _measured_segment_file(args):
    """melvae's worker function, then this process's peak memory appended to a log."""
    result = _segment_file(args)
    log = os.environ.get(WORKER_LOG)
    if log:
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()} {proc_status_kib('VmHWM')}\n")
    return result


def run_once(audio_dir: str, out_dir: str, workers: int) -> dict:
    """In a fresh process: one preprocess run."""
    import torch  # noqa: F401  (imported before the clock: workers=1 runs in this process)

    import melvae.data.preprocess as pre

    shutil.rmtree(out_dir, ignore_errors=True)
    log = Path(out_dir + ".workers.log")
    log.unlink(missing_ok=True)
    os.environ[WORKER_LOG] = str(log)  # spawned workers inherit the environment
    pre._segment_file = _measured_segment_file  # pickled by name: workers import this module
    t0 = time.perf_counter()
    summary = pre.preprocess(audio_dir, out_dir, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    shutil.rmtree(out_dir, ignore_errors=True)
    peaks: dict[str, float] = {}
    for line in log.read_text().split("\n") if log.exists() else []:
        if line.strip():
            pid, kib = line.split()
            peaks[pid] = max(peaks.get(pid, 0.0), int(kib) / 1024)
    log.unlink(missing_ok=True)
    return {
        "wall": wall,
        "audio_seconds": summary.hours * 3600,
        "segments": summary.segments,
        "worker_peak_mib": sorted(peaks.values()),
    }


def _warm_worker(_: int) -> float:
    """What a preprocessing worker imports before its first file."""
    import torch  # noqa: F401

    from melvae.audio.features import log_mel  # noqa: F401
    from melvae.audio.io import load_audio  # noqa: F401

    return time.perf_counter()


def spawn_cost(workers: int) -> dict:
    """In a fresh process: start a spawn pool like preprocess does, until every worker has
    imported torch and melvae's feature code."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from melvae.data.preprocess import _worker_init

    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
        list(pool.map(_warm_worker, range(workers), chunksize=1))
        ready = time.perf_counter() - t0
    return {"spawn": ready, "with_shutdown": time.perf_counter() - t0}


def run(bench: Bench) -> None:
    tracks, seconds = (3, 20.0) if bench.quick else (8, 60.0)
    reps = bench.repeats(3, 1)
    folder = bench.work / "preprocess_audio"
    dirs = make_audio(folder, tracks, seconds)
    out = str(bench.work / "preprocess_out")
    print(f"[preprocess] {tracks} tracks x {seconds:g} s, 44.1 kHz stereo; {reps} repeats")
    run_isolated(
        "benchmarks.bench_preprocess:run_once", audio_dir=str(dirs["wav"]), out_dir=out, workers=1
    )  # warm-up: page cache, .pyc files
    configs = [(fmt, w) for fmt in ("wav", "mp3") for w in (1, 2)]
    results: dict[str, list[dict]] = {f"{fmt}-{w}": [] for fmt, w in configs}
    spawns = []
    for _ in range(reps):  # interleaved, so a change of load hits every configuration alike
        spawns.append(run_isolated("benchmarks.bench_preprocess:spawn_cost", workers=2))
        for fmt, w in configs:
            results[f"{fmt}-{w}"].append(
                run_isolated(
                    "benchmarks.bench_preprocess:run_once",
                    audio_dir=str(dirs[fmt]),
                    out_dir=out,
                    workers=w,
                )
            )
    spawn = median([s["spawn"] for s in spawns])
    details = {"tracks": tracks, "seconds_per_track": seconds, "spawn_2": spawns, "runs": results}
    bench.add(STAGE, "pool start, 2 spawned workers importing torch", spawn, "s")
    for fmt, w in configs:
        runs = results[f"{fmt}-{w}"]
        audio = runs[0]["audio_seconds"]
        wall = median([r["wall"] for r in runs])
        rate = audio / wall
        overhead = spawn if w > 1 else 0.0
        steady = audio / max(wall - overhead, 1e-9)
        label = f"{fmt}, {w} worker{'s' if w > 1 else ''}"
        details[f"{fmt}-{w}"] = {
            "audio_seconds": audio,
            "wall": wall,
            "rate": rate,
            "steady_rate": steady,
        }
        note = f"{audio:.0f} s of audio in {wall:.2f} s"
        if w > 1:
            bench.add(
                STAGE, f"{label}: end to end (with pool start)", rate, "x real time", note=note
            )
            name = f"{label}: steady state (wall - pool start)"
            if fmt == "wav":
                bench.check(STAGE, name, steady, "x real time", ">=", 100)
            else:
                bench.add(STAGE, name, steady, "x real time")
        else:
            bench.add(STAGE, f"{label} (in process)", rate, "x real time", note=note)
        self_mib = max(r["rss_self_mib"] for r in runs)
        child_mib = max(max(r["worker_peak_mib"] or [0.0]) for r in runs)
        mem = f"{self_mib:.0f} MiB" + (f" + {w} x {child_mib:.0f} MiB" if w > 1 else "")
        bench.add(STAGE, f"{label}: peak RSS, parent + workers (VmHWM)", mem)
    bench.details[STAGE] = details
