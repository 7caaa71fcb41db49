"""A rich progress bar per training epoch (a Keras callback; ``fit`` itself runs with ``verbose=0``)."""

from __future__ import annotations

import time
from typing import Any

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class EpochProgress(keras.callbacks.Callback):
    """One bar per epoch (steps, loss, accuracy) and a summary line when the epoch ends, on stderr.

    The summary lines are also what a log file captures when stderr is not a terminal.
    """

    def __init__(self, epochs: int, steps: int, console: Console | None = None) -> None:
        super().__init__()
        self.epochs = epochs
        self.steps = steps
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task: Any = None
        self._epoch_started = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"),
                                  console=self.console, transient=True)
        self._progress.start()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_started = time.perf_counter()
        self._task = self._progress.add_task(f"epoch {epoch + 1}/{self.epochs}", total=self.steps, metrics="")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._progress.update(self._task, completed=batch + 1, metrics=_format(logs))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        elapsed = time.perf_counter() - self._epoch_started
        self._progress.remove_task(self._task)
        self.console.print(f"epoch {epoch + 1}/{self.epochs}  {_format(logs)}  ({elapsed:.1f} s)", highlight=False,
                           soft_wrap=True)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._progress.stop()


def _format(logs: dict[str, Any] | None) -> str:
    return "  ".join(f"{key} {float(value):.4f}" for key, value in (logs or {}).items())
