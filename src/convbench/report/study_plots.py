"""The study report's own plots: latency with its CI and p90 per model and export mode, where the time goes
(load, preprocess, inference stacked), and the early-exit sweeps (time vs redundancy with the analytic ideal,
accuracy vs threshold). The trade-off scatters with their Pareto front come from :mod:`convbench.report.plots`.

Figures are drawn on fresh Agg figures (no pyplot state) and written atomically as PNG.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from matplotlib import colormaps

from convbench.report.plots import new_figure, save_png
from convbench.vocabulary import quantize_label, runtime_display

if TYPE_CHECKING:
    from convbench.early_exit.records import RedundancyPoint, ThresholdPoint
    from convbench.report.records import LatencyRow

PHASE_COLOURS = {"load_ms": "#9fb3c8", "preprocess_ms": "#f2b36f", "median_ms": "#2e7d32"}
PHASE_NAMES = {"load_ms": "model load (once)", "preprocess_ms": "preprocess (decode, resize, normalise)",
               "median_ms": "inference"}


class NamesFile(Protocol):
    """A record naming a model file (a latency row, a :class:`~convbench.report.records.ModelFile`)."""

    @property
    def model(self) -> str: ...

    @property
    def format(self) -> str: ...

    @property
    def quantize(self) -> str: ...


class NamesRun(Protocol):
    """A record naming how a file was run (a latency row, a per-operator profile)."""

    @property
    def runtime(self) -> str: ...

    @property
    def threads(self) -> int: ...

    @property
    def target(self) -> str | None: ...


def file_kind(row: NamesFile) -> str:
    """``tflite int8``: the format and optimisation mode of a model file."""
    return f"{row.format} {quantize_label(row.quantize)}"


def file_label(row: NamesFile) -> str:
    """``mobilenet_v2_0.35_32 · tflite int8``: a model file."""
    return f"{row.model} · {file_kind(row)}"


def runtime_label(row: NamesRun) -> str:
    """``LiteRT, 2 threads``: how a file was run (``… on ssh://pi@board`` when not on this machine)."""
    target = row.target
    return (f"{runtime_display(row.runtime)}, {row.threads} thread{'s' * (row.threads > 1)}"
            + (f" on {target}" if target and target != "local" else ""))


def latency_ci(rows: Sequence[LatencyRow], path: str | os.PathLike[str]) -> Path:
    """Median steady-state inference per model file (bars) and runtime (colours), 95 % CI whiskers, p90 ticks."""
    files = list(dict.fromkeys(file_label(r) for r in rows))
    runtimes = list(dict.fromkeys(runtime_label(r) for r in rows))
    height = 0.8 / len(runtimes)
    fig, ax = new_figure(9.5, 1.4 + 0.22 * len(files) * max(len(runtimes), 1.6))
    colours = _colours(len(runtimes))
    ran = {(file_label(r), runtime_label(r)) for r in rows}
    present = {f: [rt for rt in runtimes if (f, rt) in ran] for f in files}  # bars centred on their file's label

    def bar_y(r: LatencyRow) -> float:
        file, slots = file_label(r), present[file_label(r)]
        return len(files) - 1 - files.index(file) + height * (len(slots) / 2 - slots.index(runtime_label(r)) - 0.5)

    for k, runtime in enumerate(runtimes):
        chosen = [r for r in rows if runtime_label(r) == runtime]
        y = np.array([bar_y(r) for r in chosen])
        med = np.array([r.median_ms for r in chosen])
        # a tool's aggregates have no CI: no whisker
        low = np.array([r.median_ms if r.ci95_low_ms is None else r.ci95_low_ms for r in chosen])
        high = np.array([r.median_ms if r.ci95_high_ms is None else r.ci95_high_ms for r in chosen])
        ax.barh(y, med, height=height * 0.9, color=colours[k], label=runtime)
        ax.errorbar(med, y, xerr=[med - low, high - med], fmt="none", ecolor="black", elinewidth=1, capsize=2)
        ax.scatter([r.p90_ms for r in chosen], y, marker="|", s=80, color="#c62828", zorder=3,
                   label="p90" if k == 0 else None)
    ax.set_yticks(range(len(files) - 1, -1, -1), files)
    ax.set_xlabel("steady-state inference per image, batch 1 (ms): bar = median, whisker = 95 % CI, red tick = p90")
    ax.set_title("Latency per model file and runtime")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return save_png(fig, path)


def phases_stacked(rows: Sequence[LatencyRow], path: str | os.PathLike[str]) -> Path:
    """Load, preprocess and inference medians stacked per model file and runtime: the time to a first answer."""
    labels = [f"{file_label(r)} · {runtime_label(r)}" for r in rows]
    fig, ax = new_figure(9.5, 1.4 + 0.28 * len(rows))
    y = np.arange(len(rows))[::-1]
    left = np.zeros(len(rows))
    for column, colour in PHASE_COLOURS.items():
        widths = np.array([getattr(r, column) or 0.0 for r in rows])
        ax.barh(y, widths, left=left, height=0.7, color=colour, label=PHASE_NAMES[column])
        left += widths
    for yi, total in zip(y, left, strict=True):
        ax.annotate(f"{total:.3g} ms", (total, yi), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=7)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("median time (ms): model load once, then per image preprocess + inference")
    ax.set_title("Where the time goes: load, preprocess, inference")
    ax.set_xlim(0, left.max() * 1.15 if len(rows) and left.max() > 0 else 1)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return save_png(fig, path)


def _colours(n: int) -> list[Any]:
    palette = colormaps["tab10"]
    return [palette(k % 10) for k in range(n)]


def time_vs_redundancy(points: Sequence[RedundancyPoint], path: str | os.PathLike[str]) -> Path:
    """Per-image time of the baseline and the early-exit model against redundancy, with the analytic ideal
    (the baseline's time scaled by ``1 − ideal saving``)."""
    r = [100 * point.redundancy for point in points]
    baseline = [point.timing.baseline_time_ms_per_image for point in points]
    fig, ax = new_figure(7.0, 4.5)
    ax.plot(r, baseline, "s-", color="tab:gray", label="baseline (no exit)")
    ax.plot(r, [point.timing.time_ms_per_image for point in points], "o-", color="tab:blue",
            label="early exit, measured")
    ax.plot(r, [b * (1 - point.ideal_saving) for b, point in zip(baseline, points, strict=True)], "--",
            color="tab:orange", label="early exit, analytic ideal (MACs)")
    ax.set_xlabel("redundancy of the test mix (%)")
    ax.set_ylabel("time per image (ms, LiteRT, batch 1)")
    ax.set_ylim(bottom=0)
    return _save_with_legend(fig, ax, path)


def accuracy_vs_threshold(points: Sequence[ThresholdPoint], path: str | os.PathLike[str]) -> Path:
    """Overall and exit accuracy, and the share of images exiting, against the exit threshold."""
    t = [point.threshold for point in points]
    fig, ax = new_figure(7.0, 4.5)
    for values, label in (([p.accuracy for p in points], "accuracy (C classes)"),
                          ([p.exit_accuracy for p in points], "exit accuracy"),
                          ([p.exit_share for p in points], "share of images exiting")):
        ax.plot(t, [100 * v for v in values], "o-", label=label)
    ax.set_xlabel("exit threshold on P(redundant)")
    ax.set_ylabel("%")
    return _save_with_legend(fig, ax, path)


def sweep_plots(by_redundancy: Sequence[RedundancyPoint], by_threshold: Sequence[ThresholdPoint],
                folder: str | os.PathLike[str]) -> list[Path]:
    """An early-exit evaluation's sweep plots in ``folder``: ``time_vs_redundancy.png`` and
    ``accuracy_vs_threshold.png`` (``convbench early-exit eval --sweep``)."""
    folder = Path(folder)
    return [time_vs_redundancy(by_redundancy, folder / "time_vs_redundancy.png"),
            accuracy_vs_threshold(by_threshold, folder / "accuracy_vs_threshold.png")]


def _save_with_legend(fig: Any, ax: Any, path: str | os.PathLike[str]) -> Path:
    ax.grid(alpha=0.3)
    ax.legend()
    return save_png(fig, path)
