"""Shared pieces: figures with targets, timing, isolated subprocesses, peak memory."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT_TAG = "BENCH_RESULT "


@dataclass
class Figure:
    """One printed line: a measured value, and its target where it has one."""

    stage: str
    name: str
    value: float | str | None
    unit: str = ""
    target: str = ""  # as printed, e.g. ">= 100"
    ok: bool | None = None  # None: a figure without a target
    note: str = ""

    @property
    def status(self) -> str:
        return "-" if self.ok is None else ("PASS" if self.ok else "MISS")

    def value_text(self) -> str:
        v = self.value
        if v is None:
            return "n/a"
        if isinstance(v, str):
            return v
        if v != v:  # nan
            return "nan"
        mag = abs(v)
        text = f"{v:.3g}" if mag < 10 else (f"{v:.1f}" if mag < 1000 else f"{v:,.0f}")
        return f"{text} {self.unit}".strip()


@dataclass
class Bench:
    """State of one benchmark run."""

    quick: bool
    out: Path
    options: dict = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def work(self) -> Path:
        path = self.out / "work"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def repeats(self, full: int, quick: int = 1) -> int:
        return quick if self.quick else full

    def add(self, stage: str, name: str, value, unit: str = "", **kwargs) -> Figure:
        fig = Figure(stage, name, value, unit, **kwargs)
        self.figures.append(fig)
        print(f"  {fig.name}: {fig.value_text()}", end="")
        if fig.target:
            print(f"  (target {fig.target}: {fig.status})", end="")
        print(f"  {fig.note}" if fig.note else "", flush=True)
        return fig

    def check(self, stage: str, name: str, value, unit: str, op: str, target: float, note=""):
        """A figure against a target: op is '>=' or '<='."""
        ok = None
        if value is not None and value == value:
            ok = value >= target if op == ">=" else value <= target
        text = f"{op} {target:g} {unit}".strip()
        return self.add(stage, name, value, unit, target=text, ok=ok, note=note)

    def to_json(self) -> dict:
        return {
            "options": self.options,
            "figures": [asdict(f) | {"status": f.status} for f in self.figures],
            "details": self.details,
        }


def table(figures: list[Figure]) -> str:
    """The figures as a fixed-width text table."""
    head = ("stage", "figure", "value", "target", "")
    rows = [(f.stage, f.name, f.value_text(), f.target, f.status) for f in figures]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    widths[1] = min(widths[1], 62)
    lines = []
    last_stage = None
    for r, f in zip([head, *rows], [None, *figures]):
        if f is not None and f.stage != last_stage and last_stage is not None:
            lines.append("")
        last_stage = f.stage if f is not None else last_stage
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        if f is not None and f.note:
            lines.append(" " * (widths[0] + 4) + "* " + f.note)
        if f is None:
            lines.append("-" * (sum(widths) + 2 * len(widths)))
    return "\n".join(lines)


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1, sync=None) -> list[float]:
    """Wall seconds of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return times


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory of this process in MiB.

    Not ``ru_maxrss``: on Linux a process started by fork + exec inherits its parent's peak
    there (exec records the old address space's high-water mark), so a small child of a big
    parent reports the parent's size. ``VmHWM`` in /proc/self/status is the peak of this
    program's own address space. ``who=RUSAGE_CHILDREN`` still gives ru_maxrss of the
    largest terminated child, with that caveat.
    """
    if who == resource.RUSAGE_SELF:
        hwm = proc_status_kib("VmHWM")
        if hwm is not None:
            return hwm / 1024.0
    return resource.getrusage(who).ru_maxrss / 1024.0


def proc_status_kib(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (Linux), or None."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_mib() -> float:
    """Resident memory right now (Linux /proc), in MiB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_isolated(target: str, timeout: float = 900, **kwargs) -> dict:
    """Run ``module:function(**kwargs)`` in a fresh interpreter (its own memory high-water
    mark) and return its dict result plus ``rss_self_mib`` / ``rss_children_mib``."""
    cmd = [sys.executable, "-m", "benchmarks._child", target, json.dumps(kwargs)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    raise RuntimeError(
        f"{target} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )


def machine() -> dict:
    import platform

    import torch

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.is_available(),
        "load_average_at_start": os.getloadavg(),
    }
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = [x.split(":", 1)[1].strip() for x in out.splitlines() if "Model name" in x]
        info["cpu"] = model[0] if model else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    if info["cuda"]:
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
