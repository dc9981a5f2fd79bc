"""``python -m benchmarks._child module:function JSON``: run one measurement in a fresh
process and print its result (a JSON dict) with the process's peak memory (VmHWM: see
:func:`benchmarks.common.rss_mib`)."""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys

from benchmarks.common import RESULT_TAG, rss_mib


def main() -> None:
    target, kwargs = sys.argv[1], json.loads(sys.argv[2])
    module, func = target.split(":")
    if os.environ.get("MELVAE_BENCH_THREADS"):
        import torch

        torch.set_num_threads(int(os.environ["MELVAE_BENCH_THREADS"]))
    result = getattr(importlib.import_module(module), func)(**kwargs)
    result = dict(result)
    result["rss_self_mib"] = rss_mib(resource.RUSAGE_SELF)
    result["rss_children_mib"] = rss_mib(resource.RUSAGE_CHILDREN)
    print(RESULT_TAG + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
