"""What a running study shows: an overall bar, a bar for the step in progress, and a concise log.

Every log line also goes to ``OUT/run.log`` (with a timestamp), so a study run in the background
leaves a readable record. Steps that draw their own bars (training's per-epoch bar) run with the
overall display paused: two live displays on one terminal would overwrite each other.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from convbench.experiment.step import Step
from convbench.io import naming_writes


class Display:
    """Progress and log of one study run (``enabled=False``: the log file only)."""

    def __init__(self, name: str, total: int, done: int, log_path: Path, enabled: bool = True) -> None:
        self.console = Console(stderr=True, highlight=False)
        self.enabled = enabled
        self.log_path = log_path
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, transient=True, disable=not enabled)
        self.overall = self.progress.add_task(f"study {name}", total=total, completed=done)
        self.current: Any = None

    def __enter__(self) -> Display:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def log(self, text: str) -> None:
        """One line on the terminal (above the bars) and in ``run.log``."""
        if self.enabled:
            self.console.print(text)
        stamp = _dt.datetime.now().isoformat(timespec="seconds")
        with naming_writes(self.log_path), open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"{stamp} {text}\n")

    def start(self, step: Step[Any], number: int, total: int, own_progress: bool) -> None:
        self.log(f"[{number}/{total}] {step.describe()} …")
        if own_progress:
            self.progress.stop()
        else:
            self.current = self.progress.add_task(f"  {step.describe()}", total=None)

    def finish(self, step: Step[Any], text: str, own_progress: bool) -> None:
        if self.current is not None:
            self.progress.remove_task(self.current)
            self.current = None
        if own_progress:
            self.progress.start()
        self.progress.advance(self.overall)
        self.log(f"      {text}")

    def skip(self, step: Step[Any], why: str) -> None:
        self.progress.advance(self.overall)
        self.log(f"  {why:<7} {step.describe()}")
