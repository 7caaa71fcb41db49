"""The default study for real, reduced (1 epoch, float32 LiteRT only, a short timing loop): train, export, parity,
bench, report and history end to end; then a re-run that does no work and a changed setting that redoes only
the timing."""

from __future__ import annotations

import json

import pytest

from convbench.experiment import history

REDUCED = ["--set", "train.epochs=1", "--set", 'export.quantize=["none"]', "--set", "bench.runtimes={litert = [1]}",
           "--set", "bench.runs=5", "--set", "bench.min_seconds=0", "--set", "bench.warmup=1",
           "--set", "bench.warmup_seconds=0", "--set", "report.accuracy_floor=0"]


@pytest.mark.slow
def test_default_study_reduced_end_to_end(cli, tmp_path):
    out = tmp_path / "out"
    rc, text, err = cli("run", "--out", out, "--quiet", *REDUCED)
    assert rc == 0, err
    first_line = text.splitlines()[0]  # the recommendation; a busy machine (CI beside other jobs) said first
    assert first_line.startswith(("Ship ", "No clear winner", "The machine was busy")) and "Ship " in first_line
    assert "report:" in text

    results = json.loads((out / "results.json").read_text())
    assert len(results["models"]) == 3 and len(results["latency"]) == 3
    for row in results["latency"]:
        assert row["format"] == "tflite" and row["runtime"] == "litert" and row["median_ms"] > 0
        assert 0 <= row["accuracy"] <= 1 and row["agreement"] > 0.95 and row["max_abs_diff"] < 1e-4
    assert results["study"]["steps"] == {"total": 10, "cached": 0, "ran": 10, "failed": 0, "skipped": 0}
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "Candidates" in html
    assert len(history(study="default")) == 3

    rc, _, _ = cli("run", "--out", out, "--quiet", *REDUCED)
    again = json.loads((out / "results.json").read_text())["study"]["steps"]
    assert rc == 0 and again["ran"] == 0 and again["cached"] == 10

    rc, _, _ = cli("run", "--out", out, "--quiet", *REDUCED, "--set", "bench.runs=6")
    changed = json.loads((out / "results.json").read_text())["study"]["steps"]
    assert rc == 0 and changed["ran"] == 1 and changed["cached"] == 9  # only the timing of the three files
