"""Assertions and records shared by tests (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convbench.report.records import LatencyRow

def assert_one_line_error(rc: int, err: str, *needles: str) -> None:
    """A user error: non-zero exit, one line on stderr naming each of ``needles``, no traceback."""
    assert rc != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def latency_row(**figures: object) -> LatencyRow:
    """A study's latency row with ``figures`` (model, runtime, median_ms, accuracy …) over placeholders for the
    fields a test does not look at."""
    from convbench.report.records import LatencyRow

    median = figures.get("median_ms", 1.0)
    placeholders: dict[str, object] = {
        "model": "m", "arch": "test", "width": 1.0, "input_size": 32, "dataset": "digits", "format": "tflite",
        "quantize": "none", "runtime": "litert", "runtime_version": None, "threads": 1, "delegate": None,
        "params": None, "macs": None, "size_bytes": 1000, "sha256": "0" * 64, "accuracy": None,
        "keras_accuracy": None, "agreement": None, "max_abs_diff": None, "median_ms": median, "ci95_low_ms": median,
        "ci95_high_ms": median, "p90_ms": median, "p99_ms": median, "iqr_ms": 0.0, "n": 1, "unstable": False,
        "load_ms": 0.0, "first_inference_ms": 0.0, "preprocess_ms": 0.0, "attained_gflops": None,
        "target": "local", "device": None, "file": "model.tflite", "bench_file": "bench.json", "environment": {}}
    return LatencyRow(**{**placeholders, **figures})
