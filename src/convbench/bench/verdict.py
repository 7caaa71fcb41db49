"""Whether one timed configuration is really faster than another, decided on interleaved rounds.

The units are rounds, not calls. Thousands of calls from one stretch of time are not independent draws: they
share that stretch's machine state (frequency, caches, the hypervisor, a neighbour process), and on these VMs a
stretch's median moves 30-90 % from one round to the next. A Mann-Whitney test or a median CI over the calls
measures the noise of one stretch, so two runs of one study gave two opposite "clearly ahead" verdicts with
intervals a few microseconds wide (issue 29). :func:`convbench.bench.bench_interleaved` times every
configuration once per round in a shuffled order, within seconds of each other, so the drift that moves a round
moves both configurations alike and cancels in their ratio. Hence:

- the **estimate** is the median over rounds of ``r_i = median_slower,i / median_faster,i`` (each round's
  median, paired by round);
- its **95 % interval** is the order-statistic interval of that median (distribution-free, as
  :func:`convbench.bench.stats.median_ci`; at least :data:`MIN_ROUNDS` rounds reach 95 % coverage);
- the **test** is the Wilcoxon signed-rank test of ``log r_i`` against 0 (exact for these sizes; a paired test
  that uses the sign and the size of each round's difference);
- the faster one is **clearly ahead** only when the test gives ``p < threshold``, the whole interval lies above
  ``1 + NOISE_MARGIN``, and the machine was not busy (:class:`~convbench.bench.machine_load.MachineLoad`).
  Otherwise there is **no clear winner at this machine's noise**, and the statement says how close they are.

Configurations timed in separate runs cannot be paired: their medians come from different stretches (26-50 %
apart on these VMs), so no verdict is given for them; the statement says to time them together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from convbench.bench import stats
from convbench.bench.machine_load import MACHINE_KEY, MachineLoad
from convbench.bench.measurement import Measurement
from convbench.bench.rounds import INTERLEAVING_KEY

ALPHA = 0.05  # the false-positive rate of a verdict (family-wise where several pairs are tested)
MIN_ROUNDS = 6  # the fewest rounds whose order-statistic interval of the median reaches 95 % coverage
# A paired difference below 2 % is not called even when the rounds agree on it: two copies of one file, timed side
# by side in fresh processes, showed median per-round ratios up to 1.026 (benchmarks/results/verdict_stability.md),
# a difference of memory placement that does not survive a rerun.
NOISE_MARGIN = 0.02


@dataclass(frozen=True)
class Verdict:
    """``faster`` against ``slower``, on the rounds they were timed in together.

    Attributes:
        faster, slower: the names, the faster one (by the paired median ratio) first.
        median_faster_s, median_slower_s: the two medians over every call (for the table, not the decision).
        ratios: per round, ``slower``'s round median over ``faster``'s, in round order; empty when unpaired.
        threshold: the p-value below which a difference counts (already corrected for the pairs tested).
        p_value: the Wilcoxon signed-rank p-value of the log ratios; ``None`` when unpaired.
        ratio_ci: the 95 % order-statistic interval of the median ratio; ``None`` when unpaired.
        ratio_ci_coverage: what that interval achieves (below 0.95 with fewer than :data:`MIN_ROUNDS` rounds).
        machine: the run's machine load, when recorded.
        unpaired: why the rounds cannot be paired (``None`` when they are).
    """

    faster: str
    slower: str
    median_faster_s: float
    median_slower_s: float
    ratios: tuple[float, ...]
    threshold: float
    p_value: float | None = None
    ratio_ci: tuple[float, float] | None = None
    ratio_ci_coverage: float | None = None
    machine: MachineLoad | None = None
    unpaired: str | None = None

    @property
    def ratio(self) -> float:
        """How much slower ``slower`` is, as a ratio: the median per-round ratio (paired), else of the medians."""
        return float(np.median(self.ratios)) if self.ratios else self.median_slower_s / self.median_faster_s

    @property
    def busy(self) -> bool:
        return self.machine is not None and self.machine.busy

    @property
    def rounds_disagree(self) -> bool:
        """Some rounds put the two the other way round: the rounds spread more than the difference."""
        return bool(self.ratios) and min(self.ratios) < 1.0 < max(self.ratios)

    @property
    def separated(self) -> bool:
        """The rounds as measured put ``faster`` ahead: paired, enough rounds, ``p < threshold`` and the interval
        above the noise margin. Not yet a verdict: a busy machine may have made the difference."""
        return (self.unpaired is None and len(self.ratios) >= MIN_ROUNDS
                and self.p_value is not None and self.p_value < self.threshold
                and self.ratio_ci is not None and self.ratio_ci[0] > 1.0 + NOISE_MARGIN)

    @property
    def clear(self) -> bool:
        """``faster`` is clearly ahead (the rule in the module docstring): separated on a machine that was quiet."""
        return self.separated and not self.busy

    @property
    def evidence(self) -> str:
        """The figures behind the verdict, in words: ``"+8.1 % [+6.0, +9.9 %] over 10 interleaved rounds, Wilcoxon
        p = 0.002"``."""
        if self.unpaired is not None:
            return f"medians {self.ratio - 1:+.1%} apart, {self.unpaired}"
        low, high = self.ratio_ci or (math.nan, math.nan)
        coverage = "" if (self.ratio_ci_coverage or 0) >= 0.95 else f" ({self.ratio_ci_coverage:.0%} interval)"
        text = (f"{self.ratio - 1:+.1%} [{low - 1:+.1%}, {high - 1:+.1%}]{coverage} over {len(self.ratios)} "
                f"interleaved rounds, Wilcoxon p = {self.p_value:.2g}")
        if self.rounds_disagree:
            text += (f"; the rounds disagree more than the difference (per-round ratios {min(self.ratios):.3f} to "
                     f"{max(self.ratios):.3f})")
        return text

    @property
    def statement(self) -> str:
        """One sentence: clearly ahead, or no clear winner and why."""
        if self.unpaired is not None:
            return f"{self.faster} vs {self.slower}: not compared ({self.evidence})"
        if self.busy:
            return (f"{self.faster} vs {self.slower}: no verdict, the machine was busy while timing "
                    f"({self.machine.description}); {self.evidence}")  # type: ignore[union-attr]
        if self.clear:
            return f"{self.faster} is clearly ahead of {self.slower}: {self.evidence}"
        return (f"{self.faster} vs {self.slower}: no clear winner at this machine's noise, within "
                f"{abs(self.ratio - 1):.1%} ({self.evidence}{self._why_not()})")

    def _why_not(self) -> str:
        if len(self.ratios) < MIN_ROUNDS:
            return f"; a verdict needs at least {MIN_ROUNDS} rounds"
        if self.p_value is not None and self.p_value >= self.threshold:
            return f", not below {self.threshold:.2g}"
        return f"; the interval does not clear the {NOISE_MARGIN:.0%} noise margin"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the derived verdict and statement for readers of the file."""
        return {"faster": self.faster, "slower": self.slower, "median_faster_ms": 1e3 * self.median_faster_s,
                "median_slower_ms": 1e3 * self.median_slower_s, "ratio": self.ratio, "ratios": list(self.ratios),
                "ratio_ci": list(self.ratio_ci) if self.ratio_ci else None, "p_value": self.p_value,
                "threshold": self.threshold, "rounds": len(self.ratios), "busy": self.busy,
                "unpaired": self.unpaired, "clear": self.clear, "statement": self.statement}


def verdict(name_a: str, a: Measurement, name_b: str, b: Measurement, threshold: float = ALPHA) -> Verdict:
    """Whether ``a`` and ``b`` differ, by the rule in the module docstring; the faster one comes first.

    Args:
        name_a, a, name_b, b: two steady-state inference Measurements and their names.
        threshold: the p-value below which a difference counts, already divided by the number of pairs tested.

    Example:
        >>> results = bench_interleaved([BenchCase("a.tflite"), BenchCase("b.tflite")], rounds=10)
        >>> print(verdict("a", results[0].inference, "b", results[1].inference).statement)
    """
    run_a, run_b = a.metadata.get(INTERLEAVING_KEY), b.metadata.get(INTERLEAVING_KEY)
    rounds_a, rounds_b = a.replicate_medians, b.replicate_medians
    unpaired = None
    if run_a is None or run_a != run_b:
        unpaired = "timed in separate runs, which drift apart; time them together for a verdict"
    elif len(rounds_a) != len(rounds_b) or len(rounds_a) < 2:
        unpaired = "timed together but not in rounds; time them with several rounds for a verdict"
    if unpaired is not None:
        if a.median > b.median:
            name_a, a, name_b, b = name_b, b, name_a, a
        return Verdict(name_a, name_b, a.median, b.median, (), threshold, unpaired=unpaired)
    log_ratios = np.log(np.asarray(rounds_b)) - np.log(np.asarray(rounds_a))
    if np.median(log_ratios) < 0:  # b is the faster one: turn the pair round
        name_a, a, name_b, b, log_ratios = name_b, b, name_a, a, -log_ratios
    ratios = np.exp(log_ratios)
    ci = stats.median_ci(ratios, 0.95)
    machine = a.metadata.get(MACHINE_KEY)
    return Verdict(name_a, name_b, a.median, b.median, tuple(float(r) for r in ratios), threshold,
                   p_value=_signed_rank_p(log_ratios), ratio_ci=(ci.low, ci.high), ratio_ci_coverage=ci.coverage,
                   machine=MachineLoad.from_dict(machine) if machine else None)


def _signed_rank_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of ``differences`` against 0 (1.0 when they are all 0)."""
    if not np.any(differences):
        return 1.0
    from scipy.stats import wilcoxon  # lazy: scipy.stats takes a second to import

    return float(wilcoxon(differences, alternative="two-sided").pvalue)


@dataclass(frozen=True)
class Ranking:
    """Which configurations the fastest is clearly ahead of, and which it is not: the latency half of every
    recommendation convbench makes (a study's, a search's). What breaks a tie is the caller's next criterion.

    Attributes:
        fastest: the index of the fastest configuration by median.
        tied: the indices not clearly slower than the fastest, the fastest first (just it: a clear winner).
        verdicts: the fastest against every other configuration, in the order given (the fastest left out).
        busy: the machine load when it was busy while they were timed (then nothing is clear), else ``None``.
    """

    fastest: int
    tied: tuple[int, ...]
    verdicts: tuple[Verdict, ...]
    busy: MachineLoad | None

    @property
    def clear(self) -> bool:
        """The fastest is clearly ahead of every other configuration (on a quiet machine)."""
        return len(self.tied) == 1 and self.busy is None and all(v.clear for v in self.verdicts)

    @property
    def closest(self) -> Verdict:
        """The verdict the ranking rests on: the tied configuration furthest from the fastest, or, with a clear
        winner, the runner-up."""
        tied = [v for i, v in zip(self._others, self.verdicts, strict=True) if i in self.tied]
        return max(tied, key=lambda v: abs(v.ratio - 1)) if tied else min(self.verdicts, key=lambda v: v.ratio)

    @property
    def _others(self) -> list[int]:
        return [i for i in range(len(self.verdicts) + 1) if i != self.fastest]


def rank(names: list[str], measurements: list[Measurement]) -> Ranking:
    """The fastest of ``measurements`` (by median) against each other one, by :func:`verdict`.

    A configuration is tied with the fastest unless the rounds as measured put the fastest clearly ahead of it
    (:attr:`Verdict.separated`); on a busy machine that still ties nothing it separates, but no verdict is clear.

    Example:
        >>> ranking = rank(["a", "b", "c"], [r.inference for r in bench_interleaved(targets, rounds=10)])
        >>> ranking.tied, ranking.clear
    """
    if len(names) < 2 or len(names) != len(measurements):
        raise ValueError(f"rank needs two or more names with their measurements, got {len(names)} and "
                         f"{len(measurements)}")
    names = [name if names.count(name) == 1 else f"{name} #{names[:i].count(name) + 1}"
             for i, name in enumerate(names)]  # a verdict names its faster side: the names must differ
    fastest = min(range(len(measurements)), key=lambda i: measurements[i].median)
    others = [i for i in range(len(measurements)) if i != fastest]
    verdicts = tuple(verdict(names[fastest], measurements[fastest], names[i], measurements[i]) for i in others)
    tied = (fastest, *(i for i, v in zip(others, verdicts, strict=True)
                       if not (v.separated and v.slower == names[i])))
    machine = measurements[fastest].metadata.get(MACHINE_KEY)
    load = MachineLoad.from_dict(machine) if machine else None
    return Ranking(fastest, tied, verdicts, load if load is not None and load.busy else None)
