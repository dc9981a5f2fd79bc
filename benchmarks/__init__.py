"""melvae benchmarks, run by hand (never by the test suite): ``python -m benchmarks``.

Every stage works on audio it synthesizes itself (:mod:`melvae.data.synth`), prints its figures
against their targets and adds them to ``bench_results/bench.json``. Figures that are
compared with each other are measured in the same run, interleaved where they are short,
and each is the median of several repeats after a warm-up: the machine is shared and its
timings drift by tens of percent.

Stages: preprocess, training, inversion, longform, generate (``--only STAGE``).
"""
