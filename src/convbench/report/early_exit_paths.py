"""Tables of an early-exit per-path breakdown (:mod:`convbench.early_exit.paths`): each part and path alone,
and "where the missing saving goes". Used by ``convbench bench --paths`` and ``benchmarks/early_exit_savings.py``."""

from __future__ import annotations

from collections.abc import Sequence

from convbench.bench.measurement import Measurement
from convbench.early_exit.paths import PARTS, PathBreakdown, SavingAnalysis
from convbench.report.document import Table


def timings_table(breakdown: PathBreakdown, caption: str = "") -> Table:
    """One row per part and per form's path or copy: median and IQR in ms, and the share of the backbone's time
    (raw: each part timed alone, one interpreter call included)."""
    backbone = breakdown.parts["backbone"].median
    macs = {"stem": breakdown.stem_share, "exit_head": breakdown.exit_share, "rest": 1 - breakdown.stem_share,
            "backbone": 1.0}
    rows = [["part", name, *_times(m.median, m.iqr, backbone), f"{macs[name]:.3f}" if name in macs else "",
             _spread(m)]
            for name, m in ((n, breakdown.parts[n]) for n in PARTS)]
    rows += [[form, name.replace("_", " "), *_times(m.median, m.iqr, backbone), "", _spread(m)]
             for form, items in breakdown.forms.items() for name, m in items.items()]
    return Table(["form", "what", "median (ms)", "IQR (ms)", "time / backbone", "MACs / backbone",
                  "rounds spread"], rows, align="llrrrrr",
                 caption=caption or "Each part and each path alone, batch 1 (medians over interleaved rounds)")


def missing_table(analyses: Sequence[SavingAnalysis], caption: str = "") -> Table:
    """The ideal, the savings the paths give and that were measured, and the rows the gap splits into: one column
    per analysis (form), in points of the backbone's time."""
    head = [["ideal saving (MACs)", *(_pct(a.ideal) for a in analyses)],
            ["saving from the path medians", *(_pct(a.from_paths) for a in analyses)],
            ["saving measured on the mix", *(_pct(a.measured) for a in analyses)],
            ["saving / ideal (measured, else from the paths)",
             *("—" if a.ratio is None else f"{a.ratio:.2f}" for a in analyses)]]
    causes = list(dict.fromkeys(m.cause for a in analyses for m in a.missing))
    body = [[cause, *(_pct(next((m.share for m in a.missing if m.cause == cause), None), "+") for a in analyses)]
            for cause in causes]
    total = [["total missing", *(_pct(sum(m.share for m in a.missing), "+") for a in analyses)]]
    return Table(["", *(f"{a.form} (r = {a.redundancy:.3f}, f = {a.exit_fraction:.3f})" for a in analyses)],
                 head + body + total, caption=caption or "Where the missing saving goes (shares of the backbone's "
                                                         "time; the rows add up to the ideal minus the measured "
                                                         "saving, else minus the paths' saving)")


def _times(median: float, iqr: float, backbone: float) -> list[str]:
    return [f"{1e3 * median:.4f}", f"{1e3 * iqr:.4f}", f"{median / backbone:.3f}"]


def _spread(m: Measurement) -> str:
    """(largest − smallest) round median / their median: how much the machine drifted between rounds."""
    spread = m.replicate_spread
    return "" if spread is None else f"{spread:.1%}"


def _pct(x: float | None, sign: str = "") -> str:
    return "—" if x is None else f"{100 * x:{sign}.2f} %"
