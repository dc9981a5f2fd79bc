"""Stage 3, inversion: speed and spectral convergence of melvae's mel -> audio against
librosa's, and Phase Gradient Heap Integration (PGHI) as Griffin-Lim's initial phase.

Signal: synthetic techno (the design notes' reference case). SC is
:func:`melvae.evaluation.metrics.spectral_convergence_db` of the output's STFT magnitude against the
true linear magnitude, on melvae's scale, for every method.

Both libraries get the same information:

* mel path: melvae's normalized log-mel (what the model outputs, clipped to [-80, 0] dB).
  melvae inverts it with :func:`melvae.audio.inversion.mel_to_audio`. librosa gets the same mel
  power, rescaled to what ``librosa.feature.melspectrogram`` returns for this audio (times
  (window sum)^2, since melvae divides the STFT by the window sum, and times the Slaney band
  weights, since melvae's filters are librosa's with ``norm=None``; equal to librosa's own
  melspectrogram to 5e-7), through ``librosa.feature.inverse.mel_to_audio`` at its defaults
  (``power=2.0``, Slaney norm). Why not ``norm=None`` on the power times (window sum)^2: the
  same numbers, but librosa's L-BFGS NNLS has an absolute tolerance and then runs 220 s for
  a 5 s clip (2.6 s at its own scale); the information is the same either way;
* linear path (the phase alone): the true magnitude, to melvae's ``griffin_lim`` and to
  ``librosa.griffinlim`` (times the window sum). Both are fast Griffin-Lim, momentum 0.99.

Threads: melvae runs in torch (its default threads), librosa in numpy/scipy as it comes.
The melvae runs repeat ``repeats`` times, librosa's (seconds each) ``librosa_repeats`` times.

The mel -> linear step alone is measured too (SC of the magnitude, before any phase): the
design notes call it the largest quality lever, and librosa solves its NNLS to convergence
where melvae takes 10 projected-gradient steps.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import Bench, median, timed

STAGE = "inversion"
MEL_ITERS = (32, 64, 100)  # against librosa
INIT_ITERS = (16, 32, 64)  # PGHI against random


def _configs() -> list[tuple[str, str, str, int]]:
    """(path, library, init, iterations) of every measured inversion."""
    out = []
    for path in ("mel", "linear"):
        out += [(path, "melvae", "random", n) for n in sorted({*MEL_ITERS, *INIT_ITERS})]
        out += [(path, "melvae", "pghi", n) for n in (0, *INIT_ITERS)]
        out += [(path, "librosa", "random", n) for n in MEL_ITERS]
    return out


def run(bench: Bench) -> None:
    import librosa
    import torch

    from melvae.audio.features import log_mel, mel_filterbank, normalized_to_power, stft, window
    from melvae.audio.inversion import griffin_lim, mel_to_audio, mel_to_magnitude
    from melvae.config import AudioConfig
    from melvae.data.synth import synthesize
    from melvae.evaluation.descriptors import magnitude
    from melvae.evaluation.metrics import spectral_convergence_db

    cfg = AudioConfig()
    seconds = 5.0 if bench.quick else 10.0
    reps = bench.repeats(3, 1)
    lib_reps = bench.repeats(2, 1)
    wave = torch.from_numpy(synthesize("techno", seconds, cfg.sample_rate, seed=1))
    true_mag = stft(wave, cfg).abs()
    mel = log_mel(wave, cfg)
    wsum = float(window(cfg).sum())
    slaney = librosa.filters.mel(
        sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin_hz, fmax=cfg.f_max
    )
    band_weight = slaney.sum(1) / mel_filterbank(cfg).numpy().sum(1)  # Slaney area norm
    mel_power_librosa = band_weight[:, None] * (normalized_to_power(mel, cfg) * wsum**2).numpy()
    lin_librosa = (true_mag * wsum).numpy()
    n_samples = len(wave)
    print(f"[inversion] {seconds:g} s of techno; {reps} repeats, interleaved")

    def invert(path: str, lib: str, init: str, n: int) -> np.ndarray:
        if lib == "melvae" and path == "mel":
            return mel_to_audio(mel, cfg, n_iter=n, seed=0, init=init)
        if lib == "melvae":
            gen = torch.Generator().manual_seed(0)
            with torch.no_grad():
                return griffin_lim(true_mag, cfg, n_iter=n, generator=gen, init=init).numpy()
        if path == "mel":
            np.random.seed(0)  # mel_to_audio takes no random_state
            return librosa.feature.inverse.mel_to_audio(
                mel_power_librosa,
                sr=cfg.sample_rate,
                n_fft=cfg.n_fft,
                hop_length=cfg.hop_length,
                n_iter=n,
                fmin=cfg.fmin_hz,
                fmax=cfg.f_max,
            )
        return librosa.griffinlim(
            lin_librosa, n_iter=n, hop_length=cfg.hop_length, n_fft=cfg.n_fft, random_state=0
        )

    configs = _configs()
    for path, lib, init, _ in {(c[0], c[1], c[2], 0) for c in configs}:
        invert(path, lib, init, 2)  # warm-up: imports, caches, first-call costs
    times: dict[tuple, list[float]] = {c: [] for c in configs}
    sc: dict[tuple, float] = {}
    for r in range(reps):
        for c in configs:
            if c[1] == "librosa" and r >= lib_reps:
                continue
            t0 = time.perf_counter()
            audio = invert(*c)
            times[c].append(time.perf_counter() - t0)
            sc[c] = spectral_convergence_db(true_mag, magnitude(audio[:n_samples], cfg))
    t = {c: median(v) for c, v in times.items()}

    # mel -> linear magnitude alone.
    def lin_librosa_nnls():
        return (
            librosa.feature.inverse.mel_to_stft(
                mel_power_librosa,
                sr=cfg.sample_rate,
                n_fft=cfg.n_fft,
                fmin=cfg.fmin_hz,
                fmax=cfg.f_max,
            )
            / wsum
        )

    nnls = {
        f"melvae, {k} FISTA NNLS steps": (lambda k=k: mel_to_magnitude(mel, cfg, k).numpy())
        for k in (0, 10, 50, 100, 300)
    }
    nnls["librosa mel_to_stft (L-BFGS NNLS)"] = lin_librosa_nnls
    nnls_t, nnls_sc = {}, {}
    for name, fn in nnls.items():
        runs = lib_reps if name.startswith("librosa") else reps
        out = fn()
        nnls_sc[name] = spectral_convergence_db(true_mag, out)
        nnls_t[name] = median(timed(fn, runs, warmup=0))

    def rt(c) -> float:
        return seconds / t[c]

    rows = {}
    for c in configs:
        rows["/".join(map(str, c))] = {
            "seconds": t[c],
            "all_seconds": times[c],
            "sc_db": sc[c],
            "x_real_time": rt(c),
        }
    bench.details[STAGE] = {
        "seconds_of_audio": seconds,
        "repeats": reps,
        "librosa_repeats": lib_reps,
        "runs": rows,
        "mel_to_linear": {k: {"seconds": nnls_t[k], "sc_db": nnls_sc[k]} for k in nnls},
    }

    def fig(name: str, c, **kw):
        return bench.add(
            STAGE, name, sc[c], "dB SC", note=f"{t[c]:.2f} s, {rt(c):.1f}x real time", **kw
        )

    # melvae against librosa, same mel, same iteration count.
    for n in MEL_ITERS:
        ours, theirs = ("mel", "melvae", "random", n), ("mel", "librosa", "random", n)
        fig(f"mel->audio {n} it: melvae", ours)
        fig(f"mel->audio {n} it: librosa mel_to_audio", theirs)
        bench.check(
            STAGE, f"mel->audio {n} it: speed-up over librosa", t[theirs] / t[ours], "x", ">=", 5
        )
        bench.check(
            STAGE, f"mel->audio {n} it: SC melvae - librosa", sc[ours] - sc[theirs], "dB", "<=", 0
        )
    for n in MEL_ITERS:
        ours, theirs = ("linear", "melvae", "random", n), ("linear", "librosa", "random", n)
        fig(f"true magnitude, GL {n} it: melvae", ours)
        fig(f"true magnitude, GL {n} it: librosa griffinlim", theirs)
        bench.add(
            STAGE, f"true magnitude, GL {n} it: speed-up over librosa", t[theirs] / t[ours], "x"
        )

    for name in nnls:
        bench.add(
            STAGE,
            f"mel -> linear magnitude alone: {name}",
            nnls_sc[name],
            "dB SC",
            note=f"{nnls_t[name]:.2f} s",
        )
    # Threads: torch's OpenMP threads wait for each other at every op; on a machine where
    # other processes hold cores this costs more than the second thread gains.
    default_threads = torch.get_num_threads()
    gl_runs: dict[int, list[float]] = {n: [] for n in sorted({1, default_threads})}
    for _ in range(reps):  # interleaved
        for threads, runs in gl_runs.items():
            torch.set_num_threads(threads)
            runs += timed(lambda: invert("linear", "melvae", "random", 64), 1, warmup=0)
    gl_threads = {n: median(v) for n, v in gl_runs.items()}
    torch.set_num_threads(default_threads)
    bench.details[STAGE]["gl64_seconds_by_threads"] = gl_threads
    if default_threads > 1:
        bench.add(
            STAGE,
            f"GL 64 it: {default_threads} threads / 1 thread, time",
            gl_threads[default_threads] / gl_threads[1],
            "",
            note=f"{gl_threads[default_threads]:.2f} s vs {gl_threads[1]:.2f} s; "
            "below 1: the second thread helps",
        )

    # PGHI as the initial phase.
    for path in ("linear", "mel"):
        what = "true magnitude" if path == "linear" else "mel"
        fig(f"{what}: PGHI alone (no iteration)", (path, "melvae", "pghi", 0))
        for n in INIT_ITERS:
            fig(f"{what}: random + {n} it", (path, "melvae", "random", n))
            fig(f"{what}: PGHI + {n} it", (path, "melvae", "pghi", n))
        base = (path, "melvae", "random", 64)  # today's default
        cheaper = [
            (path, "melvae", "pghi", n)
            for n in INIT_ITERS
            if sc[(path, "melvae", "pghi", n)] <= sc[base] + 0.05
        ]
        if cheaper:
            best = min(cheaper, key=lambda c: t[c])
            bench.add(
                STAGE,
                f"{what}: fewest PGHI iterations reaching random + 64 it's SC",
                f"PGHI + {best[3]} it",
                note=f"SC {sc[best]:.1f} vs {sc[base]:.1f} dB in {t[best]:.2f} vs "
                f"{t[base]:.2f} s ({t[base] / t[best]:.2f}x faster)",
            )
        else:
            bench.add(
                STAGE,
                f"{what}: fewest PGHI iterations reaching random + 64 it's SC",
                "none of 16/32/64",
            )
    pghi_alone = t[("linear", "melvae", "pghi", 0)]
    per_iter = (t[("linear", "melvae", "random", 64)] - t[("linear", "melvae", "random", 16)]) / 48
    bench.add(
        STAGE,
        "PGHI alone costs as much as this many GL iterations",
        pghi_alone / per_iter,
        "",
        note=f"PGHI {pghi_alone:.2f} s; one GL iteration {1000 * per_iter:.0f} ms "
        f"for {seconds:g} s of audio",
    )
