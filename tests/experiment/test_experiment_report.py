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
from support import latency_row

from convbench.bench import Measurement, TaskSpec
from convbench.bench.machine_load import MACHINE_KEY, MachineLoad
from convbench.bench.rounds import INTERLEAVING_KEY
from convbench.bench.verdict import verdict
from convbench.experiment import history, run
from convbench.report.document import Table
from convbench.report.early_exit_section import early_exit_sections
from convbench.report.records import EarlyExitEntry
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
    assert re.search(r"Ship \S+ \(.+\): [\d.]+ ms median inference \(95 % CI", md)
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


def _lat(model, median, accuracy, size=1000, noise=0.005, runtime="litert", threads=1, run="run-1", busy=False,
         flips=False):
    """A timed configuration of the interleaved run ``run``: 10 rounds sharing that run's drift (±40 %), each
    round's median ``median`` ms with its own ``noise``; ``flips``: alternate rounds 8 % faster and 8 % slower."""
    rng = np.random.default_rng(sum(model.encode()))
    drift = np.random.default_rng(sum(run.encode())).uniform(0.6, 1.4, 10)
    wobble = np.where(np.arange(10) % 2 == 0, 1.08, 1 / 1.08) if flips else 1.0
    rounds = [Measurement(TaskSpec(model, runtime, "inference", threads),
                          1e-3 * median * d * w * rng.lognormal(0, noise) * (1 + 0.01 * np.linspace(-1, 1, 20)))
              for d, w in zip(drift, np.broadcast_to(wobble, 10), strict=True)]
    inference = Measurement.merge(rounds)[0]
    inference.metadata.update({INTERLEAVING_KEY: run,
                               MACHINE_KEY: MachineLoad((0.1, 0.2), 0.97 if busy else 0.01, 10.0, 2).to_dict()})
    row = latency_row(model=model, runtime=runtime, threads=threads, median_ms=1e3 * inference.median,
                      ci95_low_ms=1e3 * inference.ci95.low, ci95_high_ms=1e3 * inference.ci95.high,
                      p90_ms=1e3 * inference.p90, accuracy=accuracy, size_bytes=size)
    return LatencyCandidate(row, inference)


def test_recommend_fastest_above_floor_smallest_and_pareto():
    rows = [_lat("fast_bad", 0.5, 0.80), _lat("fast_good", 1.0, 0.96, size=5000), _lat("slow_best", 2.0, 0.99, 900),
            _lat("slow_worse", 3.0, 0.95)]
    rec = recommend(rows, accuracy_floor=0.95)
    assert rec.fastest.model == "fast_good" and rec.runner_up.model == "slow_best"
    assert rec.clear is True and rec.shipped.model == "fast_good" and rec.picked_by == "latency"
    assert rec.smallest.model == "slow_best"
    assert [r.model for r in rec.pareto] == ["fast_bad", "fast_good", "slow_best"]
    assert rec.sentence.startswith("Ship fast_good (LiteRT float32, 1 thread): ")
    assert "clearly ahead of the runner-up slow_best (LiteRT float32, 1 thread) (+100" in rec.sentence
    assert "over 10 interleaved rounds" in rec.sentence
    answer = rec.to_dict()  # as results.json holds it: rows as dicts, in the order they always had
    assert list(answer) == ["accuracy_floor", "candidates", "shipped", "picked_by", "clear", "tied", "busy",
                            "verdicts", "fastest", "runner_up", "smallest", "pareto", "sentence"]
    assert answer["shipped"]["model"] == "fast_good" and answer["verdicts"][0]["faster"].startswith("fast_good")


def test_recommend_without_a_clear_winner_picks_by_size_then_accuracy():
    a, b = _lat("a", 1.0, 0.9, size=3000), _lat("b", 1.0, 0.92, size=2000, flips=True)
    rec = recommend([a, b, _lat("c", 3.0, 0.95, size=100)], accuracy_floor=0.5)
    assert rec.clear is False and rec.shipped.model == "b" and rec.picked_by == "size"
    assert [r.model for r in rec.tied] == ["a", "b"] or [r.model for r in rec.tied] == ["b", "a"]
    assert rec.sentence.startswith("No clear winner at this machine's noise among the 2 fastest of 3 configurations")
    assert "Ship b (LiteRT float32, 1 thread), the smallest file (2.0 kB)" in rec.sentence
    same_size = recommend([_lat("a", 1.0, 0.9), _lat("b", 1.0, 0.92, flips=True)])
    assert same_size.shipped.model == "b" and same_size.picked_by == "accuracy"
    assert "the most accurate of the same size (92.0 %)" in same_size.sentence


def test_recommend_edge_cases():
    rows = [_lat("a", 1.0, 0.9), _lat("b", 1.1, 0.92)]
    assert recommend(rows, accuracy_floor=0.99).sentence.startswith("No configuration reaches the 99.0 %")
    only = recommend([*rows, _lat("c", 0.1, 0.99, runtime="onnxruntime")], runtime="litert")
    assert only.fastest.model == "a"
    assert recommend([]).fastest is None
    alone = recommend([rows[0]])
    assert alone.shipped.model == "a" and "the only one of the 1 configuration" in alone.sentence
    apart = recommend([_lat("a", 1.0, 0.9, run="one"), _lat("b", 2.0, 0.9, run="two")])
    assert apart.clear is False and "separate runs" in apart.sentence


def test_a_busy_machine_is_said_first_and_no_verdict_is_clear():
    rec = recommend([_lat("fast", 1.0, 0.95, busy=True), _lat("slow", 2.0, 0.95, busy=True, size=10)])
    assert rec.sentence.startswith("The machine was busy while timing (other processes used 0.97 of 2 cores")
    assert rec.clear is False and rec.shipped.model == "fast" and "clearly" not in rec.sentence


def test_recommend_uses_the_verdict_rule_of_compare():
    """The recommendation's verdict on fastest vs runner-up is compare's (paired rounds), not CIs of calls."""
    for noise in (0.001, 0.01, 0.03, 0.1):
        fast, slow = _lat("fast", 1.0, 0.95, noise=noise), _lat("slow", 1.05, 0.95, noise=noise)
        expected = verdict("fast", fast.inference, "slow", slow.inference)
        assert recommend([fast, slow]).clear is expected.clear


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
    assert "| model | redundancy % | loss | accuracy | exit accuracy (threshold 0.5) | total time (s) | " \
           "per-image time (ms) |" in md
    assert "| early exit | 57.0 | 0.0500 | 99.4 % | 99.7 % | 0.220 | 2.200 |" in md
    assert "45.0 % less time (analytic ideal 50.0 %, 0.90 of it)" in md
    assert md.count("_time_vs_redundancy.png") == 1 and md.count("_accuracy_vs_threshold.png") == 1
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "results.csv").read_text())))
    assert [(r["variant"], r["form"]) for r in rows] == [("baseline", "single"), ("early exit", "single"),
                                                          ("baseline", "chained"), ("early exit", "chained")]
    assert len(history(study="ee")) == 4


def test_each_early_exit_table_names_the_threshold_of_its_exit_accuracy(tmp_path, fake_steps):
    """Training scores the exit at the model's threshold, the evaluation at the study's (or the calibrated one):
    each table's "exit accuracy" says which, from the figures it shows."""
    toml = tmp_path / "ee.toml"
    toml.write_text(EARLY_EXIT_TOML + "threshold = 0.7\n")
    run(toml, out=tmp_path / "out", progress=False)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| model | redundancy % | loss | accuracy | exit accuracy (threshold 0.7) | total time (s) |" in md
    assert "| model | parameters | test accuracy | exit accuracy (threshold 0.5) |" in md  # the fake trains at 0.5

    ee = json.loads((tmp_path / "out" / "results.json").read_text())["early_exit"][0]
    calibration = {"goal": "max_false_exit", "target": 0.01, "threshold": 0.93, "split": "val", "images": 400,
                   "main_images": 200, "false_exit_rate": 0.01, "exit_rate": 0.5, "exit_recall": 0.97,
                   "sweep": [[0.5, 0.05, 0.55, 0.99], [0.93, 0.01, 0.5, 0.97]]}
    calibrated = {**ee, "threshold": 0.93, "training": {**ee["training"], "threshold": 0.93,
                                                         "calibration": calibration}}
    tables = [block for section in early_exit_sections([EarlyExitEntry.from_dict(calibrated)], tmp_path)
              for block in section.blocks if isinstance(block, Table)]
    assert tables[0].columns[4] == "exit accuracy (calibrated threshold 0.93)"  # the evaluation
    assert tables[1].columns[3] == "exit accuracy (calibrated threshold 0.93)"  # the training


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
