"""What was timed (:class:`TaskSpec`) and what was observed (:class:`Measurement`).

Modelled on ``torch.utils.benchmark``'s ``TaskSpec``/``Measurement``: a Measurement stores only raw
per-call times plus a frozen spec and free-form metadata; every statistic is derived lazily, so a
Measurement read back from JSON gives exactly the same figures.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from convbench.bench import stats


@dataclass(frozen=True)
class TaskSpec:
    """What a measurement timed; ``Measurement.merge`` pools replicates whose specs are equal.

    Attributes:
        label: what is timed, e.g. the model (groups tables).
        sub_label: a variant, e.g. ``litert t1`` (rows).
        description: e.g. the phase (columns).
        num_threads: threads the timed code was allowed to use.
        env: a free-form tag that keeps results from different environments apart.
    """

    label: str = ""
    sub_label: str = ""
    description: str = ""
    num_threads: int = 1
    env: str | None = None

    @property
    def title(self) -> str:
        """``label: sub_label / description`` (empty parts left out)."""
        rest = " / ".join(p for p in (self.sub_label, self.description) if p)
        if self.label and rest:
            return f"{self.label}: {rest}"
        return self.label or rest or "(unlabelled)"


@dataclass
class Measurement:
    """Per-call times in **seconds** of one timed task, with statistics computed on first use.

    Attributes:
        spec: what was timed.
        times_s: one entry per timed sample, already divided by ``number_per_run`` (seconds per call).
        number_per_run: calls per timed sample (1 for per-call timing; >1 only from ``blocked_autorange``).
        metadata: anything else worth keeping (warm-up counts, wall time, the clock, …).

    ``m.label`` etc. forward to ``m.spec``. Statistics: ``n, min, max, mean, std, median, p25, p75,
    p90, p99, iqr, iqr_ratio, ci95`` (a :class:`~convbench.bench.stats.MedianCI`), ``unstable``.
    """

    spec: TaskSpec
    times_s: Sequence[float]
    number_per_run: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.times_s = tuple(float(t) for t in self.times_s)
        if not self.times_s:
            raise ValueError(f"measurement {self.spec.title!r} holds no samples")

    @classmethod
    def from_ns(cls, spec: TaskSpec, times_ns: Iterable[int], number_per_run: int = 1,
                metadata: dict[str, Any] | None = None) -> Measurement:
        """Build from raw integer nanosecond readings of ``number_per_run`` calls each."""
        scale = 1e-9 / number_per_run
        return cls(spec, [t * scale for t in times_ns], number_per_run, dict(metadata or {}))

    def __getattr__(self, name: str) -> Any:
        # forward TaskSpec fields (m.label …); guard so copy/pickle never recurse before `spec` exists
        if name != "spec" and not name.startswith("__") and "spec" in self.__dict__:
            return getattr(self.__dict__["spec"], name)
        raise AttributeError(name)

    # -- statistics (lazy) --------------------------------------------------------------------------
    @functools.cached_property
    def _array(self) -> np.ndarray:
        return np.asarray(self.times_s, dtype=np.float64)

    @property
    def n(self) -> int:
        return len(self.times_s)

    @functools.cached_property
    def min(self) -> float:
        return float(self._array.min())

    @functools.cached_property
    def max(self) -> float:
        return float(self._array.max())

    @functools.cached_property
    def mean(self) -> float:
        return float(self._array.mean())

    @functools.cached_property
    def std(self) -> float:
        """Sample standard deviation (ddof=1); 0 for a single sample."""
        return float(self._array.std(ddof=1)) if self.n > 1 else 0.0

    @functools.cached_property
    def median(self) -> float:
        return float(np.median(self._array))

    @functools.cached_property
    def p25(self) -> float:
        return stats.percentile(self._array, 25)

    @functools.cached_property
    def p75(self) -> float:
        return stats.percentile(self._array, 75)

    @functools.cached_property
    def p90(self) -> float:
        return stats.percentile(self._array, 90)

    @functools.cached_property
    def p99(self) -> float:
        return stats.percentile(self._array, 99)

    @property
    def iqr(self) -> float:
        return self.p75 - self.p25

    @property
    def iqr_ratio(self) -> float:
        """IQR/median: the relative spread that decides :attr:`unstable`."""
        return self.iqr / self.median if self.median > 0 else float("inf")

    @functools.cached_property
    def ci95(self) -> stats.MedianCI:
        """95 % order-statistic confidence interval of the median.

        For pooled replicates (rounds, see :meth:`merge`) it is the wider of the interval over every call
        and the interval over the replicates' medians: consecutive calls are autocorrelated, so thousands of
        them give a narrow interval that a second run of the same measurement does not reproduce; the
        replicates' medians are the independent draws, and their spread is the one a reader should see.
        """
        calls = stats.median_ci(self._array, 0.95)
        medians = self.replicate_medians
        if len(medians) < 2:
            return calls
        rounds = stats.median_ci(medians, 0.95)
        if rounds.low >= calls.low and rounds.high <= calls.high:
            return calls
        return stats.MedianCI(min(calls.low, rounds.low), max(calls.high, rounds.high), rounds.rank_low,
                              rounds.rank_high, rounds.coverage)

    @property
    def replicate_medians(self) -> list[float]:
        """The medians of the replicates pooled into this Measurement (empty when it is one run)."""
        return list(self.metadata.get("replicate_medians", ()))

    @property
    def replicate_spread(self) -> float | None:
        """(largest − smallest) replicate median / the median of them; ``None`` without replicates."""
        medians = self.replicate_medians
        return (max(medians) - min(medians)) / float(np.median(medians)) if len(medians) >= 2 else None

    @property
    def replicates_disagree(self) -> bool:
        """True when the replicates' medians spread by more than
        :data:`~convbench.bench.stats.REPLICATE_SPREAD_LIMIT` (5 %): the machine drifted while it ran."""
        spread = self.replicate_spread
        return spread is not None and spread > stats.REPLICATE_SPREAD_LIMIT

    @property
    def unstable(self) -> bool:
        """True when IQR/median exceeds :data:`~convbench.bench.stats.UNSTABLE_IQR_RATIO` (10 %)."""
        return self.iqr_ratio > stats.UNSTABLE_IQR_RATIO

    def summary(self) -> dict[str, Any]:
        """Every statistic, in seconds, as a flat JSON-ready dict."""
        ci = self.ci95
        return {"n": self.n, "min": self.min, "max": self.max, "mean": self.mean, "std": self.std,
                "median": self.median, "p25": self.p25, "p75": self.p75, "p90": self.p90, "p99": self.p99,
                "iqr": self.iqr, "iqr_ratio": self.iqr_ratio, "ci95": [ci.low, ci.high],
                "ci95_coverage": ci.coverage, "unstable": self.unstable,
                **({"replicate_spread": self.replicate_spread, "replicates_disagree": self.replicates_disagree}
                   if self.replicate_spread is not None else {})}

    # -- replicates ---------------------------------------------------------------------------------
    @staticmethod
    def merge(measurements: Iterable[Measurement]) -> list[Measurement]:
        """Pool replicates: one Measurement per distinct spec, holding all their samples (in order).

        The pooled metadata keeps the keys the replicates agree on, plus ``replicates`` (how many were
        pooled) and ``replicate_medians`` (to show drift between them).
        """
        groups: dict[TaskSpec, list[Measurement]] = defaultdict(list)
        for m in measurements:
            if not isinstance(m, Measurement):
                raise TypeError(f"merge expects Measurement objects, got {type(m).__name__}")
            groups[m.spec].append(m)
        merged = []
        for spec, group in groups.items():
            per_run = {m.number_per_run for m in group}
            common = {k: v for k, v in group[0].metadata.items() if all(m.metadata.get(k) == v for m in group)}
            merged.append(Measurement(spec, [t for m in group for t in m.times_s],
                                      per_run.pop() if len(per_run) == 1 else 1,
                                      {**common, "replicates": len(group),
                                       "replicate_medians": [m.median for m in group]}))
        return merged

    # -- serialisation ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: spec, raw samples (seconds), metadata, and the statistics for readers of the file."""
        return {"spec": asdict(self.spec), "unit": "s", "times_s": list(self.times_s),
                "number_per_run": self.number_per_run, "metadata": self.metadata, "stats": self.summary()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Measurement:
        """Inverse of :meth:`to_dict` (statistics are recomputed from the raw samples)."""
        if d.get("unit", "s") != "s":
            raise ValueError(f"measurement times must be in seconds, got unit={d.get('unit')!r}")
        return cls(TaskSpec(**d["spec"]), d["times_s"], int(d.get("number_per_run", 1)), dict(d.get("metadata", {})))

    def __repr__(self) -> str:
        """Like::

            <Measurement mobilenet_v2: litert t1 / inference>
              median 1.42 ms, IQR 0.031 ms (2.2 %), 95 % CI [1.41 ms, 1.43 ms]
              712 samples of 1 call
        """
        unit, _ = stats.select_unit(self.median)
        ci = self.ci95
        warn = f"\n  WARNING: unstable, IQR/median {self.iqr_ratio:.1%} > {stats.UNSTABLE_IQR_RATIO:.0%}" \
            if self.unstable else ""
        calls = "call" if self.number_per_run == 1 else "calls"
        return (f"<Measurement {self.spec.title}>\n"
                f"  median {stats.format_time(self.median, unit)}, IQR {stats.format_time(self.iqr, unit)}"
                f" ({self.iqr_ratio:.1%}), 95 % CI [{stats.format_time(ci.low, unit)},"
                f" {stats.format_time(ci.high, unit)}]\n"
                f"  {self.n} samples of {self.number_per_run} {calls}{warn}")
