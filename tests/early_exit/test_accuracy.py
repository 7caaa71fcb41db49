"""Paired accuracy comparison (early_exit.accuracy): the difference, its bootstrap interval, McNemar's test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from convbench.early_exit.accuracy import paired_comparison, pooled_comparison
from convbench.errors import ConfigError


def _outcomes(only_a: int, only_b: int, both: int, neither: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1] * only_a + [0] * only_b + [1] * both + [0] * neither, bool)
    b = np.array([0] * only_a + [1] * only_b + [1] * both + [0] * neither, bool)
    order = np.random.default_rng(seed).permutation(len(a))
    return a[order], b[order]


def test_identical_outcomes_differ_by_nothing():
    a, _ = _outcomes(0, 0, 90, 10)
    result = paired_comparison(a, a.copy())
    assert (result.difference, result.ci_low, result.ci_high, result.mcnemar_p) == (0, 0, 0, 1.0)
    assert (result.only_a, result.only_b, result.images) == (0, 0, 100)


def test_interval_and_mcnemar_from_the_discordant_images():
    a, b = _outcomes(30, 10, 900, 60)
    result = paired_comparison(a, b, resamples=4000)
    assert result.difference == pytest.approx(0.02)
    assert (result.accuracy_a, result.accuracy_b) == (pytest.approx(0.93), pytest.approx(0.91))
    assert result.mcnemar_p == pytest.approx(binomtest(30, 40, 0.5).pvalue)
    # the normal approximation of a paired difference: sd of d / sqrt(N)
    d = a.astype(int) - b.astype(int)
    half = 1.96 * d.std() / np.sqrt(len(d))
    assert result.ci_low == pytest.approx(0.02 - half, abs=0.002)
    assert result.ci_high == pytest.approx(0.02 + half, abs=0.002)
    assert 0 < result.ci_low < 0.02 < result.ci_high
    assert paired_comparison(b, a, resamples=4000).difference == pytest.approx(-0.02)


def test_pooled_over_seeds_is_the_mean_difference_stratified_by_seed():
    first, second = _outcomes(30, 10, 900, 60), _outcomes(10, 10, 500, 80, seed=1)
    pooled = pooled_comparison([first, second], resamples=4000)
    assert pooled.difference == pytest.approx((0.02 + 0.0) / 2)
    assert (pooled.seeds, pooled.images, pooled.only_a, pooled.only_b) == (2, 1600, 40, 20)
    assert pooled.mcnemar_p is None  # the seeds share their images: no pooled test
    assert pooled.ci_low < pooled.difference < pooled.ci_high
    single = paired_comparison(*first, resamples=4000)
    assert pooled.ci_high - pooled.ci_low < single.ci_high - single.ci_low + 0.01


def test_bad_outcomes_are_one_line_errors():
    with pytest.raises(ConfigError, match="same images"):
        paired_comparison(np.ones(3, bool), np.ones(4, bool))
    with pytest.raises(ConfigError, match="at least one seed"):
        pooled_comparison([])
    with pytest.raises(ConfigError, match="resamples"):
        paired_comparison(np.ones(3, bool), np.ones(3, bool), resamples=0)
