"""The early-exit part of a study report: the reference study's table for the baseline and the early-exit
model, the analytic saving next to the measured one, and the sweeps (time vs redundancy, accuracy vs threshold).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convbench.report import formats as fmt
from convbench.report.document import Figure, Paragraph, Section, Table
from convbench.report.study_plots import accuracy_vs_threshold, time_vs_redundancy


def early_exit_summary(ee: dict[str, Any]) -> str:
    """One sentence with the figures: time saved against the ideal, and accuracy against the baseline."""
    base, model = _row(ee, "baseline"), _row(ee, "early exit")
    a = ee["analytic"]
    ratio = f", {a['saving_vs_ideal']:.2f} of it" if a.get("saving_vs_ideal") is not None else ""
    return (f"Early exit ({ee['model']}, {ee['form']} LiteRT form, {ee['threads']} thread"
            f"{'s' * (ee['threads'] > 1)}) at {100 * model['redundancy']:.1f} % redundancy: "
            f"{model['time_ms_per_image']:.3g} ms per image against {base['time_ms_per_image']:.3g} ms for the "
            f"baseline, {fmt.percent(a['saving'])} less time (analytic ideal {fmt.percent(a['ideal_saving'])}{ratio}); "
            f"accuracy {fmt.percent(model['accuracy'])} against {fmt.percent(base['accuracy'])}, exit accuracy "
            f"{fmt.percent(model['exit_accuracy'])}.")


def early_exit_sections(evaluations: list[dict[str, Any]], plots: Path) -> list[Section]:
    """One section per evaluation (LiteRT form × threads), the sweeps' plots in the one that has them."""
    sections = []
    for ee in evaluations:
        t = ee["timing"]
        paths = ee["paths"]
        training = ee["training"]
        blocks: list[Any] = [
            Table(["model", "redundancy %", "loss", "accuracy", "exit accuracy", "total time (s)",
                   "per-image time (ms)"],
                  [[r["model"], f"{100 * r['redundancy']:.1f}", f"{r['loss']:.4f}", fmt.percent(r["accuracy"]),
                    fmt.percent(r["exit_accuracy"]), f"{r['total_s']:.3f}", f"{r['time_ms_per_image']:.3f}"]
                   for r in ee["rows"]],
                  caption=f"The reference study's table: {t['images']} test images at batch 1, LiteRT "
                          f"({ee['runtime']}), threshold {ee['threshold']:g}; the baseline is the same backbone "
                          f"without the exit, trained on the same classes."),
            Paragraph(f"{t['exit_path_images']} images took the exit path and {t['full_path_images']} the full "
                      f"path. Each path timed alone (median): exit path {paths['exit_path']['median_ms']:.3f} ms, "
                      f"full path {paths['full_path']['median_ms']:.3f} ms, baseline "
                      f"{paths['baseline']['median_ms']:.3f} ms. Analytic model from per-layer MACs: the stem up to "
                      f"the exit is {fmt.percent(ee['analytic']['stem_share'])} of the backbone and the exit head "
                      f"{fmt.percent(ee['analytic']['exit_share'])}, so the ideal saving at this redundancy is "
                      f"{fmt.percent(ee['analytic']['ideal_saving'])}; measured "
                      f"{fmt.percent(ee['analytic']['saving'])}."),
            Table(["model", "parameters", "test accuracy", "exit accuracy"],
                  [["baseline", f"{training['baseline_params']:,}", fmt.percent(training["baseline_test_accuracy"]),
                    "–"],
                   ["early exit", f"{training['params']:,}", fmt.percent(training["test_accuracy"]),
                    fmt.percent(training.get("exit_accuracy"))]],
                  caption="Training (Keras, test split of the training mix)."),
        ]
        blocks += _sweep_figures(ee, plots)
        sections.append(Section(f"Early exit: {ee['form']} form, {ee['threads']} thread{'s' * (ee['threads'] > 1)}",
                                blocks))
    return sections


def _sweep_figures(ee: dict[str, Any], plots: Path) -> list[Figure]:
    sweep = ee.get("sweep")
    if not sweep:
        return []
    stem = f"early_exit_{ee['form']}_{ee['threads']}t"
    return [Figure(time_vs_redundancy(sweep["by_redundancy"], plots / f"{stem}_time_vs_redundancy.png"),
                   "Time per image against the redundancy of the test mix: baseline, early exit measured, and the "
                   "analytic ideal from per-layer MACs."),
            Figure(accuracy_vs_threshold(sweep["by_threshold"], plots / f"{stem}_accuracy_vs_threshold.png"),
                   "Accuracy over the C classes, exit accuracy and the share of images exiting, against the exit "
                   "threshold.")]


def _row(ee: dict[str, Any], model: str) -> dict[str, Any]:
    return next(r for r in ee["rows"] if r["model"] == model)
