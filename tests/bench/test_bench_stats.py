"""Statistics against samples worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from convbench.bench import stats

ONE_TO_TEN = [7.0, 3.0, 10.0, 1.0, 5.0, 9.0, 2.0, 8.0, 4.0, 6.0]  # 1..10 shuffled


def test_percentiles_linear_interpolation():
    # positions (n-1)·q: p90 → 8.1 → 9 + 0.1; p25 → 2.25 → 3.25; p75 → 6.75 → 7.75
    assert stats.percentile(ONE_TO_TEN, 50) == 5.5
    assert stats.percentile(ONE_TO_TEN, 90) == pytest.approx(9.1)
    assert stats.percentile(ONE_TO_TEN, 99) == pytest.approx(9.91)
    assert stats.percentile(ONE_TO_TEN, 25) == pytest.approx(3.25)
    assert stats.percentile(ONE_TO_TEN, 75) == pytest.approx(7.75)


@pytest.mark.parametrize(("n", "ranks", "coverage"), [
    (10, (2, 9), 1 - 2 * 11 / 1024),   # P(B<=1) = (1 + 10) / 2^10
    (5, (1, 5), 1 - 2 / 32),           # no rank reaches 95 %: [min, max], coverage 93.75 %
    (6, (1, 6), 1 - 2 / 64),           # first n where [min, max] reaches 95 %
    (100, (40, 61), None),             # the textbook ranks for n = 100
])
def test_median_ci_ranks(n, ranks, coverage):
    low, high, cov = stats.median_ci_ranks(n)
    assert (low, high) == ranks
    assert cov >= 0.95 or n < 6
    if coverage is not None:
        assert cov == pytest.approx(coverage)


def test_median_ci_bounds_of_known_sample():
    ci = stats.median_ci(ONE_TO_TEN)
    assert (ci.low, ci.high) == (2.0, 9.0)
    assert ci.coverage == pytest.approx(0.978515625)
    big = stats.median_ci(np.arange(1, 101, dtype=float)[::-1])
    assert (big.low, big.high) == (40.0, 61.0)


def test_median_ci_needs_samples():
    with pytest.raises(ValueError, match="n=0"):
        stats.median_ci_ranks(0)


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0014237, "1.42 ms"), (2.5e-6, "2.50 µs"), (3.0, "3.00 s"), (4.2e-8, "42.0 ns"), (123.4e-3, "123 ms"),
])
def test_format_time_auto_unit(seconds, text):
    assert stats.format_time(seconds) == text


def test_format_time_fixed_unit_and_nan():
    assert stats.format_time(0.0005, "ms") == "0.500 ms"
    assert stats.format_time(math.nan) == "nan"
