"""The study report: the answer first (which model to ship for the user's constraint), then the evidence.

``write_reports(results, out)`` writes ``results.json`` (every figure with its environment),
``results.csv`` (one row per timed file × runtime × threads, and per early-exit evaluation),
``report.md`` with its plots in ``plots/``, and ``report.html``: one self-contained file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convbench.bench.measurement import Measurement
from convbench.bench.stats import UNSTABLE_IQR_RATIO
from convbench.bench.verdict import rank
from convbench.io import write_json, write_text
from convbench.report import formats as fmt
from convbench.report import plots as tradeoff
from convbench.report import study_plots
from convbench.report.document import Code, Document, Figure, KeyValues, Paragraph, Section, Table
from convbench.report.early_exit_section import early_exit_sections
from convbench.report.html import render_html
from convbench.report.markdown import render_markdown
from convbench.report.plots import pareto_front
from convbench.report.records import LatencyRow, ModelRow, OpProfileEntry, Recommendation, StudyInfo, StudyReport
from convbench.report.search_section import study_search_sections
from convbench.report.study_plots import file_kind, file_label, runtime_label
from convbench.vocabulary import DEFAULT_TARGET, quantize_label, runtime_display

CSV_COLUMNS = ("kind", "model", "arch", "width", "input_size", "dataset", "format", "quantize", "runtime",
               "runtime_version", "threads", "params", "macs", "size_bytes", "sha256", "accuracy", "keras_accuracy",
               "agreement", "max_abs_diff", "median_ms", "ci95_low_ms", "ci95_high_ms", "p90_ms", "p99_ms", "iqr_ms",
               "n", "unstable", "load_ms", "first_inference_ms", "preprocess_ms", "attained_gflops")


# -- the answer -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyCandidate:
    """One timed configuration the recommendation ranks: its latency row and its inference samples."""

    row: LatencyRow
    inference: Measurement


def recommend(candidates: list[LatencyCandidate], *, accuracy_floor: float = 0.0, runtime: str | None = None,
              threads: int | None = None) -> Recommendation:
    """The recommendation of :func:`recommend_on_one_target`, made per target when the study timed on several
    (a phone and a server rank int8 and depthwise files differently): then ``per_target`` maps each target to its
    answer, the sentence gives each, and the other fields are the first target's."""
    targets = list(dict.fromkeys(c.row.target or DEFAULT_TARGET for c in candidates))
    options = dict(accuracy_floor=accuracy_floor, runtime=runtime, threads=threads)
    if len(targets) <= 1:
        return recommend_on_one_target(candidates, **options)
    per_target = {t: recommend_on_one_target([c for c in candidates if (c.row.target or DEFAULT_TARGET) == t],
                                             **options) for t in targets}
    return dataclasses.replace(per_target[targets[0]], per_target=per_target,
                               sentence=" ".join(f"On {t}: {a.sentence}" for t, a in per_target.items()))


def recommend_on_one_target(candidates: list[LatencyCandidate], *, accuracy_floor: float = 0.0,
                            runtime: str | None = None, threads: int | None = None) -> Recommendation:
    """The configuration to ship at or above the accuracy floor, the smallest one, and the Pareto set.

    The rule (one for every recommendation convbench makes): the fastest configuration is shipped when it is
    clearly ahead of every other one by :func:`~convbench.bench.verdict.verdict`, decided on the interleaved
    rounds they were timed in together, on a quiet machine. Otherwise the configurations not clearly slower than
    the fastest are tied at this machine's noise, and the next criteria pick among them: the smallest file, then
    the highest accuracy. A timing on a busy machine calls nothing clear; the sentence says so first. So a rerun
    names the same file, or says there is no clear winner, instead of flipping on one stretch's noise.

    Args:
        candidates: the timed configurations (their latency rows and inference Measurements).
        accuracy_floor: recommend only configurations with at least this test accuracy.
        runtime, threads: rank only this runtime / thread count (``None``: all).

    Returns:
        The :class:`~convbench.report.records.Recommendation`: the rows shipped, fastest, runner-up, smallest, tied
        and on the Pareto front (or ``None``), the criterion that picked (``latency``, ``size`` or ``accuracy``),
        whether the shipped one is clearly ahead of every other (``None`` when not testable), the verdicts of the
        fastest against each other one, and the sentence that says it in words.
    """
    floor = accuracy_floor or 0.0
    pool = [c for c in candidates if c.row.accuracy is not None
            and runtime in (None, c.row.runtime) and threads in (None, c.row.threads)]
    answer = Recommendation(accuracy_floor=floor, candidates=len(pool))
    if not pool:
        return dataclasses.replace(
            answer, sentence="No timed model has a known test accuracy, so there is nothing to recommend.")
    rows = [c.row for c in pool]
    front = pareto_front([r.median_ms for r in rows], [_accuracy(r) for r in rows])
    answer = dataclasses.replace(answer, pareto=tuple(rows[i] for i in front))
    above = sorted((c for c in pool if _accuracy(c.row) >= floor), key=lambda c: c.row.median_ms)
    if not above:
        best = max(rows, key=lambda r: (_accuracy(r), -r.median_ms))
        return dataclasses.replace(answer, sentence=f"No configuration reaches the {fmt.percent(floor)} accuracy "
                                                    f"floor; the most accurate is {_config(best)}: {_figures(best)}.")
    fastest = above[0]
    smallest = min((c.row for c in above), key=lambda r: (r.size_bytes, r.median_ms))
    answer = dataclasses.replace(answer, fastest=fastest.row, runner_up=above[1].row if len(above) > 1 else None,
                                 smallest=smallest)
    of_floor = (f"{len(above)} configuration{'s' * (len(above) > 1)} with at least {fmt.percent(floor)} test "
                f"accuracy")
    if len(above) == 1:
        return dataclasses.replace(answer, shipped=fastest.row, picked_by="latency", clear=True,
                                   sentence=f"Ship {_config(fastest.row)}: {_figures(fastest.row)}; the only one of "
                                            f"the {of_floor}.")
    if any(c.inference.metadata.get("aggregates_only") for c in above[:2]):
        runner_up = above[1].row
        return dataclasses.replace(answer, shipped=fastest.row, picked_by="latency",
                                   sentence=f"Ship {_config(fastest.row)}: {_figures(fastest.row)}; the fastest of "
                                            f"{of_floor}; whether it is clearly ahead of the runner-up "
                                            f"{_config(runner_up)} at {runner_up.median_ms:.3g} ms is not available "
                                            f"(its tool reported aggregates, not samples).")
    ranking = rank([_config(c.row) for c in above], [c.inference for c in above])
    tied = [above[i] for i in ranking.tied]
    busy = ranking.busy.description if ranking.busy else None
    answer = dataclasses.replace(answer, verdicts=tuple(ranking.verdicts), tied=tuple(c.row for c in tied),
                                 busy=busy)
    warning = (f"The machine was busy while timing ({busy}): no verdict is called clear; rerun on a quiet machine. "
               if busy else "")
    shipped, picked_by = (tied[0].row, "latency") if len(tied) == 1 else _next_criterion([c.row for c in tied])
    if len(tied) == 1:
        ahead = "clearly ahead of" if ranking.clear else "ahead of"
        return dataclasses.replace(answer, shipped=shipped, picked_by=picked_by, clear=ranking.clear,
                                   sentence=f"{warning}Ship {_config(shipped)}: {_figures(shipped)}; the fastest of "
                                            f"{of_floor}, {ahead} the runner-up {ranking.closest.slower} "
                                            f"({ranking.closest.evidence}).")
    names = ", ".join(_config(c.row) for c in tied)
    why = (f"the smallest file ({fmt.size(shipped.size_bytes)})" if picked_by == "size"
           else f"the most accurate of the same size ({fmt.percent(shipped.accuracy)})" if picked_by == "accuracy"
           else "the fastest measured")
    return dataclasses.replace(answer, shipped=shipped, picked_by=picked_by, clear=False,
                               sentence=f"{warning}No clear winner at this machine's noise among the {len(tied)} "
                                        f"fastest of {of_floor}: {names} are within "
                                        f"{abs(ranking.closest.ratio - 1):.1%} of each other "
                                        f"({ranking.closest.evidence}). Ship {_config(shipped)}, {why}: "
                                        f"{_figures(shipped)}.")


def _accuracy(row: LatencyRow) -> float:
    """The accuracy of a row the recommendation ranks (only rows with a known accuracy are ranked)."""
    assert row.accuracy is not None
    return row.accuracy


def _next_criterion(tied: list[LatencyRow]) -> tuple[LatencyRow, str]:
    """Among configurations tied on latency: the smallest file, then the most accurate, then the fastest measured;
    and which criterion decided."""
    ranked = sorted(tied, key=lambda r: (r.size_bytes, -_accuracy(r), r.median_ms))
    first, second = ranked[0], ranked[1]
    if first.size_bytes != second.size_bytes:
        return first, "size"
    return first, "accuracy" if first.accuracy != second.accuracy else "latency"


def _config(row: LatencyRow) -> str:
    keras = row.format == "keras"
    how = "Keras" if keras else f"{runtime_display(row.runtime)} {quantize_label(row.quantize)}"
    return f"{row.model} ({how}, {row.threads} thread{'s' * (row.threads > 1)})"


def _figures(row: LatencyRow) -> str:
    ci = ("95 % CI not available: aggregates only" if row.ci95_low_ms is None
          else f"95 % CI {row.ci95_low_ms:.3g}–{row.ci95_high_ms:.3g} ms")
    return (f"{row.median_ms:.3g} ms median inference ({ci}"
            f", p90 {row.p90_ms:.3g} ms), {fmt.percent(row.accuracy)} test accuracy, "
            f"{fmt.size(row.size_bytes)}")


# -- the files ----------------------------------------------------------------------------------------


def write_reports(report: StudyReport, out: str | os.PathLike[str]) -> list[Path]:
    """Write results.json, results.csv, the plots, report.md and report.html into ``out``; return their paths."""
    out = Path(out)
    doc = build_document(report, out / "plots")
    files = [write_json(out / "results.json", report.to_dict()),
             write_text(out / "results.csv", results_csv(report.flat_rows())),
             write_text(out / "report.md", render_markdown(doc, out)),
             write_text(out / "report.html", render_html(doc))]
    return files + sorted((out / "plots").glob("*.png"))


def results_csv(rows: list[dict[str, Any]]) -> str:
    """One CSV line per row (as results.json lays them out): the standard columns, any others the rows have, then
    the machine."""
    extra = [k for r in rows for k in r if k not in CSV_COLUMNS and not isinstance(r[k], dict | list)]
    columns = [*CSV_COLUMNS, *dict.fromkeys(extra), "cpu", "cores", "timestamp"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        env = row.get("environment") or {}
        writer.writerow({**row, "cpu": env.get("cpu"), "cores": env.get("cores"), "timestamp": env.get("timestamp")})
    return buffer.getvalue()


def build_document(report: StudyReport, plots: Path) -> Document:
    """The report's content: summary, candidates, latency, trade-offs, early exit, problems, environment."""
    study, env = report.study, report.environment
    subtitle = (f"{study.description} · {study.started} · {env.get('cpu')} ({env.get('cores')} cores) · "
                + _took(study)).lstrip(" ·")
    doc = Document(f"convbench study: {study.name}", subtitle)
    doc.sections.append(_summary(report))
    if report.models:
        doc.sections.append(_candidates(report.models))
    if report.latency:
        doc.sections += _latency(report.latency, plots)
    if report.op_profiles:  # only studies run with [bench] op_profile = true have them
        doc.sections.append(_op_profiles(report.op_profiles))
    doc.sections += early_exit_sections(report.early_exit, plots)  # none for a study without early exit
    for search in report.searches:  # only studies with a [search] section have them
        doc.sections += study_search_sections(search, report.latency, plots)
    if report.errors:
        doc.sections.append(Section("Problems", [Table(["step", "what went wrong"],
                                                       [[e.step, e.error] for e in report.errors],
                                                       align="ll")]))
    doc.sections.append(_environment(report))
    return doc


def _took(study: StudyInfo) -> str:
    steps = study.steps
    if not steps.cached:
        return f"run took {study.wall_seconds:.0f} s"
    return f"this run took {study.wall_seconds:.0f} s ({steps.cached} of {steps.total} steps reused)"


def _summary(report: StudyReport) -> Section:
    rec = report.recommendation
    blocks: list[Any] = [Paragraph(rec.sentence, callout=True)] if report.latency else []
    if rec.smallest:
        s = rec.smallest
        blocks.append(Paragraph(f"Smallest at or above the floor: {_config(s)}, {fmt.size(s.size_bytes)}, "
                                f"{s.median_ms:.3g} ms, {fmt.percent(s.accuracy)}."))
    if rec.pareto:
        front = "; ".join(f"{_config(r)}: {r.median_ms:.3g} ms, {fmt.percent(r.accuracy)}" for r in rec.pareto)
        blocks.append(Paragraph(f"Pareto set (no other configuration is both faster and more accurate): {front}."))
    for ee in report.early_exit:
        if ee.summary:
            blocks.append(Paragraph(ee.summary, callout=not report.latency))
    steps = report.study.steps
    timed = f"{len(report.latency)} timed configurations; " if report.latency else ""
    blocks.append(Paragraph(f"{timed}{steps.total} steps "
                            f"({steps.ran} run now, {steps.cached} reused from earlier runs"
                            + (f", {steps.failed} failed, {steps.skipped} skipped" if steps.failed else "")
                            + ")."))
    return Section("Summary", blocks)


def _candidates(models: list[ModelRow]) -> Section:
    rows = [[m.model, m.arch, f"{m.width:g}", f"{m.input_size}×{m.input_size}×{m.channels}",
             fmt.count(m.params), fmt.count(m.macs), fmt.percent(m.test_accuracy),
             fmt.percent(m.val_accuracy),
             f"{m.epochs_run} / {m.epochs}", fmt.seconds(m.train_seconds)] for m in models]
    return Section("Candidates", [Table(
        ["model", "architecture", "width α", "input", "parameters", "MACs", "test accuracy", "val accuracy",
         "epochs run / max", "training"], rows, align="llrrrrrrrr",
        caption="Trained Keras models (before export); test accuracy on the held-out test split.")])


def _latency(rows: Sequence[LatencyRow], plots: Path) -> list[Section]:
    ordered = sorted(rows, key=lambda r: (r.model, r.format, r.quantize, r.runtime, r.threads,
                                          r.target or DEFAULT_TARGET))
    memory = any(r.peak_memory_bytes is not None for r in ordered)  # a column only where it was measured
    table = Table(["model", "file", "runtime", "median ms [95 % CI]", "p90 ms", "load ms",
                   *(["peak memory"] if memory else []), "preprocess ms", "size", "accuracy", "agreement"],
                  [[r.model, file_kind(r), runtime_label(r),
                    fmt.median_ci(r.median_ms, r.ci95_low_ms, r.ci95_high_ms)
                    + (" †" if r.unstable else ""),
                    f"{r.p90_ms:.3f}", f"{r.load_ms:.2f}",
                    *([fmt.size(r.peak_memory_bytes)] if memory else []),
                    f"{r.preprocess_ms:.3f}", fmt.size(r.size_bytes),
                    fmt.percent(r.accuracy), fmt.percent(r.agreement)] for r in ordered],
                  align="lllrrr" + "r" * memory + "rrrr", caption=_latency_caption(ordered, memory))
    notes = [Paragraph(f"Note on {file_label(r)} in {runtime_label(r)}: {r.parity_note}.")
             for r in ordered if r.parity_note]
    latency = Section("Latency", [
        Figure(study_plots.latency_ci(ordered, plots / "latency.png"),
               "Steady-state inference at batch 1: median (bar), 95 % confidence interval of the median (whisker) "
               "and 90th percentile (red tick), per model file and runtime."),
        table, *notes,
        Figure(study_plots.phases_stacked(ordered, plots / "phases.png"),
               "Median model load (once per process), image preprocessing and inference (per image), stacked.")])
    labels = [f"{file_label(r)} · {r.runtime} t{r.threads}" for r in ordered]
    groups = [r.model for r in ordered]  # colour: the model; shape: the file; filled: 1 thread, hollow: more
    shapes = [file_kind(r) for r in ordered]
    fills = ["1 thread" if r.threads == 1 else "2+ threads" for r in ordered]
    medians_s = [r.median_ms / 1e3 for r in ordered]
    blocks: list[Any] = []
    known = [(i, accuracy) for i, r in enumerate(ordered) if (accuracy := r.accuracy) is not None]
    if known:
        blocks.append(Figure(tradeoff.accuracy_vs_latency(
            [labels[i] for i, _ in known], [medians_s[i] for i, _ in known], [accuracy for _, accuracy in known],
            plots / "accuracy_vs_latency.png", groups=[groups[i] for i, _ in known],
            markers=[shapes[i] for i, _ in known], fills=[fills[i] for i, _ in known],
            title="Accuracy vs latency (batch 1)"),
            "Test accuracy of each exported file against its median latency; the dashed line is the Pareto front."))
    blocks.append(Figure(tradeoff.size_vs_latency(labels, medians_s, [r.size_bytes for r in ordered],
                                                  plots / "size_vs_latency.png", groups=groups, markers=shapes,
                                                  fills=fills),
                         "File size against median latency; the front marks the smallest file for each latency."))
    return [latency, Section("Trade-offs", blocks)]


def _latency_caption(rows: list[LatencyRow], memory: bool) -> str:
    by_hash: dict[str, set[str]] = {}
    for r in rows:
        by_hash.setdefault(r.sha256, set()).add(file_label(r))
    same = ["; ".join(sorted(names)) for names in by_hash.values() if len(names) > 1]
    note = ("Accuracy: the exported file on the test split, in its runtime; agreement: top-1 agreement with Keras. "
            + (f"† unstable: IQR/median above {UNSTABLE_IQR_RATIO:.0%} (a noisy run; compare p90). "
               if any(r.unstable for r in rows) else "")
            + ("Peak memory: the peak resident memory of a fresh process that loaded the file and ran it, measured "
               "apart from the timing (the model's own share is in results.csv). " if memory else "")
            + "Each file's SHA-256 is in results.csv.")
    return note + (" Byte-identical files (same SHA-256): " + " | ".join(same) + "." if same else "")


def _op_profiles(profiles: list[OpProfileEntry]) -> Section:
    """The slowest nodes of each file in each runtime that could profile it; the runtimes that could not, and why."""
    profiled = [(p, p.ops) for p in profiles if p.ops is not None]
    blocks: list[Any] = [Paragraph(
        "Each runtime's own profiler (ONNX Runtime's profiling trace, OpenVINO's performance counters) timed every "
        "node over its profiled runs, apart from the timing run; a share is the node's part of the profiler's total. "
        "Node names are the runtime's, after its own graph rewrites (fused nodes carry the name it gave them). "
        "Each step folder has the full profile and its Model Explorer node data (load it over the same file's "
        "graph to colour the hot layers).")] if profiled else []
    for p, ops in sorted(profiled, key=lambda entry: (entry[0].timed.model if entry[0].timed else "", entry[0].file,
                                                      entry[0].runtime)):
        title = file_label(p.timed) if p.timed else p.file
        blocks.append(Table(["op type", "node", "ms per run", "share"],
                            [[op.op_type, op.node, f"{op.ms_per_run:.4f}", fmt.percent(op.share)]
                             for op in ops.top], align="llrr",
                            caption=f"{title} in {runtime_label(p)}: the {len(ops.top)} slowest of {ops.nodes} "
                                    f"nodes over {ops.runs} runs; by op type: "
                                    + ", ".join(f"{t.op_type} {fmt.percent(t.share)}"
                                                for t in ops.by_op_type[:5]) + "."))
    unavailable = {p.runtime: p.unavailable for p in profiles if p.unavailable is not None}
    if unavailable:
        blocks.append(Paragraph("No per-operator profile from: " + "; ".join(
            f"{runtime_display(runtime)} ({reason})" for runtime, reason in sorted(unavailable.items())) + "."))
    return Section("Where the time goes", blocks)


def _environment(report: StudyReport) -> Section:
    env, study = report.environment, report.study
    libraries = ", ".join(f"{k} {v}" for k, v in (env.get("libraries") or {}).items())
    threads = sorted({t for r in report.flat_rows() if (t := r.get("threads")) is not None})
    return Section("Environment and reproduction", [
        KeyValues([("CPU", str(env.get("cpu"))), ("cores", str(env.get("cores"))), ("OS", str(env.get("os"))),
                   ("Python", str(env.get("python"))), ("libraries", libraries),
                   ("runtime threads", ", ".join(map(str, threads)) or "–"),
                   ("convbench commit", str(env.get("git_commit") or "–")),
                   ("report written", str(env.get("timestamp"))),
                   ("output folder", study.out)]),
        Paragraph("Reproduce (finished steps in the output folder are reused; delete it to start from scratch):"),
        Code(study.command),
        Paragraph("Timings depend on everything else running on the machine: another busy process on the same "
                  "cores can nearly double a median. Compare figures taken on an otherwise idle machine."),
    ])
