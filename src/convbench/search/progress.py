"""The live view of a running search (rich, on stderr): trials running / done / pruned (and how many of those
before any training, by the latency screen), the best feasible trial, the Pareto front's size and the time left
of the budget."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

from convbench.search.records import TrialRecord


class SearchProgress:
    """A context manager; :meth:`update` redraws the view (a no-op when ``enabled`` is false)."""

    def __init__(self, floor: float, *, max_latency_ms: float | None = None, enabled: bool = True) -> None:
        self.floor, self.max_latency_ms = floor, max_latency_ms
        self.enabled = enabled
        self._live: Live | None = None

    def __enter__(self) -> SearchProgress:
        if self.enabled:
            self._live = Live(Table(), console=Console(file=sys.stderr), refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(kind, error, tb)

    def update(self, records: Sequence[TrialRecord], running: Sequence[str], *, time_left_s: float,
               pareto_size: int) -> None:
        if self._live is None:
            return
        table = Table(title="convbench search", show_header=False, box=None)
        counts = {state: sum(r.state == state for r in records)
                  for state in ("complete", "pruned", "failed", "infeasible")}
        table.add_row("running", ", ".join(running) or "-")
        early = sum(r.pruned_before_training for r in records)
        table.add_row("done", f"{counts['complete']} complete, {counts['pruned']} pruned ({early} before training), "
                              f"{counts['failed']} failed, {counts['infeasible']} infeasible")
        feasible = [r for r in records if r.feasible(self.floor, self.max_latency_ms) and r.latency is not None]
        best = min(feasible, key=lambda r: r.latency.median_ms, default=None)  # type: ignore[union-attr]
        table.add_row("best feasible", "-" if best is None else
                      f"#{best.number} {best.params.label}: {best.latency.median_ms:.3f} ms, "  # type: ignore[union-attr]
                      f"val {best.val_accuracy:.4f}, {best.file_size_bytes:,} B")
        table.add_row("Pareto front", f"{pareto_size} trial{'s' * (pareto_size != 1)}")
        table.add_row("time left", f"{max(0.0, time_left_s) / 60:.1f} min")
        self._live.update(table)
