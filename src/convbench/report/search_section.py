"""The search part of a report: what was searched, the recommendation with its test accuracy (against hand-shrunk
models when given), the Pareto plot and table, parameter importance and every trial (pruned ones marked).

``write_search_report`` writes it as its own ``report.md`` / ``report.html`` (``convbench search``); a study
with a ``[search]`` section puts the same sections in its report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from convbench.io import write_text
from convbench.report import formats as fmt
from convbench.report.document import Block, Document, Figure, KeyValues, Paragraph, Section, Table
from convbench.report.html import render_html
from convbench.report.markdown import render_markdown
from convbench.report.records import LatencyRow
from convbench.report.search_plots import search_pareto_plot
from convbench.search import SearchResult, TrialRecord
from convbench.search.records import FinalTiming

TEST_NOTE = ("The test split never steered the search: every choice (pruning, the Pareto front, the recommendation) "
             "used the validation split; the recommendation and the front were scored on the test split once, after "
             "the last trial had ended.")


@dataclass(frozen=True)
class HandShrunk:
    """A model shrunk by hand, to compare the recommendation with (e.g. from ``benchmarks/results/train_fruits``)."""

    name: str
    params: int | None
    test_accuracy: float | None
    latency_ms: float | None = None


def search_sections(result: SearchResult, plots: Path, hand_shrunk: list[HandShrunk] | None = None) -> list[Section]:
    """The sections, the Pareto plot written into ``plots``."""
    sections = [_summary(result, hand_shrunk or [])]
    plot = search_pareto_plot(result, plots / "search_pareto.png")
    front: list[Block] = [Figure(plot, "Every complete trial; ringed: the Pareto front, star: the recommendation")] \
        if plot else []
    front.append(_trials_table([t for t in result.trials if t.number in result.pareto], result,
                               "The Pareto front of (validation accuracy ↑, latency ↓, file size ↓), feasible trials"))
    sections.append(Section("Search: Pareto front", front))
    if result.importance:
        names = sorted({k for v in result.importance.values() for k in v})
        sections.append(Section("Search: parameter importance", [Table(
            ["parameter", *result.importance],
            [[n, *(f"{v.get(n, 0.0):.3f}" for v in result.importance.values())] for n in names],
            caption="optuna.importance (PED-ANOVA) over the complete trials: how much each parameter matters for "
                    "a high validation accuracy and a low latency; parameters every trial has")]))
    sections.append(Section("Search: trials", [_trials_table(result.trials, result, "Every trial, in order")]))
    return sections


def study_search_sections(result: SearchResult, latency_rows: Sequence[LatencyRow], plots: Path) -> list[Section]:
    """A study's search sections: its recommendation against the study's own candidates timed on the target."""
    target = result.settings.target
    hand_shrunk = [HandShrunk(f"{row.model} {row.quantize}", row.params, row.accuracy, row.median_ms)
                   for row in latency_rows if row.runtime == target.runtime and row.threads == target.threads]
    return search_sections(result, plots, hand_shrunk)


def write_search_report(result: SearchResult, out: str | os.PathLike[str],
                        hand_shrunk: list[HandShrunk] | None = None) -> list[Path]:
    """Write ``out/report.md``, ``out/report.html`` and the plot; return their paths."""
    out = Path(out)
    s = result.settings
    doc = Document(f"convbench search: {s.data}",
                   f"floor {s.floor:g} · target {s.target} · {result.search_seconds / 60:.1f} min · "
                   f"{result.environment.get('cpu', '')}".rstrip(" ·"))
    doc.sections += search_sections(result, out / "plots", hand_shrunk)
    return [write_text(out / "report.md", render_markdown(doc, out)), write_text(out / "report.html", render_html(doc)),
            *sorted((out / "plots").glob("search_*.png"))]


def _summary(result: SearchResult, hand_shrunk: list[HandShrunk]) -> Section:
    s = result.settings
    best = result.recommended
    ran = (f"{len(result.trials)} trials in {result.search_seconds / 60:.1f} min: {result.count('complete')} complete, "
           f"{result.count('pruned')} pruned ({result.pruned_before_training} before training by the latency screen), "
           f"{result.count('failed')} failed, {result.count('infeasible')} infeasible")
    if best is None or best.latency is None:
        text = f"No trial reached the floor of {fmt.percent(s.floor, 2)} validation accuracy ({ran})."
    else:
        text = (f"Recommended: {best.params.label} (trial #{best.number}): {best.latency.median_ms:.4g} ms median on "
                f"{s.target}, {fmt.size(best.file_size_bytes)}, {fmt.count(best.params_count)} parameters; validation "
                f"accuracy {fmt.percent(best.val_accuracy, 2)}, test accuracy "
                f"{fmt.percent(result.test_accuracy(best.number), 2)} ({ran}).")
    blocks: list[Block] = [Paragraph(text, callout=True)]
    if result.final_timing is not None:
        blocks.append(Paragraph(_final_timing(result.final_timing, best)))
    blocks += [Paragraph(TEST_NOTE),
               KeyValues([("data", s.data), ("floor (validation accuracy)", fmt.percent(s.floor, 2)),
                          ("target", str(s.target)), ("budget", f"{s.budget_s / 60:g} min"),
                          ("latency cap", "none" if s.max_latency_ms is None
                           else f"{s.max_latency_ms:g} ms"),
                          ("epochs per trial", str(s.epochs)),
                          ("validation splits", f"{s.val_split}, {s.val_repeats} (the worst counts)"
                           if s.val_repeats > 1 else s.val_split),
                          ("architectures", ", ".join(s.space.architectures)),
                          ("input sizes", ", ".join(map(str, s.space.input_sizes))),
                          ("export modes", ", ".join(s.space.quantize)),
                          ("Ray", s.ray or "no (in-process)")])]
    if best is not None and hand_shrunk:
        rows = [[f"found: {best.params.label}", fmt.count(best.params_count),
                 fmt.percent(result.test_accuracy(best.number), 2),
                 f"{best.latency.median_ms:.4g}" if best.latency else "–"]]
        rows += [[h.name, fmt.count(h.params), fmt.percent(h.test_accuracy, 2),
                  "–" if h.latency_ms is None else f"{h.latency_ms:.4g}"] for h in hand_shrunk]
        blocks.append(Table(["model", "parameters", "test accuracy", f"latency (ms, {s.target})"], rows,
                            caption="The recommendation against the models shrunk by hand"))
    return Section("Search", blocks)


def _final_timing(final: FinalTiming, best: TrialRecord | None) -> str:
    """How the recommendation was decided among the fastest trials, timed side by side."""
    names = ", ".join(f"#{n}" for n in final.finalists)
    busy = (f"The machine was busy while they were timed ({final.busy}): no verdict is called clear. "
            if final.busy else "")
    if final.clear:
        verdict = f"trial #{final.tied[0]} is clearly ahead of every other."
    else:
        tie = ", ".join(f"#{n}" for n in final.tied)
        verdict = (f"no clear winner at this machine's noise among {tie}; the recommendation "
                   f"{'' if best is None else f'(#{best.number}) '}is the one with the highest validation accuracy, "
                   f"then the lowest validation loss, then the smallest file.")
    return (f"{busy}The fastest feasible trials ({names}) were timed again side by side in {final.rounds} "
            f"interleaved rounds: {verdict} " + " ".join(f"{x}." for x in final.statements))


def _trials_table(trials: list[TrialRecord], result: SearchResult, caption: str) -> Table:
    rows = []
    for t in trials:
        state = (t.state + (" before training" if t.pruned_before_training else "") + (" (seed)" if t.seeded else "")
                 + (" ★" if t.number == result.recommendation else ""))
        latency = "–" if t.latency is None else \
            f"{t.latency.median_ms:.4g} [{t.latency.ci95_low_ms:.4g}, {t.latency.ci95_high_ms:.4g}]"
        val = fmt.percent(t.val_accuracy, 2) + (" (" + ", ".join(fmt.percent(a, 2) for a in t.val_accuracy_repeats)
                                                 + ")" if len(t.val_accuracy_repeats) > 1 else "")
        rows.append([str(t.number), t.params.label, state, val,
                     "–" if t.val_loss is None else f"{t.val_loss:.4f}", str(t.epochs_run), latency,
                     "–" if t.screen_latency is None else f"{t.screen_latency.median_ms:.4g}",
                     fmt.size(t.file_size_bytes), fmt.count(t.params_count),
                     fmt.percent(result.test_accuracy(t.number), 2), t.trained_on or "–", t.timed_on or "–",
                     fmt.seconds(t.duration_s), t.prune_reason or t.error or ""])
    return Table(["#", "params", "state", "val acc (per split)", "val loss", "epochs", "latency ms [95 % CI]",
                  "screen ms", "file", "parameters", "test acc", "trained on", "timed on", "took",
                  "why pruned / failed"], rows,
                 align="llllrrrrrrrllll",
                 caption=caption)
