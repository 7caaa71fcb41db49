"""Summary statistics of latency samples, and time units for printing them.

Percentiles use linear interpolation between order statistics (numpy's default, Hyndman & Fan
type 7), so ``percentile([1, …, 10], 90) == 9.1``.

The 95 % confidence interval of the median is the distribution-free order-statistic interval:
with ``n`` independent samples, the number of samples below the true median is Binomial(n, ½),
so the interval ``[x(l), x(n+1-l)]`` between the l-th smallest and l-th largest sample covers the
median with probability ``1 - 2·P(B ≤ l-1)``. We take the largest ``l`` whose coverage is still
≥ 95 % (n = 10 → ranks 2 and 9, coverage 97.9 %; n = 100 → ranks 40 and 61, coverage 96.5 %).
Below n = 6 no rank reaches 95 %; the interval is then ``[min, max]`` and its smaller coverage is
reported. The interval assumes independent samples; consecutive timings are autocorrelated
(frequency scaling, caches, other processes), so treat it as a lower bound on the uncertainty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

UNSTABLE_IQR_RATIO = 0.10  # IQR/median above this flags a run as unstable (torch.utils.benchmark's threshold)
REPLICATE_SPREAD_LIMIT = 0.05  # replicate medians spreading more than this disagree (the repeatability target)

_UNITS = (("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0))


@dataclass(frozen=True)
class MedianCI:
    """A confidence interval of the median: bounds, the ranks they come from (1-based), achieved coverage."""

    low: float
    high: float
    rank_low: int
    rank_high: int
    coverage: float


def percentile(samples: Sequence[float] | np.ndarray, q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation."""
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q))


def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int, float]:
    """1-based ranks ``(l, n+1-l)`` of the order-statistic interval of the median, and its coverage.

    ``l`` is the largest rank with ``P(B ≤ l-1) ≤ (1-confidence)/2`` for ``B ~ Binomial(n, ½)``;
    when even ``l = 1`` falls short (n < 6 at 95 %) the ranks are ``(1, n)``.
    """
    if n < 1:
        raise ValueError(f"need at least one sample, got n={n}")
    from scipy.stats import binom  # lazy: ~0.8 s to import, not paid by the callers that only format times

    tail = (1.0 - confidence) / 2.0
    k = int(binom.ppf(tail, n, 0.5))  # smallest k with P(B ≤ k) ≥ tail
    rank = k + 1 if binom.cdf(k, n, 0.5) <= tail else k
    rank = max(rank, 1)
    coverage = 1.0 - 2.0 * float(binom.cdf(rank - 1, n, 0.5))
    return rank, n + 1 - rank, coverage


def median_ci(samples: Sequence[float] | np.ndarray, confidence: float = 0.95) -> MedianCI:
    """Distribution-free confidence interval of the median (see the module docstring)."""
    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    low, high, coverage = median_ci_ranks(len(ordered), confidence)
    return MedianCI(float(ordered[low - 1]), float(ordered[high - 1]), low, high, coverage)


def select_unit(seconds: float) -> tuple[str, float]:
    """The largest unit in which ``seconds`` is ≥ 1 (``("ms", 1e-3)`` for 0.0042), ns at the least."""
    chosen = _UNITS[0]
    for unit in _UNITS:
        if abs(seconds) >= unit[1]:
            chosen = unit
    return chosen


def format_time(seconds: float, unit: str | None = None, digits: int = 3) -> str:
    """``0.0014237`` → ``"1.42 ms"``: ``digits`` significant figures in ``unit`` (auto-chosen when None)."""
    if not math.isfinite(seconds):
        return str(seconds)
    name, scale = select_unit(seconds) if unit is None else (unit, dict(_UNITS)[unit])
    return f"{_sigfig(seconds / scale, digits)} {name}"


def _sigfig(value: float, digits: int) -> str:
    if value == 0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    return f"{value:.{decimals}f}"
