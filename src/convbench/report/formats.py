"""How figures are written in every report table and sentence ("–" for a figure that is missing)."""

from __future__ import annotations

from typing import Any


def percent(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.9943`` → ``99.4 %``."""
    return "–" if x is None else f"{100 * x:.{digits}f} %"


def count(n: int | None) -> str:
    """An integer with thousands separators: ``90482`` → ``90,482``."""
    return "–" if n is None else f"{n:,}"


def size(n: int | None) -> str:
    """Bytes in kB below a megabyte, else in MB."""
    if n is None:
        return "–"
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def seconds(s: float | None) -> str:
    """Whole seconds: ``486.4`` → ``486 s``."""
    return "–" if s is None else f"{s:.0f} s"


def median_ci(median_ms: float, low_ms: float | None, high_ms: float | None) -> str:
    """A median with its 95 % CI, in ms: ``0.088 [0.087, 0.088]`` (``[CI not available]`` for a result that holds a
    tool's aggregates instead of samples)."""
    if low_ms is None or high_ms is None:
        return f"{median_ms:.3f} [CI not available]"
    return f"{median_ms:.3f} [{low_ms:.3f}, {high_ms:.3f}]"


def ms_ci(row: dict[str, Any]) -> str:
    """A comparison row's median with its 95 % CI (:func:`median_ci`)."""
    return median_ci(row["median_ms"], row.get("ci95_low_ms"), row.get("ci95_high_ms"))
