"""Stages 4 and 5: long tracks (``Melvae.write_longform``) and clip generation
(``Melvae.generate``), with a default-config model of random weights (speed does not depend
on training).

Long tracks: each run is a fresh process, so its VmHWM is that run's own peak. The timed
180 s run wraps the decoder, mel -> linear power, PGHI and Griffin-Lim in timers (a few
calls per segment or chunk: no measurable overhead), which says what limits it; runs at
other iteration counts and inits then check what meets the target. Memory is measured at
180 s and 30 min with 1 Griffin-Lim iteration (the iteration count changes time, not the
size of anything held), each in its own process.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict

from benchmarks.common import Bench, current_rss_mib, median, run_isolated
from melvae.audio.inversion import DEFAULT_ITERATIONS

TARGET_SECONDS = 20.0  # for a 180 s track
LONG = 180.0


def make_checkpoint(path: str, kind: str = "vector") -> dict:
    """A default-shape model of ``kind`` with random weights (a sequence model with a random
    prior), saved as a checkpoint."""
    import torch

    from melvae.config import SEQUENCE_CHANNELS, AudioConfig, ModelConfig, PriorConfig
    from melvae.models import build_network
    from melvae.models.checkpoint import Checkpoint, save_checkpoint
    from melvae.models.priors import build_prior

    torch.manual_seed(0)
    prior = None
    if kind == "sequence":
        cfg = ModelConfig(kind="sequence", channels=SEQUENCE_CHANNELS)
        prior = build_prior(PriorConfig(channels=cfg.latent_channels)).eval()
    else:
        cfg = ModelConfig()
    model = build_network(cfg).eval()
    save_checkpoint(path, Checkpoint(model=model, audio=AudioConfig(), labels=[], prior=prior))
    return {}


def _timer(table: dict, key: str, fn):
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            table[key] += time.perf_counter() - t0
            table[key + " calls"] += 1

    return wrapped


def longform_run(
    ckpt: str, out: str, seconds: float, n_iter: int, init: str = "random", warmup: bool = True
) -> dict:
    """In a fresh process: write one long track, timing its parts."""
    import torch

    import melvae
    import melvae.audio.inversion as inversion

    if warmup:
        melvae.load(ckpt, n_iter=2).write_longform(out, 15.0, progress=False, seed=1)
    model = melvae.load(ckpt, n_iter=n_iter, init=init)
    rss_before = current_rss_mib()
    parts: dict[str, float] = defaultdict(float)
    net = model.core.network
    net.decode = _timer(parts, "decode", net.decode)
    inversion.mel_power_to_linear_power = _timer(
        parts, "mel -> linear", inversion.mel_power_to_linear_power
    )
    inversion.griffin_lim = _timer(parts, "griffin-lim", inversion.griffin_lim)
    inversion.pghi_phase = _timer(parts, "pghi", inversion.pghi_phase)
    t0 = time.perf_counter()
    info = model.write_longform(out, seconds, progress=False, seed=0)
    wall = time.perf_counter() - t0
    parts = dict(parts)
    # griffin_lim's own time excludes the PGHI it calls (init_phase is passed in by the
    # streaming inverter, so PGHI runs outside it: nothing to subtract).
    accounted = sum(v for k, v in parts.items() if not k.endswith("calls"))
    parts["rest (overlap-add, wav writing, walk)"] = wall - accounted
    return {
        "wall": wall,
        "rss_before_mib": rss_before,
        "seconds": seconds,
        "n_iter": n_iter,
        "init": init,
        "parts": parts,
        "segments": len(info["segments"]),
        "device": str(model.device),
        "threads": torch.get_num_threads(),
    }


def generate_run(ckpt: str, n: int, repeats: int) -> dict:
    """In a fresh process: Melvae.generate(n) at default settings, after a warm-up."""
    import melvae

    melvae.load(ckpt, n_iter=2).generate(2, seed=1)
    model = melvae.load(ckpt)
    walls, decode = [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        model.generate_mels(n, seed=r)
        decode.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        audio, sr = model.generate(n, seed=r)
        walls.append(time.perf_counter() - t0)
    return {"walls": walls, "decode_walls": decode, "samples": audio.shape[-1], "sr": sr}


def run_longform(bench: Bench) -> None:
    stage = "longform"
    ckpt = str(bench.work / "random_model.pt")
    run_isolated("benchmarks.bench_longform:make_checkpoint", path=ckpt)
    out = str(bench.work / "longform.wav")
    seconds = 60.0 if bench.quick else LONG
    target = TARGET_SECONDS * seconds / LONG
    it = DEFAULT_ITERATIONS
    print(f"[longform] {seconds:g} s track at default settings (random init, {it} it)")
    base = run_isolated(
        "benchmarks.bench_longform:longform_run", ckpt=ckpt, out=out, seconds=seconds, n_iter=it
    )
    bench.check(
        stage,
        f"{seconds:g} s track, default ({it} it, random): wall",
        base["wall"],
        "s",
        "<=",
        target,
        note=f"{seconds / base['wall']:.1f}x real time "
        f"(target >= {LONG / TARGET_SECONDS:g}x); {base['segments']} segments",
    )
    parts = {k: v for k, v in base["parts"].items() if not k.endswith("calls")}
    for k, v in parts.items():
        bench.add(stage, f"  of which {k}", v, "s", note=f"{100 * v / base['wall']:.0f}%")
    gl = base["parts"].get("griffin-lim", 0.0)
    per_iter = gl / (base["n_iter"] + 0.5)  # n iterations of istft+stft, plus a final istft
    fixed = base["wall"] - gl
    fit = int((target - fixed) / per_iter - 0.5)
    bench.add(
        stage,
        "  one GL iteration over the whole track",
        per_iter,
        "s",
        note=f"everything but GL: {fixed:.1f} s; GL iterations that fit the target: {max(fit, 0)}",
    )
    details = {"default": base, "per_iteration": per_iter, "fixed": fixed, "fit": fit}

    # What meets it: fewer iterations, and PGHI + few iterations.
    trials = [("random", 64), ("pghi", 16)]
    if 4 <= fit < 64 and fit - fit % 4 not in (it, 64):
        trials.insert(0, ("random", fit - fit % 4))
    for init, n in trials:
        r = run_isolated(
            "benchmarks.bench_longform:longform_run",
            ckpt=ckpt,
            out=out,
            seconds=seconds,
            n_iter=n,
            init=init,
        )
        details[f"{init}-{n}"] = r
        note = f"{seconds / r['wall']:.1f}x real time"
        if init == "pghi":
            note += f"; PGHI {r['parts'].get('pghi', 0.0):.1f} s of it"
        bench.check(
            stage,
            f"{seconds:g} s track, {init} init + {n} it: wall",
            r["wall"],
            "s",
            "<=",
            target,
            note=note,
        )

    mem = _memory_runs(bench, stage, ckpt, out, "")
    details["memory"] = mem
    bench.add(
        stage,
        f"peak RSS, {seconds:g} s at {DEFAULT_ITERATIONS} it (VmHWM)",
        base["rss_self_mib"],
        "MiB",
        note=f"{base['rss_before_mib']:.0f} MiB before the track (model loaded, warmed up)",
    )

    # The sequence kind: the prior continues one latent sequence, decoded in windows.
    seq_ckpt = str(bench.work / "random_sequence_model.pt")
    run_isolated("benchmarks.bench_longform:make_checkpoint", path=seq_ckpt, kind="sequence")
    seq = run_isolated(
        "benchmarks.bench_longform:longform_run", ckpt=seq_ckpt, out=out, seconds=seconds, n_iter=it
    )
    bench.check(
        stage,
        f"sequence kind: {seconds:g} s track ({it} it): wall",
        seq["wall"],
        "s",
        "<=",
        target,
        note=f"{seconds / seq['wall']:.1f}x real time; decoding {seq['parts']['decode']:.1f} s",
    )
    seq_mem = _memory_runs(bench, stage, seq_ckpt, out, "sequence kind: ")
    details["sequence"] = {"default": seq, "memory": seq_mem}
    bench.details[stage] = details


def _memory_runs(bench: Bench, stage: str, ckpt: str, out: str, what: str) -> dict:
    """Peak memory of a 3 min and a 30 min track (1 iteration, each in a fresh process) and
    the check that it stays flat in the track's length: {seconds: run}."""
    mem = {
        length: run_isolated(
            "benchmarks.bench_longform:longform_run",
            ckpt=ckpt,
            out=out,
            seconds=length,
            n_iter=1,
            warmup=False,
        )
        for length in (LONG, 1800.0)
    }
    for length, r in mem.items():
        bench.add(
            stage,
            f"{what}peak RSS, {length / 60:g} min at 1 it (VmHWM)",
            r["rss_self_mib"],
            "MiB",
            note=f"{r['rss_before_mib']:.0f} MiB before the track; {r['wall']:.1f} s wall",
        )
    a, b = mem[LONG]["rss_self_mib"], mem[1800.0]["rss_self_mib"]
    bench.check(
        stage,
        f"{what}peak RSS 30 min / 3 min (flat in length)",
        b / a,
        "",
        "<=",
        1.1,
        note=f"{a:.0f} / {b:.0f} MiB",
    )
    return mem


def run_generate(bench: Bench) -> None:
    stage = "generate"
    ckpt = bench.work / "random_model.pt"
    if not ckpt.exists():
        run_isolated("benchmarks.bench_longform:make_checkpoint", path=str(ckpt))
    n = 16
    reps = bench.repeats(2, 1)
    print(f"[generate] batch of {n} at default settings; {reps} repeats after a warm-up")
    r = run_isolated("benchmarks.bench_longform:generate_run", ckpt=str(ckpt), n=n, repeats=reps)
    wall = median(r["walls"])
    clip_seconds = r["samples"] / r["sr"]
    bench.add(
        stage,
        f"clips/s, batch of {n} x {clip_seconds:.1f} s ({DEFAULT_ITERATIONS} it, random)",
        n / wall,
        "/s",
        note=f"{wall:.1f} s per batch, {n * clip_seconds / wall:.1f}x real time; "
        f"decoding alone {median(r['decode_walls']):.2f} s",
    )
    bench.add(stage, "peak RSS (VmHWM)", r["rss_self_mib"], "MiB")
    bench.details[stage] = r
