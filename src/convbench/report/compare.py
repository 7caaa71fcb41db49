"""compare(): put bench results side by side, say which latency differences are real, and plot them.

Modelled on ``torch.utils.benchmark.Compare``: it only reads results, never times anything.

Verdicts. Each pair of results gets a :class:`~convbench.bench.verdict.Verdict`: decided on the interleaved
rounds the two were timed in together (each round's medians, paired by round: a Wilcoxon signed-rank test and
the 95 % interval of the per-round ratio), never on the individual calls, which share one stretch's machine
state and would call a 0.5 % difference between thousands of samples "significant". The family is the ranking's
``k - 1`` neighbour comparisons (fastest vs second, …), so each is tested at ``0.05 / (k - 1)`` (Bonferroni);
other pairs are listed at the same threshold for reference. Results timed in separate runs are not compared:
time them together (``convbench bench A B``) for a verdict.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convbench.bench.result import BenchResult
from convbench.bench.targets.base import aggregates_only, target_of
from convbench.bench.verdict import ALPHA, Verdict, verdict
from convbench.errors import ConfigError
from convbench.io import write_text
from convbench.locks import locks_output
from convbench.report import formats as fmt
from convbench.report import plots

COLUMNS = ("rank", "model", "arch", "quantize", "runtime", "threads", "target", "median_ms", "ci95_low_ms",
           "ci95_high_ms", "p90_ms", "iqr_ratio", "unstable", "n", "size_bytes", "params", "macs", "accuracy",
           "attained_gflops", "sha256", "path")


@dataclass
class Comparison:
    """The table (one row per result, fastest first), every pair's verdict, the files written, the results whose
    significance cannot be tested (a tool's aggregates, no samples), and how busy the machine was where it was
    (``busy``: one line per busy run; then no verdict is clear)."""

    rows: list[dict[str, Any]]
    pairs: list[Verdict]
    files: dict[str, Path] = field(default_factory=dict)
    untestable: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)

    def fastest_per_target(self) -> dict[str, dict[str, Any]]:
        """Each target's fastest row: the comparison's answer per device."""
        fastest: dict[str, dict[str, Any]] = {}
        for row in self.rows:  # fastest first
            fastest.setdefault(row["target"], row)
        return fastest

    def ranking(self) -> list[Verdict]:
        """The tests between neighbours in the latency ranking (fastest vs second, second vs third, …)."""
        by_pair = {frozenset((p.faster, p.slower)): p for p in self.pairs}
        names = [r["model"] for r in self.rows]
        return [by_pair[key] for a, b in itertools.pairwise(names) if (key := frozenset((a, b))) in by_pair]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()

    def to_markdown(self) -> str:
        lines = ["# Latency comparison", ""]
        lines += [f"**The machine was busy while timing: {note}; no difference is called clear.**" for note in
                  self.busy] + ([""] if self.busy else [])
        lines += [
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
        lines += ["", "## Which is faster?", "",
                  "Decided on the interleaved rounds each pair was timed in together: the per-round ratio of "
                  "their medians, its 95 % interval and a Wilcoxon signed-rank test (Bonferroni over the ranking's "
                  "neighbours); individual calls share one stretch's machine state and decide nothing.", ""]
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
    family = max(len(testable) - 1, 1)  # the ranking's neighbour comparisons
    pairs = [verdict(name_a, a.inference, name_b, b.inference, ALPHA / family)
             for (name_a, a), (name_b, b) in itertools.combinations(testable, 2)]
    busy = list(dict.fromkeys(load.description for _, r in ordered if (load := r.machine_load) and load.busy))
    comparison = Comparison(rows, pairs, untestable=[name for name, r in ordered if aggregates_only(r)], busy=busy)
    if out is not None:
        _write(comparison, [r for _, r in ordered], Path(out))
    return comparison


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


def _pairs_csv(pairs: list[Verdict]) -> str:
    buffer = io.StringIO()
    fields = ("faster", "slower", "median_faster_ms", "median_slower_ms", "ratio", "ratio_ci", "p_value",
              "threshold", "rounds", "busy", "unpaired", "clear", "statement")
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
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
