"""compare() on synthetic results: table, significance statements, CSV/Markdown/PNG files, label placement."""

from __future__ import annotations

import csv
import itertools

import pytest
from bench.standin import synthetic_result
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from convbench.errors import ConfigError, DataError
from convbench.report import plots
from convbench.report.compare import compare


@pytest.fixture(scope="module")
def results():
    return [synthetic_result("slow", 2e-3, seed=1, size_bytes=50_000, accuracy=0.95, run="one"),
            synthetic_result("fast", 1e-3, seed=2, size_bytes=200_000, accuracy=0.90, run="one"),
            synthetic_result("fast_twin", 1e-3, seed=3, size_bytes=210_000, accuracy=None, run="one")]


def test_table_is_ranked_by_median(results):
    c = compare(results)
    assert [r["model"] for r in c.rows] == ["fast none litert t1", "fast_twin none litert t1", "slow none litert t1"]
    assert c.rows[0]["rank"] == 1 and c.rows[0]["median_ms"] == pytest.approx(1e3 * results[1].inference.median)
    assert c.rows[0]["ci95_low_ms"] <= c.rows[0]["median_ms"] <= c.rows[0]["ci95_high_ms"]
    assert len(c.pairs) == 3 and len(c.ranking()) == 2


def test_verdicts_clearly_different_and_identical(results):
    pairs = {(p.faster.split()[0], p.slower.split()[0]): p for p in compare(results).pairs}
    different = pairs[("fast", "slow")]
    assert different.clear and different.p_value < 0.05 / 2 and different.ratio == pytest.approx(2.0, rel=0.05)
    assert "fast none litert t1 is clearly ahead of slow none litert t1: +99" in different.statement
    assert "over 10 interleaved rounds, Wilcoxon p = 0.002" in different.statement
    twins = pairs.get(("fast", "fast_twin")) or pairs[("fast_twin", "fast")]
    assert not twins.clear and "no clear winner at this machine's noise" in twins.statement


def test_results_from_separate_runs_are_not_compared():
    separate = [synthetic_result("slow", 2e-3, seed=1, run="one"), synthetic_result("fast", 1e-3, seed=2, run="two")]
    (pair,) = compare(separate).pairs
    assert not pair.clear and "not compared" in pair.statement and "separate runs" in pair.statement


def test_a_busy_machine_is_said_first_and_decides_nothing(tmp_path):
    busy = [synthetic_result(name, median, seed=i, run="one", busy=True)
            for i, (name, median) in enumerate((("slow", 2e-3), ("fast", 1e-3)))]
    c = compare(busy, out=tmp_path / "cmp")
    assert c.busy and not c.pairs[0].clear and "machine was busy" in c.pairs[0].statement
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert md.splitlines()[2].startswith("**The machine was busy while timing: other processes used 0.97 of 2 cores")


def test_files_written(results, tmp_path):
    c = compare(results, out=tmp_path / "cmp")
    names = sorted(p.name for p in (tmp_path / "cmp").iterdir())
    assert names == ["accuracy_vs_latency.png", "comparison.csv", "comparison.md", "latency_distribution.png",
                     "pairs.csv", "size_vs_latency.png"]
    rows = list(csv.DictReader((tmp_path / "cmp" / "comparison.csv").open()))
    assert len(rows) == 3 and {"median_ms", "ci95_low_ms", "p90_ms", "size_bytes", "params", "accuracy"} <= set(rows[0])
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "| 1 | fast none litert t1 |" in md and "clearly ahead" in md and "![accuracy_vs_latency]" in md
    for png in ("latency_distribution", "accuracy_vs_latency", "size_vs_latency"):
        assert c.files[png].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_reads_json_paths(results, tmp_path):
    paths = [r.save(tmp_path / f"r{i}.json") for i, r in enumerate(results)]
    assert len(compare(paths).rows) == 3


def test_compare_bad_inputs(tmp_path):
    with pytest.raises(ConfigError, match="at least one"):
        compare([])
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(DataError, match=r"x\.json"):
        compare([tmp_path / "x.json"])


def test_pareto_front():
    # (latency, accuracy): b dominates a; c is slower but more accurate; d is dominated by c
    xs, ys = [2.0, 1.0, 3.0, 4.0], [0.8, 0.85, 0.95, 0.9]
    assert plots.pareto_front(xs, ys) == [1, 2]
    assert plots.pareto_front(xs, [10, 30, 5, 1], maximize_y=False) == [1, 0, 2, 3]  # size falls as latency rises
    assert plots.pareto_front(xs, [10, 30, 15, 1], maximize_y=False) == [1, 0, 3]


@pytest.mark.parametrize("spacing", [0.01, 0.0])  # a tight cluster; all points at one spot
def test_labels_never_overlap(spacing):
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = [1.0 + spacing * k for k in range(12)]
    ys = [0.9 + spacing * k / 10 for k in range(12)]
    ax.scatter(xs, ys)
    ax.margins(0.3)
    texts, unplaced = plots.annotate_without_overlap(ax, xs, ys, [f"model number {k} long label" for k in range(12)])
    renderer = fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(t, renderer) for t in texts]  # the text alone, without its leader line
    assert all(not a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    if spacing == 0:
        assert unplaced  # 12 labels cannot all sit beside one spot: the rest become numbered keys


def test_violin_plot(tmp_path):
    out = plots.latency_distribution({"a": [1e-3, 1.1e-3, 0.9e-3, 1e-3], "b": [2e-3, 2.2e-3, 2.1e-3, 1.9e-3]},
                                     tmp_path / "v.png", kind="violin")
    assert out.stat().st_size > 1000
