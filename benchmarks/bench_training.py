"""Stage 2, training: segments per second, weights and peak memory of melvae's default model,
its 2-D-latent variant and the reference design (benchmarks/reference_model.py), and the
validation loss each reaches after the same wall time on demo-like data.

* Throughput: one training step (forward, :func:`melvae.models.vector.vae_loss`, backward, Adam) on
  a batch of 16 segments of 128 x 431, steps of the three models interleaved in one process
  so that a change of machine load hits all alike; the median step time gives segments/s.
* Peak memory: each model alone in a fresh process for a few steps; its VmHWM, and the
  increase over the process's size before the model was built (torch itself).
* FLOPs per segment (forward and backward) by torch's FlopCounterMode: what the step costs
  in arithmetic, beside what it costs in time.
* Equal wall time: both models train on the same synthesized data set (3 styles, tracks split
  by track into train and validation), in alternating slices of a few seconds until each has
  had the same training time; then the validation loss (vae_loss at beta 1 on the mean
  reconstruction, as ``melvae train`` reports it) of each.
"""

from __future__ import annotations

import time

from benchmarks.common import Bench, current_rss_mib, median, rss_mib, run_isolated

STAGE = "training"
BATCH = 16
MODELS = ("default", "2-D latent", "reference")


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build(name: str):
    from benchmarks.reference_model import ReferenceVAE
    from melvae.config import ModelConfig
    from melvae.models.vector import MelVAE

    if name == "default":
        return MelVAE(ModelConfig())
    if name == "2-D latent":
        return MelVAE(ModelConfig(latent_dim=2))
    if name == "reference":
        return ReferenceVAE()
    raise ValueError(name)


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _step(model, opt, mel, beta: float, generator=None) -> float:
    from melvae.models.vector import vae_loss

    recon, mu, logvar = model(mel, generator=generator)
    terms = vae_loss(recon, mel, mu, logvar, beta=beta)
    opt.zero_grad(set_to_none=True)
    terms.total.backward()
    opt.step()
    return float(terms.total.detach())


def throughput(steps: int, warmup: int = 2) -> dict:
    """In a fresh process: interleaved training steps of every model."""
    import torch

    device = _device()
    torch.manual_seed(0)
    mel = torch.rand(BATCH, 128, 431, device=device)
    runs = {}
    for name in MODELS:
        model = build(name).to(device).train()
        runs[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))
    times: dict[str, list[float]] = {name: [] for name in MODELS}
    for i in range(warmup + steps):
        for name, (model, opt) in runs.items():
            t0 = time.perf_counter()
            _step(model, opt, mel, beta=1.0)
            _sync(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    return {
        "device": device,
        "threads": torch.get_num_threads(),
        "step_seconds": times,
        "parameters": {name: sum(p.numel() for p in runs[name][0].parameters()) for name in MODELS},
        "gflop_per_segment": {name: _gflop(runs[name][0], mel[:2]) for name in MODELS},
    }


def _gflop(model, mel) -> float:
    """Forward + backward GFLOP per segment (multiply-add counted as 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        recon, _, _ = model(mel)
        (recon - mel).square().sum().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(mel) / 1e9


def memory(name: str, steps: int = 2) -> dict:
    """In a fresh process: peak memory of training one model."""
    import torch

    device = _device()
    mel = torch.rand(BATCH, 128, 431, device=device)
    before = current_rss_mib()
    model = build(name).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        _step(model, opt, mel, beta=1.0)
    out = {"rss_before_model_mib": before, "rss_peak_mib": rss_mib()}
    if device == "cuda":
        out["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def make_data(folder, quick: bool) -> str:
    """A demo-like data set: synthesized tracks of 3 styles, preprocessed as the demo does."""
    from pathlib import Path

    from melvae.config import AudioConfig
    from melvae.data.preprocess import preprocess
    from melvae.data.synth import synthesize_dataset
    from melvae.layout import SUMMARY

    tracks, seconds = (2, 20.0) if quick else (4, 30.0)
    folder = Path(folder)
    data = folder / f"data-{tracks}x{seconds:g}"
    if not (data / SUMMARY).exists():
        synthesize_dataset(folder / "audio", tracks_per_style=tracks, seconds=seconds, seed=0)
        cfg = AudioConfig()
        preprocess(folder / "audio", data, cfg, hop_seconds=cfg.segment_seconds / 4, progress=False)
    return str(data)


def equal_time(data_dir: str, seconds: float, slice_seconds: float = 5.0, seed: int = 0) -> dict:
    """In a fresh process: both models train for ``seconds`` of wall time each, in
    alternating slices; then each one's validation loss."""
    import numpy as np
    import torch

    from melvae.data.dataset import MelDataset, track_split
    from melvae.models.vector import vae_loss

    device = _device()
    data = MelDataset(data_dir)
    train_idx, val_idx = track_split(data.segments, val_fraction=0.25, seed=seed)
    mels = torch.from_numpy(np.asarray(data.mels, dtype=np.float32)).to(device)
    train_x, val_x = mels[train_idx], mels[val_idx]
    warmup_seconds = 0.25 * seconds  # KL warm-up: linear over the first quarter of the time
    state = {}
    for k, name in enumerate(("default", "reference")):
        torch.manual_seed(seed)
        model = build(name).to(device).train()
        state[name] = {
            "model": model,
            "opt": torch.optim.Adam(model.parameters(), lr=1e-3),
            "gen": torch.Generator().manual_seed(seed + k),
            "order": [],
            "trained": 0.0,
            "steps": 0,
        }
    while any(s["trained"] < seconds for s in state.values()):
        for s in state.values():
            if s["trained"] >= seconds:
                continue
            t_slice = time.perf_counter()
            while time.perf_counter() - t_slice < slice_seconds and s["trained"] < seconds:
                if len(s["order"]) < BATCH:  # a new epoch; no short last batch
                    s["order"] = torch.randperm(len(train_x), generator=s["gen"]).tolist()
                batch = [s["order"].pop() for _ in range(min(BATCH, len(train_x)))]
                beta = min(1.0, s["trained"] / warmup_seconds)
                t0 = time.perf_counter()
                _step(s["model"], s["opt"], train_x[batch], beta)
                _sync(device)
                s["trained"] += time.perf_counter() - t0
                s["steps"] += 1
    out = {"train_segments": len(train_idx), "val_segments": len(val_idx), "device": device}
    for name, s in state.items():
        model = s["model"].eval()
        total = recon = kl = 0.0
        with torch.no_grad():
            for i in range(0, len(val_x), BATCH):
                mel = val_x[i : i + BATCH]
                mu, logvar = model.encode(mel)
                terms = vae_loss(model.decode(mu), mel, mu, logvar, beta=1.0)
                total += float(terms.total) * len(mel)
                recon += float(terms.recon) * len(mel)
                kl += float(terms.kl) * len(mel)
        n = len(val_x)
        out[name] = {
            "val_loss": total / n,
            "val_recon": recon / n,
            "val_kl": kl / n,
            "steps": s["steps"],
            "seconds": s["trained"],
            "epochs": s["steps"] * BATCH / len(train_x),
        }
    return out


def run(bench: Bench) -> None:
    steps = bench.repeats(6, 2)
    train_seconds = bench.options.get("train_seconds") or (15.0 if bench.quick else 75.0)
    print(f"[training] throughput: {steps} interleaved steps per model after 2 warm-up steps")
    tp = run_isolated("benchmarks.bench_training:throughput", steps=steps)
    mem = {name: run_isolated("benchmarks.bench_training:memory", name=name) for name in MODELS}
    rate = {name: BATCH / median(tp["step_seconds"][name]) for name in MODELS}
    for name in MODELS:
        params = tp["parameters"][name] / 1e6
        bench.add(
            STAGE,
            f"{name}: segments/s (batch {BATCH}, {tp['device']})",
            rate[name],
            "/s",
            note=f"{params:.2f} M weights, "
            f"{tp['gflop_per_segment'][name]:.2f} GFLOP per segment (forward + backward)",
        )
        m = mem[name]
        text = f"{m['rss_peak_mib']:.0f} MiB (+{m['rss_peak_mib'] - m['rss_before_model_mib']:.0f})"
        bench.add(STAGE, f"{name}: peak RSS training (increase over torch alone)", text)
    bench.check(
        STAGE, "default / reference segments/s", rate["default"] / rate["reference"], "x", ">=", 5
    )
    print(f"[training] equal wall time: {train_seconds:g} s each, interleaved")
    data_dir = make_data(bench.work / "training_data", bench.quick)
    eq = run_isolated(
        "benchmarks.bench_training:equal_time", data_dir=data_dir, seconds=train_seconds
    )
    for name in ("default", "reference"):
        r = eq[name]
        bench.add(
            STAGE,
            f"{name}: val loss after {train_seconds:g} s",
            r["val_loss"],
            note=f"recon {r['val_recon']:.1f} + KL {r['val_kl']:.1f}; {r['steps']} steps, "
            f"{r['epochs']:.1f} epochs of {eq['train_segments']} segments "
            f"({eq['val_segments']} held out by track)",
        )
    bench.check(
        STAGE,
        "val loss default - reference (same wall time)",
        eq["default"]["val_loss"] - eq["reference"]["val_loss"],
        "",
        "<=",
        0,
    )
    bench.details[STAGE] = {
        "throughput": tp,
        "memory": mem,
        "equal_time": eq,
        "segments_per_second": rate,
    }
