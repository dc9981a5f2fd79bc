"""Short design runs: one autoencoder shape for a fixed number of steps, scored on held-out data.

    python -m benchmarks.design DATA_TRAIN DATA_TEST --steps 240 [--crop 128 --steps 800]
        [--kind sequence|vector] [--rate 4] [--channels 16] [--width 256] [--blocks 4]
        [--beta 0.01 | --sigma] [--lr 1e-3] [--out results.jsonl]

DATA_TRAIN and DATA_TEST are `melvae preprocess` folders (benchmarks.realmusic makes both from
the dev set). A step budget, not a time budget, so runs compare at equal compute however busy
the machine is (``--crop 128 --steps 800`` costs about what 240 steps of whole segments do).
Prints one JSON line: held-out summed squared error, the time-smeared baseline's, and
temporal detail pooled over all segments and as the mean and median of per-segment values.
The README's table of design choices came from these runs.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from melvae.config import SEQUENCE_CHANNELS, ModelConfig
from melvae.data.dataset import MelDataset
from melvae.models import build_network


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--kind", default="sequence", choices=("sequence", "vector"))
    ap.add_argument("--steps", type=int, default=240)
    ap.add_argument("--crop", type=int, default=0, help="train on windows of this many frames")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--beta", type=float, default=0.01)
    ap.add_argument("--sigma", action="store_true", help="calibrated decoder variance")
    ap.add_argument("--rate", type=int, default=4)
    ap.add_argument("--channels", type=int, default=16, help="latent channels")
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="append the result line to this JSONL file")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x_train = torch.from_numpy(np.asarray(MelDataset(a.train).mels, dtype=np.float32))
    x_test = torch.from_numpy(np.asarray(MelDataset(a.test).mels, dtype=np.float32))
    n_mels, frames = x_train.shape[1:]
    if a.kind == "sequence":
        cfg = ModelConfig(
            kind="sequence",
            n_mels=n_mels,
            n_frames=frames,
            channels=SEQUENCE_CHANNELS,
            rate=a.rate,
            latent_channels=a.channels,
            width=a.width,
            blocks=a.blocks,
        )
    else:
        cfg = ModelConfig(n_mels=n_mels, n_frames=frames)
    model = build_network(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    gen = torch.Generator().manual_seed(a.seed)
    t0, step, seen = time.perf_counter(), 0, 0
    while step < a.steps:
        order = torch.randperm(len(x_train), generator=gen)
        for i in range(0, len(order) - a.batch_size + 1, a.batch_size):
            if step >= a.steps:
                break
            done = step / a.steps
            for group in opt.param_groups:  # cosine to 5%, as melvae train does
                group["lr"] = a.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done)))
            x = x_train[order[i : i + a.batch_size]]
            if a.crop and a.kind == "sequence":
                off = int(torch.randint(0, (frames - a.crop) // a.rate + 1, (1,), generator=gen))
                x = x[..., off * a.rate : off * a.rate + a.crop]
            recon, mu, logvar = model(x)
            sse = (recon - x).square().flatten(1).sum(1)
            kl = (0.5 * (mu.square() + logvar.exp() - logvar - 1)).flatten(1).sum(1)
            warm = min(1.0, done / 0.1)  # KL warm-up over the first tenth
            if a.sigma:  # sigma-VAE: the shared decoder variance at its optimum, the batch MSE
                mse = sse.mean().detach() / x[0].numel()
                loss = sse.mean() / (2 * mse) + warm * kl.mean()
            else:
                loss = sse.mean() + a.beta * warm * kl.mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
            opt.step()
            step, seen = step + 1, seen + len(x)
    model.eval()
    sse, smear = [], []
    with torch.no_grad():
        for i in range(0, len(x_test), 32):
            y = x_test[i : i + 32]
            mu, _ = model.encode(y)
            recon = model.decode(mu, frames=y.shape[-1])
            sse.append((recon - y).square().flatten(1).sum(1))
            smear.append((y - y.mean(-1, keepdim=True)).square().flatten(1).sum(1))
    sse, smear = torch.cat(sse), torch.cat(smear)
    detail = 1 - sse / smear
    result = {
        **{k: v for k, v in vars(a).items() if k not in ("train", "test", "out")},
        "windows_per_second": round(seen / (time.perf_counter() - t0), 1),
        "test_sse": round(float(sse.mean()), 1),
        "smear_sse": round(float(smear.mean()), 1),
        "temporal_detail_pooled": round(float(1 - sse.sum() / smear.sum()), 3),
        "temporal_detail_mean": round(float(detail.mean()), 3),
        "temporal_detail_median": round(float(detail.median()), 3),
    }
    line = json.dumps(result)
    print(line)
    if a.out:
        with open(a.out, "a") as fh:
            fh.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
