"""Plots shared by reports: latency distributions, and trade-off scatters with their Pareto front.

Every function draws on a fresh :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot,
no global state, no display needed), labels both axes with units, and writes a PNG atomically.
Point labels are placed greedily so that no two overlap; a label that fits nowhere becomes a
number listed in a key beside the plot. Crowded scatters label only their Pareto front.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from convbench.bench.stats import select_unit
from convbench.io import atomic_path

DPI = 120
LOG_SCALE_RATIO = 30.0  # use a log latency axis when the slowest median is this many times the fastest
_OFFSETS = [(6, 4, "left", "bottom"), (6, -4, "left", "top"), (-6, 4, "right", "bottom"), (-6, -4, "right", "top"),
            (0, 8, "center", "bottom"), (0, -8, "center", "top"), (8, 0, "left", "center"),
            (-8, 0, "right", "center")]  # (dx, dy) in points, alignment
_LABEL_REACH = (1, 2.5)  # how far out (× the offsets) a label may move to find room, with a leader line
_NUMBER_REACH = (1, 2.5, 4)  # numbers are small: let them go further before giving up
_SHAPES = ("o", "s", "^", "D", "v", "P", "X", "*")
LABEL_ALL = 12  # a trade-off scatter labels every point up to this many, beyond it only the Pareto front


def latency_distribution(samples_s: Mapping[str, Sequence[float]], path: str | os.PathLike[str], *,
                         kind: str = "box", title: str = "Latency distribution") -> Path:
    """One horizontal box (or violin) per label of per-call times given in seconds.

    Boxes span the IQR with the median marked; whiskers reach the 1st and 99th percentiles (fliers
    are not drawn: thousands of samples would hide the boxes). Violins show the 1st–99th percentile.
    """
    if kind not in ("box", "violin"):
        raise ValueError(f"kind must be 'box' or 'violin', got {kind!r}")
    labels = list(samples_s)
    data = [np.asarray(samples_s[k], dtype=np.float64) for k in labels]
    medians = [float(np.median(d)) for d in data]
    unit, scale = select_unit(float(np.median(medians)))
    scaled = [d / scale for d in data]
    fig, ax = new_figure(width=8.0, height=1.2 + 0.38 * len(labels))
    positions = np.arange(len(labels), 0, -1)  # first label on top
    if kind == "box":
        ax.boxplot(scaled, positions=positions, orientation="horizontal", whis=(1, 99), showfliers=False,
                   widths=0.6, medianprops={"color": "black"})
        note = "box: IQR, line: median, whiskers: 1st–99th percentile"
    else:
        clipped = [d[(d >= np.percentile(d, 1)) & (d <= np.percentile(d, 99))] for d in scaled]
        ax.violinplot([c if len(c) > 1 else d for c, d in zip(clipped, scaled, strict=True)], positions=positions,
                      orientation="horizontal", showmedians=True, widths=0.8)
        note = "violin: 1st–99th percentile, line: median"
    ax.set_yticks(positions, labels)
    ax.set_xlabel(f"latency per call ({unit}); {note}")
    if max(medians) / max(min(medians), 1e-300) > LOG_SCALE_RATIO:
        ax.set_xscale("log")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return save_png(fig, path)


def pareto_front(xs: Sequence[float], ys: Sequence[float], *, maximize_y: bool = True) -> list[int]:
    """Indices of the points not dominated by another (smaller x is better; larger y when ``maximize_y``),
    ordered by x. Ties in x keep only the best y."""
    sign = -1.0 if maximize_y else 1.0
    order = sorted(range(len(xs)), key=lambda i: (xs[i], sign * ys[i]))
    front, best = [], float("inf")
    for i in order:
        if sign * ys[i] < best:
            front.append(i)
            best = sign * ys[i]
    return front


def tradeoff_scatter(xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], path: str | os.PathLike[str],
                     *, xlabel: str, ylabel: str, maximize_y: bool = True, groups: Sequence[str] | None = None,
                     markers: Sequence[str] | None = None, fills: Sequence[str] | None = None, logx: bool = False,
                     title: str = "") -> Path:
    """Scatter of ``labels`` at ``(xs, ys)`` with the Pareto front (smaller x, better y) drawn as a step line.

    Points on the front are ringed; ``groups`` colour the points, ``markers`` give them a shape and ``fills``
    (two categories at most) fill the first and leave the second hollow, all keyed in a legend outside the
    axes. Up to :data:`LABEL_ALL` points are all labelled; beyond that only the front is, and the colours,
    shapes and fills tell the others apart.
    """
    fig = Figure(figsize=(10.0, 6.0), dpi=DPI)
    FigureCanvasAgg(fig)
    # fixed axes rectangle (no layout engine): labels are placed in display coordinates, which must not
    # move afterwards; the legend lives to the right of it and savefig's tight bbox crops the rest
    ax = fig.add_axes((0.08, 0.1, 0.6, 0.82))
    groups = list(groups) if groups is not None else [""] * len(xs)
    markers = list(markers) if markers is not None else [""] * len(xs)
    fills = list(fills) if fills is not None else [""] * len(xs)
    filled = list(dict.fromkeys(fills))
    if len(filled) > 2:
        raise ValueError(f"fills: at most two categories (filled, hollow), got {filled}")
    colour_of = {g: colormaps["tab10"](k % 10) for k, g in enumerate(dict.fromkeys(groups))}
    shape_of = {m: _SHAPES[k % len(_SHAPES)] for k, m in enumerate(dict.fromkeys(markers))}
    for g, m, f in dict.fromkeys(zip(groups, markers, fills, strict=True)):
        idx = [i for i in range(len(xs)) if (groups[i], markers[i], fills[i]) == (g, m, f)]
        hollow = f == filled[-1] and len(filled) == 2
        ax.scatter([xs[i] for i in idx], [ys[i] for i in idx], marker=shape_of[m], s=30, zorder=3, linewidths=1.2,
                   facecolors="white" if hollow else colour_of[g], edgecolors=colour_of[g])
    front = pareto_front(xs, ys, maximize_y=maximize_y)
    fx, fy = [xs[i] for i in front], [ys[i] for i in front]
    ax.step(fx, fy, where="post", color="black", linestyle="--", linewidth=1, zorder=2)
    ax.scatter(fx, fy, s=110, facecolors="none", edgecolors="black", linewidths=1.2, zorder=4)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.margins(0.12)
    on_front = set(front)
    crowded = len(xs) > LABEL_ALL
    order = front + ([] if crowded else [i for i in range(len(xs)) if i not in on_front])  # front labels first
    _, unplaced = annotate_without_overlap(ax, xs, ys, labels, order=order)
    handles: list[Any] = [Line2D([], [], linestyle="none", marker="o", color=c, label=g)
                          for g, c in colour_of.items() if g]
    handles += [Line2D([], [], linestyle="none", marker=shape, color="#555555", label=m)
                for m, shape in shape_of.items() if m]
    handles += [Line2D([], [], linestyle="none", marker="o", color="#555555", label=f,
                       markerfacecolor="white" if k == 1 else "#555555") for k, f in enumerate(filled) if f]
    handles.append(Line2D([], [], color="black", linestyle="--", linewidth=1, marker="o", markerfacecolor="none",
                          markersize=9, label="Pareto front" + (" (labelled)" if crowded else "")))
    handles += [Line2D([], [], linestyle="none", label=f"[{n}] {labels[i]}") for n, i in enumerate(unplaced, 1)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    return save_png(fig, path)


def accuracy_vs_latency(labels: Sequence[str], latency_s: Sequence[float], accuracy: Sequence[float],
                        path: str | os.PathLike[str], *, groups: Sequence[str] | None = None,
                        markers: Sequence[str] | None = None, fills: Sequence[str] | None = None,
                        title: str = "Accuracy vs latency") -> Path:
    """Top-1 accuracy (fraction 0–1, shown in %) against median latency (seconds, shown in an auto unit)."""
    unit, scale = select_unit(float(np.median(latency_s)))
    xs = [t / scale for t in latency_s]
    return tradeoff_scatter(xs, [100.0 * a for a in accuracy], labels, path, xlabel=f"median latency ({unit})",
                            ylabel="top-1 accuracy (%)", maximize_y=True, groups=groups, markers=markers,
                            fills=fills, logx=_wide(xs),
                            title=title)


def size_vs_latency(labels: Sequence[str], latency_s: Sequence[float], size_bytes: Sequence[int],
                    path: str | os.PathLike[str], *, groups: Sequence[str] | None = None,
                    markers: Sequence[str] | None = None, fills: Sequence[str] | None = None,
                    title: str = "Model size vs latency") -> Path:
    """File size against median latency; the front marks the smallest file for each latency."""
    unit, scale = select_unit(float(np.median(latency_s)))
    xs = [t / scale for t in latency_s]
    size_unit, size_scale = _byte_unit(max(size_bytes))
    return tradeoff_scatter(xs, [s / size_scale for s in size_bytes], labels, path,
                            xlabel=f"median latency ({unit})", ylabel=f"file size ({size_unit})", maximize_y=False,
                            groups=groups, markers=markers, fills=fills, logx=_wide(xs), title=title)


def annotate_without_overlap(ax: Axes, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], *,
                             order: Sequence[int] | None = None, fontsize: float = 7.5) -> tuple[list[Text], list[int]]:
    """Label each point beside it where the label overlaps no other label, marker or leader line and stays
    in the axes (a label moved away from its point gets a leader line, which crosses nothing either).

    Tries eight directions at growing distances; a label that fits nowhere is replaced by a number
    ``[k]`` (k counts the unplaced ones from 1) placed the same way, or left off if even that fails.
    Returns the placed texts and the indices of the points whose full label did not fit.
    """
    renderer = ax.figure.canvas.get_renderer()
    ax.set_xlim(ax.get_xlim())  # freeze limits: placement is computed in display coordinates
    ax.set_ylim(ax.get_ylim())
    layout = _Layout(ax.get_window_extent(renderer), ax.transData.transform(np.column_stack([xs, ys])))
    order = list(order) if order is not None else list(range(len(xs)))
    # pass 1: reserve a spot for every point's number, so that long labels placed first cannot take them all
    for i in order:
        text = _place(ax, renderer, layout, i, (xs[i], ys[i]), "[99]", fontsize, _NUMBER_REACH, owner=i)
        if text is not None:
            text.remove()
    # pass 2: the full label where it fits among the others' reservations, else the number in the spot kept for it
    placed: list[Text] = []
    unplaced: list[int] = []
    for i in order:
        layout.release(i)
        text = _place(ax, renderer, layout, i, (xs[i], ys[i]), labels[i], fontsize, _LABEL_REACH)
        if text is None:
            unplaced.append(i)
            text = _place(ax, renderer, layout, i, (xs[i], ys[i]), f"[{len(unplaced)}]", fontsize, _NUMBER_REACH)
        if text is not None:
            placed.append(text)
    return placed, unplaced


class _Layout:
    """What is taken, in display pixels: marker boxes, and label boxes with their leader lines (sample points);
    a label entry may be a reservation owned by a point, released when that point is labelled."""

    MARKER_HALF = 7.0  # pixels: covers the ring drawn around Pareto points

    def __init__(self, frame: Bbox, points: np.ndarray) -> None:
        self.frame, self.points = frame, points
        self.markers = [Bbox.from_extents(x - self.MARKER_HALF, y - self.MARKER_HALF, x + self.MARKER_HALF,
                                          y + self.MARKER_HALF) for x, y in points]
        self.labels: list[tuple[int | None, Bbox, np.ndarray | None]] = []  # (owner, box, leader)

    def leader(self, i: int, box: Bbox) -> np.ndarray:
        """Sample points of the line from marker ``i`` to the nearest point of ``box``, outside the marker."""
        start = self.points[i]
        end = np.clip(start, [box.x0, box.y0], [box.x1, box.y1])
        samples = start + np.linspace(0.0, 1.0, 24)[:, None] * (end - start)
        return samples[np.abs(samples - start).max(axis=1) > self.MARKER_HALF + 1]

    def fits(self, i: int, box: Bbox, leader: np.ndarray | None) -> bool:
        if not (self.frame.contains(box.x0, box.y0) and self.frame.contains(box.x1, box.y1)):
            return False
        if any(box.overlaps(m) for m in self.markers):
            return False
        for _, other, other_leader in self.labels:
            if box.overlaps(other) or (other_leader is not None and box.count_contains(other_leader)):
                return False
            if leader is not None and other.count_contains(leader):
                return False
        return leader is None or not any(m.count_contains(leader) for k, m in enumerate(self.markers) if k != i)

    def add(self, box: Bbox, leader: np.ndarray | None, owner: int | None = None) -> None:
        self.labels.append((owner, box, leader if leader is not None and len(leader) else None))

    def release(self, owner: int) -> None:
        self.labels = [entry for entry in self.labels if entry[0] != owner]


def _place(ax: Axes, renderer: Any, layout: _Layout, i: int, xy: tuple[float, float], label: str, fontsize: float,
           reaches: Sequence[float], owner: int | None = None) -> Text | None:
    """Annotate point ``i`` at the first candidate spot that fits; record it in ``layout`` (owned: a reservation)."""
    for reach in reaches:
        for dx, dy, ha, va in _OFFSETS:
            text = ax.annotate(label, xy, xytext=(dx * reach, dy * reach), textcoords="offset points", ha=ha, va=va,
                               fontsize=fontsize, arrowprops={"arrowstyle": "-", "lw": 0.5} if reach > 1 else None)
            # the text's own box: Annotation's box would include the leader line, which touches its marker
            text.update_positions(renderer)
            box = Text.get_window_extent(text, renderer).expanded(1.04, 1.15)
            leader = layout.leader(i, box) if reach > 1 else None
            if layout.fits(i, box, leader):
                layout.add(box, leader, owner)
                return text
            text.remove()
    return None


MAX_FIGURE_HEIGHT = 40.0  # inches: a table-like plot of many rows stops growing here


def new_figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A fresh Agg figure (no pyplot state) of ``width`` x ``height`` inches (height capped) with one axes."""
    fig = Figure(figsize=(width, min(height, MAX_FIGURE_HEIGHT)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def save_png(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` to ``path`` as PNG, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return Path(path)


def _wide(xs: Sequence[float]) -> bool:
    return min(xs) > 0 and max(xs) / min(xs) > LOG_SCALE_RATIO


def _byte_unit(n: float) -> tuple[str, float]:
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return unit, scale
    return "bytes", 1.0
