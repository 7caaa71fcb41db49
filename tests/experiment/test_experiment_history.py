"""The SQLite results history: rows round-trip with their environment; filters; bad files; the CLI."""

from __future__ import annotations

import pytest
from support import assert_one_line_error

from convbench.errors import ConfigError
from convbench.experiment import append_history, history, history_path


def _row(arch, dataset, median, timestamp):
    return {"kind": "latency", "model": f"{arch}_1.00_32", "arch": arch, "dataset": dataset, "format": "tflite",
            "quantize": "none", "runtime": "litert", "threads": 1, "median_ms": median, "ci95_low_ms": median * 0.9,
            "ci95_high_ms": median * 1.1, "p90_ms": median * 1.2, "accuracy": 0.97, "size_bytes": 1234,
            "extra_figure": [1, 2], "environment": {"cpu": "cpu X", "cores": 2, "timestamp": timestamp}}


def _run(study, timestamp):
    return {"study": study, "timestamp": timestamp, "command": f"convbench run {study}", "out_dir": "/o",
            "wall_seconds": 1.5, "experiment": {"name": study}, "environment": {"cpu": "cpu X"}}


def test_round_trip_filters_and_order(private_history):
    first = [_row("alexnet", "digits", 1.0, "2025-01-01T00:00:00+00:00"),
             _row("mobilenet_v2", "digits", 2.0, "2025-01-01T00:00:01+00:00")]
    run_id = append_history(first, _run("a", "2025-01-01T00:00:00+00:00"))
    append_history([_row("alexnet", "fruits360", 3.0, "2025-02-01T00:00:00+00:00")],
                   _run("b", "2025-02-01T00:00:00+00:00"))
    assert history_path() == private_history

    rows = history()
    assert [r["median_ms"] for r in rows] == [3.0, 2.0, 1.0]  # newest first
    back = rows[2]
    expected = first[0]
    assert {k: back[k] for k in expected} == expected  # every field, nested environment included
    assert back["run_id"] == run_id and back["study"] == "a"
    assert [r["median_ms"] for r in history(arch="alexnet")] == [3.0, 1.0]
    assert [r["median_ms"] for r in history(dataset="digits", arch="alexnet")] == [1.0]
    assert [r["median_ms"] for r in history(study="b")] == [3.0]
    assert len(history(limit=2)) == 2


def test_explicit_path_beats_environment(tmp_path, private_history):
    other = tmp_path / "elsewhere" / "h.sqlite"
    append_history([_row("alexnet", "digits", 1.0, "t")], _run("a", "t"), other)
    assert other.is_file() and not private_history.exists()
    assert len(history(path=other)) == 1


def test_errors(tmp_path):
    with pytest.raises(ConfigError, match="no results history at"):
        history(path=tmp_path / "none.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"junk\.sqlite"):
        history(path=junk)
    with pytest.raises(ConfigError, match="limit must be an integer >= 1, got limit=0"):
        history(limit=0)


def test_history_cli(cli, private_history):
    append_history([_row("alexnet", "digits", 1.25, "2025-01-01T00:00:00+00:00")], _run("a", "t"))
    rc, out, _ = cli("history", "--arch", "alexnet")
    assert rc == 0 and "alexnet_1.00_32" in out and "1.250" in out
    rc, out, _ = cli("history", "--dataset", "fruits360")
    assert rc == 0 and "0 rows" in out
    rc, _, err = cli("history", "--history", private_history.parent / "missing.sqlite")
    assert_one_line_error(rc, err, "missing.sqlite")


def test_an_unknown_runtime_is_an_error_listing_the_known_ones(cli, private_history):
    """A misspelt runtime matched no row: an empty table and exit 0 looked like an answer."""
    append_history([_row("alexnet", "digits", 1.25, "2025-01-01T00:00:00+00:00")], _run("a", "t"))
    rc, out, err = cli("history", "--runtime", "tensorrt")
    assert_one_line_error(rc, err, "unknown runtime 'tensorrt'", "litert", "onnxruntime", "openvino")
    assert out == ""
    with pytest.raises(ConfigError, match=r"unknown runtime 'tensorrt'; known: .*litert_compiled"):
        history(runtime="tensorrt")
    assert [r["runtime"] for r in history(runtime="litert")] == ["litert"]
