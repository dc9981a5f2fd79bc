"""melvae.report.present: the one number formatter, the terminal table and the JSON files."""

import json

import numpy as np
import pytest

from melvae.report.present import format_number, format_table, format_value, write_metrics

SECTIONS = ("settings", "reconstruction", "latent", "generation", "longform")


@pytest.fixture(scope="module")
def result(tiny_run, tiny_data, tmp_path_factory):
    """A real evaluation of the tiny run, with a long track: every section evaluate writes."""
    import melvae
    from melvae.evaluation.evaluate import evaluate

    track = tmp_path_factory.mktemp("present") / "track.wav"
    model = melvae.load(tiny_run, device="cpu", n_iter=4)
    model.write_longform(track, 6.0, progress=False)
    return evaluate(
        tiny_run,
        tiny_data,
        longform=track,
        model=model,
        max_segments=4,
        device="cpu",
        progress=False,
    )


def test_json_round_trip_and_table(result, tmp_path):
    path = write_metrics(result, tmp_path / "sub" / "metrics.json")
    assert json.loads(path.read_text()) == result
    table = format_table(result)
    for name in SECTIONS:
        assert f"\n{name}\n" in f"\n{table}"
    assert "phase_only_sc_db" in table
    # Not-finite numbers become null: strict JSON has no Infinity.
    write_metrics({"x": {"a": float("-inf"), "b": [float("nan"), 1.0]}}, tmp_path / "inf.json")
    assert json.loads((tmp_path / "inf.json").read_text()) == {"x": {"a": None, "b": [None, 1.0]}}
    # The report's facts keep them readable as strings.
    write_metrics({"a": float("inf")}, tmp_path / "str.json", nonfinite="str")
    assert json.loads((tmp_path / "str.json").read_text()) == {"a": "inf"}


def test_format_value():
    assert format_value(3) == "3" and format_value(0.123456) == "0.1235"
    assert format_value(float("nan")) == "nan" and format_value(None) == "-"
    assert format_value([]) == "(empty)"
    assert format_value([1, 2, 3]) == "mean 2 ± 1 sd (n = 3, min 1, max 3)"
    assert format_value([1.0, float("inf")]).endswith("1 not finite")
    assert format_value(["a", "b"]) == "a, b"


def test_one_number_formatter_for_table_and_report():
    for value in (3, np.int64(3), 0.123456, np.float32(0.123456), 123456.0, -float("inf")):
        assert format_value(value) in format_table({"s": {"x": value}})
    assert format_number(123456.0) == "123456" and format_number(1e20) == "1e+20"
    assert format_number(np.float32(0.5)) == "0.5" and format_number(True) == "1"


def test_table_lines():
    result = {
        "latent": {
            "kl_total": 3.14159,
            "kl_per_dim": [0.5, 1e-05, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "same_dataset_as_training": True,
            "none": None,
            "reference": "original audio",
        },
        "empty": {},
    }
    assert format_table(result).splitlines() == [
        "latent",
        "  kl_total                            3.142  KL summed over dimensions, nats per segment",
        "  kl_per_dim                   [0.5 1e-05 2 3 4 5 6 7 ...]  KL per latent dimension, nats",
        "  same_dataset_as_training             True",
        "  none                                 None",
        "  reference                    original audio",
        "",
        "empty",
    ]


def test_module_example_stays_true():
    import doctest

    import melvae.report.present

    assert doctest.testmod(melvae.report.present).failed == 0
