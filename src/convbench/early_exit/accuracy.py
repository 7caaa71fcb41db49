"""Paired accuracy of an early-exit network against its baseline: the difference, its confidence interval and
McNemar's test, per seed and pooled over seeds.

Paired, because both models are scored on the same test images (same data, same budget, same seed): the
difference is then measured image by image, and only the images on which the two disagree carry information.

- **Confidence interval of the difference**: percentile bootstrap over test images (each resample draws images
  with replacement and keeps both models' outcomes on each image together). Pooled over seeds the bootstrap is
  stratified: every seed's test set is resampled on its own, and the statistic is the mean of the per-seed
  differences (each seed is one training run: the seeds are the replicates, the images the within-run noise).
- **McNemar's exact test**: of the ``b + c`` images exactly one model gets right, how likely a split at least as
  uneven as ``b : c`` is when both models are equally accurate (two-sided binomial test at p = ½). Reported per
  seed; the seeds share most of their test images, so their counts are not independent and are not pooled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest

from convbench.checks import integer_in
from convbench.errors import ConfigError

BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class PairedComparison:
    """Early exit (``a``) against baseline (``b``) on the same images.

    Attributes:
        images: test images (summed over seeds when pooled).
        accuracy_a, accuracy_b: each model's accuracy (the mean over seeds when pooled).
        difference: ``accuracy_a − accuracy_b``.
        ci_low, ci_high: the bootstrap confidence interval of the difference at ``confidence``.
        only_a, only_b: images only ``a`` / only ``b`` gets right (summed over seeds when pooled).
        mcnemar_p: McNemar's exact two-sided p-value; ``None`` when pooled (see the module docstring).
        seeds: how many seeds (training runs) it covers.
    """

    images: int
    accuracy_a: float
    accuracy_b: float
    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    resamples: int
    only_a: int
    only_b: int
    mcnemar_p: float | None
    seeds: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_comparison(correct_a: np.ndarray, correct_b: np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES,
                      confidence: float = CONFIDENCE, seed: int = 0) -> PairedComparison:
    """Compare two models' per-image outcomes (boolean ``(N,)`` each, same images in the same order)."""
    a, b = _check(correct_a, correct_b)
    diffs = _bootstrap([(a, b)], resamples, seed)
    low, high = _interval(diffs, confidence)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return PairedComparison(len(a), float(a.mean()), float(b.mean()), float(a.mean() - b.mean()), low, high,
                            confidence, resamples, only_a, only_b, float(p))


def pooled_comparison(runs: Sequence[tuple[np.ndarray, np.ndarray]], *, resamples: int = BOOTSTRAP_RESAMPLES,
                      confidence: float = CONFIDENCE, seed: int = 0) -> PairedComparison:
    """The mean over seeds of the per-seed differences, with a bootstrap stratified by seed (module docstring).

    ``runs``: one ``(correct_a, correct_b)`` pair per seed; the seeds' test sets may differ in size.
    """
    if not runs:
        raise ConfigError("pooled_comparison needs at least one seed's outcomes")
    checked = [_check(a, b) for a, b in runs]
    diffs = _bootstrap(checked, resamples, seed)
    low, high = _interval(diffs, confidence)
    acc_a = float(np.mean([a.mean() for a, _ in checked]))
    acc_b = float(np.mean([b.mean() for _, b in checked]))
    return PairedComparison(sum(len(a) for a, _ in checked), acc_a, acc_b, acc_a - acc_b, low, high, confidence,
                            resamples, sum(int(np.sum(a & ~b)) for a, b in checked),
                            sum(int(np.sum(~a & b)) for a, b in checked), None, len(checked))


def _check(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.ndim != 1 or a.shape != b.shape or not len(a):
        raise ConfigError(f"paired outcomes must be two non-empty (N,) arrays of the same images, got shapes "
                          f"{a.shape} and {b.shape}")
    return a, b


def _bootstrap(runs: Sequence[tuple[np.ndarray, np.ndarray]], resamples: int, seed: int) -> np.ndarray:
    """``resamples`` draws of the mean over runs of each run's resampled accuracy difference."""
    integer_in("resamples", resamples, 1)
    rng = np.random.default_rng(seed)
    total = np.zeros(resamples)
    for a, b in runs:
        d = a.astype(np.int8) - b.astype(np.int8)  # per image: +1 only a right, -1 only b right, 0 agree
        # the resampled mean of d, drawn as counts: multinomial over the three outcomes (exact, no N x R matrix)
        counts = rng.multinomial(len(d), [np.mean(d == 1), np.mean(d == -1), np.mean(d == 0)], size=resamples)
        total += (counts[:, 0] - counts[:, 1]) / len(d)
    return total / len(runs)


def _interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got confidence={confidence!r}")
    tail = (1 - confidence) / 2
    return float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail))
