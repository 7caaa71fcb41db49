"""The early-exit part of a study report: the reference study's table for the baseline and the early-exit
model, the analytic saving next to the measured one, the sweeps (time vs redundancy, accuracy vs threshold),
the open-world table "trained on → tested on" (exit accuracy, AUROC and FPR at 95 % TPR per redundant source),
for a calibrated exit the validation threshold sweep with the chosen point, and for an exit placed by a sweep
the placement table (each candidate point's MAC split, validation figures and deployed time; the pick).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from convbench.early_exit.open_world import Calibration
from convbench.early_exit.placement import PlacementSweep
from convbench.early_exit.records import Evaluation, SourceRow, Sweep
from convbench.report import formats as fmt
from convbench.report.document import Figure, Paragraph, Section, Table
from convbench.report.plots import new_figure, save_png
from convbench.report.records import EarlyExitEntry
from convbench.report.study_plots import accuracy_vs_threshold, time_vs_redundancy


def early_exit_summary(model: str, evaluation: Evaluation) -> str:
    """One sentence with the figures: time saved against the ideal, and accuracy against the baseline."""
    base, early_exit = evaluation.row("baseline"), evaluation.row("early exit")
    a, threads = evaluation.analytic, evaluation.threads
    ratio = f", {a.saving_vs_ideal:.2f} of it" if a.saving_vs_ideal is not None else ""
    return (f"Early exit ({model}, {evaluation.form} LiteRT form, {threads} thread"
            f"{'s' * (threads > 1)}) at {100 * early_exit.redundancy:.1f} % redundancy: "
            f"{early_exit.time_ms_per_image:.3g} ms per image against {base.time_ms_per_image:.3g} ms for the "
            f"baseline, {fmt.percent(a.saving)} less time (analytic ideal {fmt.percent(a.ideal_saving)}{ratio}); "
            f"accuracy {fmt.percent(early_exit.accuracy)} against {fmt.percent(base.accuracy)}, exit accuracy "
            f"{fmt.percent(early_exit.exit_accuracy)}.")


def early_exit_sections(entries: Sequence[EarlyExitEntry], plots: Path) -> list[Section]:
    """The open-world table when the study tests on named sources or trains several exits, then one section per
    evaluation (LiteRT form × threads), the sweeps' plots in the one that has them and each calibrated model's
    threshold sweep in its first."""
    sections = open_world_sections(entries)
    calibration_drawn: set[str] = set()
    for ee in entries:
        ev, training = ee.evaluation, ee.training
        t, paths, analytic = ev.timing, ev.paths, ev.analytic
        calibration = training.calibration
        blocks: list[Any] = [
            Table(["model", "redundancy %", "loss", "accuracy",
                   f"exit accuracy ({_threshold_text(ev.threshold, calibration)})", "total time (s)",
                   "per-image time (ms)"],
                  [[r.model, f"{100 * r.redundancy:.1f}", f"{r.loss:.4f}", fmt.percent(r.accuracy),
                    fmt.percent(r.exit_accuracy), f"{r.total_s:.3f}", f"{r.time_ms_per_image:.3f}"]
                   for r in ev.rows],
                  caption=f"The reference study's table: {t.images} test images at batch 1, LiteRT "
                          f"({ev.runtime}); the baseline is the same backbone without the exit, trained on the "
                          f"same classes."),
            Paragraph(f"{t.exit_path_images} images took the exit path and {t.full_path_images} the full "
                      f"path. Each path timed alone (median): exit path {paths.exit_path.median_ms:.3f} ms, "
                      f"full path {paths.full_path.median_ms:.3f} ms, baseline "
                      f"{paths.baseline.median_ms:.3f} ms. Analytic model from per-layer MACs: the stem up to "
                      f"the exit is {fmt.percent(analytic.stem_share)} of the backbone and the exit head "
                      f"{fmt.percent(analytic.exit_share)}, so the ideal saving at this redundancy is "
                      f"{fmt.percent(analytic.ideal_saving)}; measured "
                      f"{fmt.percent(analytic.saving)}."),
            Table(["model", "parameters", "test accuracy",
                   f"exit accuracy ({_threshold_text(training.threshold, calibration)})"],
                  [["baseline", f"{training.baseline_params:,}", fmt.percent(training.baseline_test_accuracy),
                    "–"],
                   ["early exit", f"{training.params:,}", fmt.percent(training.test_accuracy),
                    fmt.percent(training.exit_accuracy)]],
                  caption="Training (Keras, test split of the training mix)."),
        ]
        blocks += _sweep_figures(ee, plots)
        if ee.model not in calibration_drawn:
            if training.placement:
                blocks.append(placement_table(training.placement))
            if calibration:
                blocks.append(_calibration_figure(ee.model, calibration, plots))
            calibration_drawn.add(ee.model)
        sections.append(Section(f"Early exit: {ev.form} form, {ev.threads} thread{'s' * (ev.threads > 1)}",
                                blocks))
    return sections


def placement_table(sweep: PlacementSweep) -> Table:
    """The placement sweep: one row per candidate point, the pick marked."""
    rows = [[row.exit_after, f"{row.macs['stem']:,}", f"{row.macs['exit_head']:,}", f"{row.macs['rest']:,}",
             f"{row.stem_share:.3f}", fmt.percent(row.val_accuracy), fmt.percent(row.val_exit_accuracy),
             _number(row.val_auroc), fmt.percent(row.exit_path_share), f"{row.time_ms_per_image:.3f}",
             "chosen" if row.chosen else ("" if row.meets_goal else "below goal")] for row in sweep.rows]
    return Table(["exit after", "stem MACs", "exit MACs", "rest MACs", "stem share", "val accuracy",
                  "val exit accuracy", "val AUROC", "exits (timed)", "ms per image", ""], rows,
                 caption=f"Exit placement: each point trained alike, scored on the validation split and timed at "
                         f"batch 1 in its deployed {sweep.form} LiteRT form ({sweep.threads} thread(s), "
                         f"{sweep.images} validation images at the study's redundancy, {sweep.repeats} calls "
                         f"each, median per image); the fastest with validation accuracy ≥ "
                         f"{fmt.percent(sweep.min_accuracy)} ({sweep.goal}) is kept"
                         f"{'' if sweep.chosen else ': none reached it'}.")


def open_world_sections(entries: Sequence[EarlyExitEntry]) -> list[Section]:
    """The matrix "trained on → tested on" (one row per trained exit, one column per redundant source it was
    tested on alone), from each model's first evaluation; none when there is one exit tested on one source."""
    firsts: dict[str, tuple[EarlyExitEntry, tuple[SourceRow, ...]]] = {}
    for ee in entries:
        if ee.evaluation.by_source:
            firsts.setdefault(ee.model, (ee, ee.evaluation.by_source))
    if not firsts or (len(firsts) == 1 and all(len(by_source) < 2 for _, by_source in firsts.values())):
        return []
    tested = list(dict.fromkeys(row.source for _, by_source in firsts.values() for row in by_source))
    matrix = []
    for ee, by_source in firsts.values():
        cells = {row.source: row for row in by_source}
        matrix.append([ee.model, _trained_on(ee), *(_cell(cells.get(name)) for name in tested)])
    detail = [[ee.model, row.source, fmt.percent(row.exit_accuracy), fmt.percent(row.exit_precision),
               fmt.percent(row.exit_recall), fmt.percent(row.false_exit_rate), _number(row.auroc),
               _number(row.fpr_at_95_tpr), fmt.percent(row.saving), f"{row.threshold:.4g}"]
              for ee, by_source in firsts.values() for row in by_source]
    return [Section("Early exit in the open world: trained on → tested on", [
        Table(["exit", "trained on", *tested], matrix,
              caption="Each cell: exit accuracy · AUROC of P(redundant) · FPR at 95 % TPR (the share of main "
                      "images exiting when 95 % of the redundant ones do), on a test mix of the main test images "
                      "and that source's held-out images alone."),
        Table(["exit", "tested on", "exit accuracy", "precision", "recall", "main exits", "AUROC",
               "FPR@95TPR", "saving", "threshold"], detail,
              caption="Per source: the exit's decisions at the deployed threshold (\"main exits\": main images "
                      "that leave early and lose their class) and the time it saves against the baseline.")])]


def threshold_sweep_plot(calibration: Calibration, path: str | os.PathLike[str]) -> Path:
    """Main images exiting and redundant images exiting against the threshold on the validation split, the chosen
    threshold marked."""
    rows = calibration.sweep
    thresholds = [row[0] for row in rows]
    fig, ax = new_figure(7.0, 4.5)
    ax.plot(thresholds, [100 * row[1] for row in rows], "o-", label="main images exiting (false exits)")
    ax.plot(thresholds, [100 * row[3] for row in rows], "o-", label="redundant images exiting (recall)")
    ax.axvline(calibration.threshold, color="black", linestyle="--",
               label=f"chosen {calibration.threshold:.4g} ({calibration.goal} ≤ {calibration.target:g})")
    ax.set_xscale("logit")
    ax.set_xlabel("exit threshold on P(redundant) (logit scale)")
    ax.set_ylabel("% of validation images")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_png(fig, path)


def _calibration_figure(model: str, calibration: Calibration, plots: Path) -> Figure:
    c = calibration
    bound = f" (95 % upper bound {fmt.percent(c.upper_95, 2)})" if c.upper_95 is not None else ""
    counted = c.main_images if c.goal == "max_false_exit" else c.images
    unresolved = (f" {c.target:g} of {counted} images is less than one: the split cannot resolve the goal, "
                  f"expect more exits on new images." if c.target * counted < 1 and not c.confidence
                  else "")
    held_out = c.held_out_main_images
    where = "the validation split" + (f" and {held_out:,} held-out main images" if held_out else "")
    certified = (f" The goal {c.goal} ≤ {c.target:g} is certified for new images at confidence "
                 f"{c.confidence:g}." if c.confidence else "")
    return Figure(threshold_sweep_plot(c, plots / f"{model}_threshold_calibration.png"),
                  f"Threshold sweep of {model} on {where} (never the test split): the chosen threshold "
                  f"{c.threshold:.4g} lets {fmt.percent(c.false_exit_rate, 2)}{bound} of {c.main_images:,} "
                  f"main images and {fmt.percent(c.exit_recall)} of the redundant ones exit.{unresolved}{certified}")


def _threshold_text(threshold: float, calibration: Calibration | None) -> str:
    """``threshold 0.5``, or ``calibrated threshold 0.93`` when it is the one calibrated on validation: the training
    and the evaluation tables each score the exit at their own threshold, so each names it."""
    calibrated = calibration is not None and math.isclose(threshold, calibration.threshold, rel_tol=1e-6)
    return f"{'calibrated ' if calibrated else ''}threshold {threshold:.4g}"


def _trained_on(ee: EarlyExitEntry) -> str:
    names = ee.training.trained_on
    return ", ".join(names) if names else ee.evaluation.mix.redundant


def _cell(row: SourceRow | None) -> str:
    if row is None:
        return "–"
    return f"{fmt.percent(row.exit_accuracy)} · {_number(row.auroc)} · {_number(row.fpr_at_95_tpr)}"


def _number(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "–"


def _sweep_figures(ee: EarlyExitEntry, plots: Path) -> list[Figure]:
    sweep: Sweep | None = ee.sweep
    if not sweep:
        return []
    stem = f"early_exit_{ee.evaluation.form}_{ee.evaluation.threads}t"
    return [Figure(time_vs_redundancy(sweep.by_redundancy, plots / f"{stem}_time_vs_redundancy.png"),
                   "Time per image against the redundancy of the test mix: baseline, early exit measured, and the "
                   "analytic ideal from per-layer MACs."),
            Figure(accuracy_vs_threshold(sweep.by_threshold, plots / f"{stem}_accuracy_vs_threshold.png"),
                   "Accuracy over the C classes, exit accuracy and the share of images exiting, against the exit "
                   "threshold.")]
