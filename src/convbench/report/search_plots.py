"""The search report's plot: every complete trial's validation accuracy against its measured latency, the marker's
area proportional to the exported file's size, the Pareto front ringed and the recommendation starred."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.lines import Line2D

from convbench.bench.stats import select_unit
from convbench.report.plots import new_figure, save_png
from convbench.search import SearchResult

MARKER_AREA = (15.0, 400.0)  # points² of the smallest and the largest file


def search_pareto_plot(result: SearchResult, path: str | os.PathLike[str]) -> Path | None:
    """Write the plot to ``path``; ``None`` (nothing written) when no trial completed."""
    complete = [t for t in result.trials if t.state == "complete" and t.latency is not None]
    if not complete:
        return None
    unit, scale = select_unit(float(np.median([t.latency.median_ms / 1e3 for t in complete])))  # type: ignore[union-attr]
    xs = np.array([t.latency.median_ms / 1e3 / scale for t in complete])  # type: ignore[union-attr]
    ys = np.array([100.0 * (t.val_accuracy or 0.0) for t in complete])
    sizes = np.array([float(t.file_size_bytes or 0) for t in complete])
    low, high = MARKER_AREA
    areas = low + (high - low) * (np.sqrt(sizes) - np.sqrt(sizes.min())) / max(float(np.ptp(np.sqrt(sizes))), 1e-12)
    archs = list(dict.fromkeys(t.params.arch for t in complete))
    colour = {a: colormaps["tab10"](k % 10) for k, a in enumerate(archs)}
    fig, ax = new_figure(9.0, 5.5)
    for arch in archs:
        idx = [i for i, t in enumerate(complete) if t.params.arch == arch]
        ax.scatter(xs[idx], ys[idx], s=areas[idx], color=colour[arch], alpha=0.6, edgecolors="white", label=arch)
    front = [i for i, t in enumerate(complete) if t.number in result.pareto]
    ax.scatter(xs[front], ys[front], s=areas[front] + 60, facecolors="none", edgecolors="black", linewidths=1.2)
    if result.recommendation is not None:
        best = next((i for i, t in enumerate(complete) if t.number == result.recommendation), None)
        if best is not None:
            ax.scatter([xs[best]], [ys[best]], marker="*", s=260, color="gold", edgecolors="black", zorder=5)
    ax.axhline(100.0 * result.settings.floor, color="grey", linestyle="--", linewidth=1)
    if xs.min() > 0 and xs.max() / xs.min() > 30:
        ax.set_xscale("log")
    ax.set_xlabel(f"median latency, {result.settings.target} ({unit})")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Search trials: accuracy vs latency (marker area: file size)")
    ax.grid(alpha=0.3)
    handles = ax.get_legend_handles_labels()[0]
    handles += [Line2D([], [], linestyle="none", marker="o", markerfacecolor="none", markeredgecolor="black",
                       markersize=10, label="Pareto front"),
                Line2D([], [], linestyle="none", marker="*", color="gold", markeredgecolor="black", markersize=13,
                       label="recommended"),
                Line2D([], [], color="grey", linestyle="--", label=f"floor {100 * result.settings.floor:g} %")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    return save_png(fig, path)
