"""``python -m benchmarks [--quick] [--only STAGE ...]``: run, print the table, write JSON.

torch's OpenMP threads spin while they wait for each other; on a machine where other
processes hold the cores that makes a 2-thread torch op up to 2.5x slower than 1 thread
(measured: Griffin-Lim, 2 cores, one other busy process). The benchmark therefore runs with
``OMP_WAIT_POLICY=PASSIVE`` unless it is set already (``--omp-wait-policy`` to choose),
which costs 10-20% on an idle machine and gives stable figures on a shared one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchmarks.common import ROOT, Bench, machine, table

STAGES = ("preprocess", "training", "inversion", "longform", "generate")


def _runner(stage: str):
    if stage == "preprocess":
        from benchmarks.bench_preprocess import run
    elif stage == "training":
        from benchmarks.bench_training import run
    elif stage == "inversion":
        from benchmarks.bench_inversion import run
    elif stage == "longform":
        from benchmarks.bench_longform import run_longform as run
    else:
        from benchmarks.bench_longform import run_generate as run
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer repeats and shorter audio: a smoke run of a few minutes",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=STAGES,
        metavar="STAGE",
        help=f"run only this stage (repeatable): {', '.join(STAGES)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "bench_results",
        help="folder for bench.json and scratch files (default: bench_results)",
    )
    parser.add_argument(
        "--train-seconds",
        type=float,
        default=None,
        help="training time per model for the equal-time comparison (default 75, --quick 15)",
    )
    parser.add_argument(
        "--omp-wait-policy",
        default=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        choices=("PASSIVE", "ACTIVE"),
        type=str.upper,
        help="OpenMP wait policy for torch (default PASSIVE; see above)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads in every stage (default: torch's, one per core)",
    )
    args = parser.parse_args(argv)
    if "torch" in sys.modules and os.environ.get("OMP_WAIT_POLICY") != args.omp_wait_policy:
        print("warning: torch was imported before the OpenMP wait policy could be set")
    os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy  # read when torch loads OpenMP
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["MELVAE_BENCH_THREADS"] = str(args.threads)  # for the child processes
    stages = [s for s in STAGES if not args.only or s in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    bench = Bench(
        quick=args.quick,
        out=args.out,
        options={
            "quick": args.quick,
            "stages": stages,
            "train_seconds": args.train_seconds,
            "threads": args.threads,
            "omp_wait_policy": args.omp_wait_policy,
        },
    )
    info = machine()
    print(
        f"machine: {info['cpu']}, {info['cpu_count']} cores, torch {info['torch']} "
        f"({info['torch_threads']} threads), CUDA: {info.get('gpu', 'none')}; "
        f"load average at start {', '.join(f'{x:.1f}' for x in info['load_average_at_start'])}"
    )
    t0 = time.perf_counter()
    timings = {}
    for stage in stages:
        t_stage = time.perf_counter()
        _runner(stage)(bench)
        timings[stage] = {
            "seconds": time.perf_counter() - t_stage,
            "load_average_at_end": os.getloadavg(),
        }
        print(f"[{stage}] done in {timings[stage]['seconds']:.0f} s\n", flush=True)
    total = time.perf_counter() - t0
    info["load_average_at_end"] = os.getloadavg()
    text = table(bench.figures)
    header = (
        f"melvae benchmarks{' (--quick)' if args.quick else ''}: {info['cpu']}, "
        f"{info['cpu_count']} cores, torch {info['torch']} with {info['torch_threads']} "
        f"threads, OMP_WAIT_POLICY={args.omp_wait_policy}, CUDA {info.get('gpu', 'none')}; "
        f"load average "
        f"{info['load_average_at_start'][0]:.1f} at start, "
        f"{info['load_average_at_end'][0]:.1f} at end; {total / 60:.1f} min"
    )
    print("\n" + header + "\n\n" + text)
    result = bench.to_json() | {"machine": info, "stage_seconds": timings, "total_seconds": total}
    (args.out / "bench.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (args.out / ("table-quick.txt" if args.quick else "table.txt")).write_text(
        header + "\n\n" + text + "\n"
    )
    print(f"\nwrote {args.out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
