"""compare(): put bench results side by side, say which latency differences are real, and plot them.

Modelled on ``torch.utils.benchmark.Compare``: it only reads results, never times anything.

Significance. For each pair of results the steady-state inference samples are compared two ways,
and a difference is called significant only when **both** agree:

1. the two-sided Mann–Whitney U test (``scipy.stats.mannwhitneyu``, distribution-free, sensitive to
   a shift of one distribution against the other) gives ``p < 0.05 / m``, Bonferroni-corrected for
   the ``m`` pairs compared; and
2. the two 95 % order-statistic confidence intervals of the medians do not overlap (a conservative
   criterion on its own: for equal widths it corresponds to roughly p < 0.006).

Both assume independent samples, and consecutive per-call timings are not independent: frequency
scaling, cache and allocator state and other processes make them autocorrelated, so the effective
sample size is smaller than ``n`` and p-values and intervals are over-confident. Requiring both
criteria, and showing the relative difference next to them, guards against calling a 0.5 %
difference between thousands of samples "significant"; the robust check remains repeating the whole
measurement (see ``Measurement.merge``) and comparing the replicates.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scipy.stats import mannwhitneyu

from convbench.bench.measurement import Measurement
from convbench.bench.result import BenchResult
from convbench.bench.targets.base import aggregates_only, target_of
from convbench.errors import ConfigError
from convbench.io import write_text
from convbench.locks import locks_output
from convbench.report import formats as fmt
from convbench.report import plots

ALPHA = 0.05  # family-wise error rate over all pairs (Bonferroni)
COLUMNS = ("rank", "model", "arch", "quantize", "runtime", "threads", "target", "median_ms", "ci95_low_ms",
           "ci95_high_ms", "p90_ms", "iqr_ratio", "unstable", "n", "size_bytes", "params", "macs", "accuracy",
           "attained_gflops", "sha256", "path")


@dataclass(frozen=True)
class PairTest:
    """Whether ``faster`` is really faster than ``slower`` (see the module docstring for the rule)."""

    faster: str
    slower: str
    median_faster_s: float
    median_slower_s: float
    p_value: float
    threshold: float
    cis_overlap: bool

    @property
    def relative_difference(self) -> float:
        """How much slower ``slower`` is: ``median_slower / median_faster - 1``."""
        return self.median_slower_s / self.median_faster_s - 1.0

    @property
    def significant(self) -> bool:
        return self.p_value < self.threshold and not self.cis_overlap

    @property
    def statement(self) -> str:
        evidence = f"Mann–Whitney p={self.p_value:.2g} vs {self.threshold:.2g}, median CIs " + \
            ("overlap" if self.cis_overlap else "disjoint")
        if self.significant:
            return (f"{self.faster} is faster than {self.slower} by {self.relative_difference:.1%}: "
                    f"significant ({evidence})")
        return (f"{self.faster} vs {self.slower}: difference {self.relative_difference:.1%} is not "
                f"significant ({evidence})")

    def to_dict(self) -> dict[str, Any]:
        return {"faster": self.faster, "slower": self.slower, "median_faster_ms": 1e3 * self.median_faster_s,
                "median_slower_ms": 1e3 * self.median_slower_s, "relative_difference": self.relative_difference,
                "p_value": self.p_value, "threshold": self.threshold, "cis_overlap": self.cis_overlap,
                "significant": self.significant, "statement": self.statement}


@dataclass
class Comparison:
    """The table (one row per result, fastest first), every pair's test, the files written, and the results whose
    significance cannot be tested (a tool's aggregates, no samples)."""

    rows: list[dict[str, Any]]
    pairs: list[PairTest]
    files: dict[str, Path] = field(default_factory=dict)
    untestable: list[str] = field(default_factory=list)

    def fastest_per_target(self) -> dict[str, dict[str, Any]]:
        """Each target's fastest row: the comparison's answer per device."""
        fastest: dict[str, dict[str, Any]] = {}
        for row in self.rows:  # fastest first
            fastest.setdefault(row["target"], row)
        return fastest

    def ranking(self) -> list[PairTest]:
        """The tests between neighbours in the latency ranking (fastest vs second, second vs third, …)."""
        by_pair = {(p.faster, p.slower): p for p in self.pairs}
        names = [r["model"] for r in self.rows]
        return [by_pair[(a, b)] for a, b in itertools.pairwise(names) if (a, b) in by_pair]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()

    def to_markdown(self) -> str:
        lines = ["# Latency comparison", "",
                 "Steady-state inference at batch 1; median with its 95 % confidence interval "
                 "(order statistics), in milliseconds.", "",
                 "| # | model | runtime | threads | target | median ms [95 % CI] | p90 ms | IQR/median | size "
                 "| params | accuracy |",
                 "|---:|---|---|---:|---|---|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            flag = " (unstable)" if r["unstable"] else ""
            lines.append(f"| {r['rank']} | {r['model']} | {r['runtime']} | {r['threads']} | {r['target']} | "
                         f"{fmt.ms_ci(r)} | "
                         f"{r['p90_ms']:.3f} | {r['iqr_ratio']:.1%}{flag} | {fmt.size(r['size_bytes'])} | "
                         f"{fmt.count(r['params'])} | {fmt.percent(r['accuracy'], 2)} |")
        lines += ["", "## Is the difference significant?", "",
                  "Mann–Whitney U (Bonferroni over all pairs) and disjoint median CIs must both hold; "
                  "per-call samples are autocorrelated, so both are optimistic.", ""]
        lines += [f"- {p.statement}" for p in self.pairs] or ["- (a single result: nothing to compare)"]
        lines += [f"- {name}: significance not available (its tool reported aggregates, not per-call samples)"
                  for name in self.untestable]
        fastest = self.fastest_per_target()
        if len(fastest) > 1:
            lines += ["", "## Fastest per target", "",
                      *(f"- {target}: {r['model']}, {fmt.ms_ci(r)} ms" for target, r in fastest.items())]
        plots = [f"![{name}]({path.name})" for name, path in self.files.items() if path.suffix == ".png"]
        if plots:
            lines += ["", "## Plots", "", *plots]
        return "\n".join(lines) + "\n"


@locks_output("out")  # two comparisons into one folder would interleave their files (convbench.locks)
def compare(results: list[BenchResult | str | os.PathLike[str]],
            out: str | os.PathLike[str] | None = None) -> Comparison:
    """Compare bench results (objects or JSON paths): table, pairwise significance and, with ``out``, files.

    With ``out`` the directory receives ``comparison.csv``, ``comparison.md``, ``pairs.csv``,
    ``latency_distribution.png``, ``size_vs_latency.png`` and, when any accuracy is known,
    ``accuracy_vs_latency.png``.

    Example:
        >>> c = compare(["a.json", "b.json"], out="reports/cmp")
        >>> print(c.pairs[0].statement)
    """
    loaded = [r if isinstance(r, BenchResult) else BenchResult.load(r) for r in results]
    if not loaded:
        raise ConfigError("compare needs at least one bench result")
    several_targets = len({target_of(r) for r in loaded}) > 1  # then each label says where it was timed
    names = _unique_labels([r.label + (f" on {target_of(r)}" if several_targets else "") for r in loaded])
    order = sorted(range(len(loaded)), key=lambda i: loaded[i].inference.median)
    rows = [_row(rank, names[i], loaded[i]) for rank, i in enumerate(order, 1)]
    ordered = [(names[i], loaded[i]) for i in order]
    testable = [(name, r) for name, r in ordered if not aggregates_only(r)]
    m = len(testable) * (len(testable) - 1) // 2
    pairs = [pair_test(name_a, a.inference, name_b, b.inference, ALPHA / m)
             for (name_a, a), (name_b, b) in itertools.combinations(testable, 2)]
    comparison = Comparison(rows, pairs, untestable=[name for name, r in ordered if aggregates_only(r)])
    if out is not None:
        _write(comparison, [r for _, r in ordered], Path(out))
    return comparison


def pair_test(name_a: str, a: Measurement, name_b: str, b: Measurement, threshold: float = ALPHA) -> PairTest:
    """Whether ``a`` (the faster) and ``b`` differ, by the rule in the module docstring (``threshold``: the
    Mann–Whitney p-value below which a difference counts, already corrected for the number of pairs)."""
    p = float(mannwhitneyu(a.times_s, b.times_s, alternative="two-sided").pvalue)
    overlap = a.ci95.low <= b.ci95.high and b.ci95.low <= a.ci95.high
    return PairTest(name_a, name_b, a.median, b.median, p, threshold, overlap)


def _row(rank: int, name: str, r: BenchResult) -> dict[str, Any]:
    untestable = {"ci95_low_ms": None, "ci95_high_ms": None} if aggregates_only(r) else {}
    return {"rank": rank, "model": name, "arch": r.model.get("arch"), "quantize": r.model.get("quantize"),
            "runtime": r.runtime["name"], "threads": r.runtime["threads"], "target": target_of(r),
            **r.figures_ms(), **untestable,
            "iqr_ratio": r.inference.iqr_ratio, "size_bytes": r.model.get("size_bytes"),
            "params": r.model.get("params"), "macs": r.model.get("macs"), "accuracy": r.model.get("accuracy"),
            "sha256": r.model.get("sha256"), "path": r.model.get("path")}


def _write(comparison: Comparison, results: list[BenchResult], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    names = [r["model"] for r in comparison.rows]
    medians = [r.inference.median for r in results]
    files = comparison.files
    files["latency_distribution"] = plots.latency_distribution(
        {n: r.inference.times_s for n, r in zip(names, results, strict=True)}, out / "latency_distribution.png",
        title="Steady-state inference latency (batch 1)")
    groups = [r.runtime["name"] for r in results]
    files["size_vs_latency"] = plots.size_vs_latency(names, medians, [r.model["size_bytes"] for r in results],
                                                     out / "size_vs_latency.png", groups=groups)
    known = [i for i, r in enumerate(results) if r.model.get("accuracy") is not None]
    if known:
        files["accuracy_vs_latency"] = plots.accuracy_vs_latency(
            [names[i] for i in known], [medians[i] for i in known], [results[i].model["accuracy"] for i in known],
            out / "accuracy_vs_latency.png", groups=[groups[i] for i in known])
    files["csv"] = write_text(out / "comparison.csv", comparison.to_csv())
    files["pairs_csv"] = write_text(out / "pairs.csv", _pairs_csv(comparison.pairs))
    files["markdown"] = write_text(out / "comparison.md", comparison.to_markdown())


def _pairs_csv(pairs: list[PairTest]) -> str:
    buffer = io.StringIO()
    fields = ("faster", "slower", "median_faster_ms", "median_slower_ms", "relative_difference", "p_value",
              "threshold", "cis_overlap", "significant", "statement")
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(p.to_dict() for p in pairs)
    return buffer.getvalue()


def _unique_labels(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return unique
