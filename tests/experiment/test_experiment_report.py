"""The study's report files: results.json/.csv, report.md, one self-contained report.html; the recommendation."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from experiment.fakes import EARLY_EXIT_TOML, SMALL_TOML, FakeSteps

from convbench.bench import Measurement, TaskSpec
from convbench.experiment import history, run
from convbench.report.compare import pair_test
from convbench.report.study import LatencyCandidate, recommend


@pytest.fixture(scope="module")
def study(tmp_path_factory, fake_steps_module):
    out = tmp_path_factory.mktemp("study")
    toml = out / "small.toml"
    toml.write_text(SMALL_TOML)
    return run(toml, out=out / "out", history=out / "history.sqlite", progress=False)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def fake_steps_module(monkeypatch_module):
    return FakeSteps().install(monkeypatch_module)


def test_report_files_exist(study):
    names = {p.relative_to(study.out).as_posix() for p in study.files}
    assert {"results.json", "results.csv", "report.md", "report.html", "plots/latency.png", "plots/phases.png",
            "plots/accuracy_vs_latency.png", "plots/size_vs_latency.png"} <= names
    assert all(p.stat().st_size > 0 for p in study.files)


def test_results_json_has_every_figure_with_environment(study):
    results = json.loads((study.out / "results.json").read_text())
    assert results["schema"] == "convbench.study_results/1"
    assert len(results["models"]) == 2 and len(results["latency"]) == 6
    row = results["latency"][0]
    for key in ("median_ms", "ci95_low_ms", "ci95_high_ms", "p90_ms", "p99_ms", "load_ms", "preprocess_ms",
                "first_inference_ms", "size_bytes", "sha256", "accuracy", "agreement", "params", "macs"):
        assert row[key] is not None, key
    assert row["environment"]["cpu"] == "fake cpu"
    assert results["environment"]["libraries"] and results["study"]["command"].startswith("convbench run ")


def test_results_csv(study):
    rows = list(csv.DictReader(io.StringIO((study.out / "results.csv").read_text())))
    assert len(rows) == 6
    assert {r["runtime"] for r in rows} == {"litert", "onnxruntime"}
    assert all(float(r["median_ms"]) > 0 and r["cpu"] == "fake cpu" for r in rows)


def test_markdown_has_summary_and_tables(study):
    md = (study.out / "report.md").read_text()
    assert md.index("## Summary") < md.index("## Candidates") < md.index("## Latency")
    assert re.search(r"\*\*Ship \S+ \(.+\): [\d.]+ ms median inference \(95 % CI", md)
    assert "| model | architecture | width α | input | parameters | MACs | test accuracy |" in md
    assert "| model | file | runtime | median ms [95 % CI] | p90 ms | load ms | preprocess ms |" in md
    assert "Pareto set" in md and "![" in md and "plots/latency.png" in md
    assert "convbench run " in md and "## Environment and reproduction" in md


def test_html_is_one_self_contained_file(study):
    html = (study.out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)  # nothing loaded from elsewhere
    assert html.count('src="data:image/png;base64,') == 4
    assert "<table>" in html and "Candidates" in html and 'class="callout"' in html


def test_results_go_to_history(study):
    rows = history(study="small", path=study.out.parent / "history.sqlite")
    assert len(rows) == 6 and {r["arch"] for r in rows} == {"mobilenet_v2", "alexnet_separable"}


def _lat(model, median, accuracy, size=1000, spread=0.01, runtime="litert", threads=1):
    """A timed configuration: 200 samples within ±spread of ``median`` (ms), its row built from them."""
    samples_s = 1e-3 * median * (1 + spread * np.linspace(-1, 1, 200))
    inference = Measurement(TaskSpec(model, runtime, "inference", threads), samples_s)
    row = {"model": model, "format": "tflite", "quantize": "none", "runtime": runtime, "threads": threads,
           "median_ms": 1e3 * inference.median, "ci95_low_ms": 1e3 * inference.ci95.low,
           "ci95_high_ms": 1e3 * inference.ci95.high, "p90_ms": 1e3 * inference.p90, "accuracy": accuracy,
           "size_bytes": size}
    return LatencyCandidate(row, inference)


def test_recommend_fastest_above_floor_smallest_and_pareto():
    rows = [_lat("fast_bad", 0.5, 0.80), _lat("fast_good", 1.0, 0.96, size=5000), _lat("slow_best", 2.0, 0.99, 900),
            _lat("slow_worse", 3.0, 0.95)]
    rec = recommend(rows, accuracy_floor=0.95)
    assert rec["fastest"]["model"] == "fast_good" and rec["runner_up"]["model"] == "slow_best"
    assert rec["significant"] is True and rec["smallest"]["model"] == "slow_best"
    assert [r["model"] for r in rec["pareto"]] == ["fast_bad", "fast_good", "slow_best"]
    assert rec["sentence"].startswith("Ship fast_good (LiteRT float32, 1 thread): 1 ms median inference")
    assert "clearly ahead of the runner-up slow_best" in rec["sentence"]


def test_recommend_edge_cases():
    rows = [_lat("a", 1.0, 0.9, spread=0.8), _lat("b", 1.1, 0.92, spread=0.8)]
    assert "not clearly ahead" in recommend(rows, accuracy_floor=0.5)["sentence"]
    assert recommend(rows, accuracy_floor=0.99)["sentence"].startswith("No configuration reaches the 99.0 %")
    only = recommend([*rows, _lat("c", 0.1, 0.99, runtime="onnxruntime")], runtime="litert")
    assert only["fastest"]["model"] == "a"
    assert recommend([])["fastest"] is None


def test_recommend_uses_the_significance_rule_of_compare():
    """The verdict on fastest vs runner-up is compare's pair test (Mann–Whitney and disjoint CIs), not CIs alone."""
    for spread in (0.01, 0.05, 0.1, 0.2, 0.4):
        fast, slow = _lat("fast", 1.0, 0.95, spread=spread), _lat("slow", 1.05, 0.95, spread=spread)
        verdict = pair_test("fast", fast.inference, "slow", slow.inference)
        assert recommend([fast, slow])["significant"] is verdict.significant


def test_early_exit_study_report(tmp_path, fake_steps):
    toml = tmp_path / "ee.toml"
    toml.write_text(EARLY_EXIT_TOML)
    study = run(toml, out=tmp_path / "out", progress=False)
    assert [s.kind for s in study.plan] == ["early_exit_train", "early_exit_export", "early_exit_eval",
                                            "early_exit_eval", "early_exit_sweep"]
    assert fake_steps.calls["early_exit_eval"] == ["early_exit_vgg19_0.25_block1 single 1t",
                                                   "early_exit_vgg19_0.25_block1 chained 1t"]
    assert fake_steps.calls["early_exit_sweep"] == ["early_exit_vgg19_0.25_block1 single 1t"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| model | redundancy % | loss | accuracy | exit accuracy | total time (s) | per-image time (ms) |" in md
    assert "| early exit | 57.0 | 0.0500 | 99.4 % | 99.7 % | 0.220 | 2.200 |" in md
    assert "45.0 % less time (analytic ideal 50.0 %, 0.90 of it)" in md
    assert md.count("_time_vs_redundancy.png") == 1 and md.count("_accuracy_vs_threshold.png") == 1
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "results.csv").read_text())))
    assert [(r["variant"], r["form"]) for r in rows] == [("baseline", "single"), ("early exit", "single"),
                                                          ("baseline", "chained"), ("early exit", "chained")]
    assert len(history(study="ee")) == 4


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_PROBE = ("<script>addEventListener('load', () => document.body.insertAdjacentHTML('beforeend', '<pre id=\"probe\">' + "
          "[...document.images].map(i => i.naturalWidth + 'x' + i.naturalHeight).join(' ') + '|' + "
          "Math.max(0, ...[...document.querySelectorAll('.scroll')].map(d => d.scrollWidth - d.clientWidth)) + "
          "'</pre>'));</script></body>")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package: chromium)")
def test_html_renders_in_headless_chromium(study, tmp_path):
    """Every embedded plot decodes in a real browser, and no table needs scrolling sideways in a 1280 px window."""
    page = tmp_path / "probe.html"
    page.write_text((study.out / "report.html").read_text().replace("</body>", _PROBE), encoding="utf-8")
    shown = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900", "--virtual-time-budget=10000",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    probe = re.findall(r'<pre id="probe">([^<]*)</pre>', shown.stdout)  # the last: the script's text holds one too
    assert probe, shown.stderr[-2000:]
    images, overflow = probe[-1].split("|")
    sizes = [tuple(map(int, s.split("x"))) for s in images.split()]
    assert len(sizes) == 4 and all(w > 200 and h > 200 for w, h in sizes), sizes
    assert int(overflow) == 0
