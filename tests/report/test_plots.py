"""Trade-off scatters: which points get a label, and the fill encoding's limits."""

from __future__ import annotations

import pytest

from convbench.report import plots


def _capture_labelled(monkeypatch):
    seen: dict[str, list[int]] = {}
    real = plots.annotate_without_overlap

    def spy(ax, xs, ys, labels, *, order=None, **kwargs):
        seen["order"] = list(order)
        return real(ax, xs, ys, labels, order=order, **kwargs)

    monkeypatch.setattr(plots, "annotate_without_overlap", spy)
    return seen


def test_crowded_scatter_labels_only_the_pareto_front(tmp_path, monkeypatch):
    seen = _capture_labelled(monkeypatch)
    n = plots.LABEL_ALL + 8
    xs = [float(i + 1) for i in range(n)]
    ys = [float((i * 7) % n) for i in range(n)]
    path = plots.tradeoff_scatter(xs, ys, [f"p{i}" for i in range(n)], tmp_path / "s.png", xlabel="x (ms)",
                                  ylabel="y (%)", groups=["a", "b"] * (n // 2), markers=["m"] * n,
                                  fills=["1 thread", "2+ threads"] * (n // 2))
    assert path.stat().st_size > 0
    assert sorted(seen["order"]) == sorted(plots.pareto_front(xs, ys)) and len(seen["order"]) < n


def test_small_scatter_labels_every_point_front_first(tmp_path, monkeypatch):
    seen = _capture_labelled(monkeypatch)
    xs, ys = [3.0, 1.0, 2.0], [1.0, 0.5, 2.0]
    plots.tradeoff_scatter(xs, ys, ["a", "b", "c"], tmp_path / "s.png", xlabel="x", ylabel="y")
    front = plots.pareto_front(xs, ys)
    assert seen["order"][:len(front)] == front and sorted(seen["order"]) == [0, 1, 2]


def test_more_than_two_fill_categories_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fills: at most two"):
        plots.tradeoff_scatter([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], ["a", "b", "c"], tmp_path / "s.png", xlabel="x",
                               ylabel="y", fills=["t1", "t2", "t4"])
