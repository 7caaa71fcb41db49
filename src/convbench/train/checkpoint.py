"""Per-epoch checkpoints with early stopping, so an interrupted training run resumes where it stopped.

A checkpoint is a folder written whole (atomically) after every epoch:

- ``last.keras``: the model with its optimizer state (Keras saves both);
- ``best.npz``: the weights of the best epoch so far (restored at the end, as early stopping does);
- ``state.json``: the run's identity (config), epochs done, history, early-stopping state, time spent.

Early stopping lives here rather than in ``keras.callbacks.EarlyStopping`` because its state (best
score, best weights, epochs without improvement) must survive the interruption, and Keras' callback
resets it at the start of every ``fit``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from convbench.errors import ConfigError
from convbench.io import atomic_path, read_json

MONITOR = ("val_accuracy", "val_loss")  # best epoch: highest validation accuracy, ties broken by lower loss


@dataclass
class TrainingState:
    """Where a run stands after some epochs.

    Attributes:
        config: what identifies the run; resuming requires an identical one.
        epoch: epochs completed.
        history: per-epoch metrics as Keras reports them (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``).
        best_accuracy, best_loss: validation accuracy and loss of the best epoch so far.
        best_epoch: 1-based epoch of the best epoch (0 before the first epoch).
        wait: epochs since the last improvement (early stopping stops at ``wait == patience``).
        train_seconds: time spent in epochs, summed over every session of the run.
    """

    config: dict[str, Any]
    epoch: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    best_accuracy: float = -math.inf
    best_loss: float = math.inf
    best_epoch: int = 0
    wait: int = 0
    train_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Checkpoint(keras.callbacks.Callback):
    """Keras callback: early stopping on validation accuracy plus a checkpoint folder after every epoch.

    An epoch is better when its validation accuracy is higher, or equal with a lower validation loss:
    on easy data validation accuracy reaches 1.0 within a few epochs, and accuracy alone would then
    stop training (and keep the weights) long before the model has converged.

    Args:
        directory: the checkpoint folder (replaced whole after each epoch).
        state: the run's state; updated in place.
        patience: stop after this many epochs without a better validation accuracy.
        best_weights: the best epoch's weights when resuming (``None`` for a fresh run).
    """

    def __init__(self, directory: Path, state: TrainingState, *, patience: int,
                 best_weights: list[np.ndarray] | None = None) -> None:
        super().__init__()
        self.directory = directory
        self.state = state
        self.patience = patience
        self.best_weights = best_weights
        self._epoch_started = 0.0

    @property
    def stopped(self) -> bool:
        """Whether early stopping has ended the run."""
        return self.state.epoch > 0 and self.state.wait >= self.patience

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        state = self.state
        state.train_seconds += time.perf_counter() - self._epoch_started
        state.epoch = epoch + 1
        for key, value in logs.items():
            state.history.setdefault(key, []).append(float(value))
        accuracy, loss = (float(logs[key]) for key in MONITOR)
        if accuracy > state.best_accuracy or (accuracy == state.best_accuracy and loss < state.best_loss):
            state.best_accuracy, state.best_loss, state.best_epoch, state.wait = accuracy, loss, epoch + 1, 0
            self.best_weights = self.model.get_weights()
        else:
            state.wait += 1
        self.save()
        if self.stopped:
            self.model.stop_training = True

    def save(self) -> None:
        """Write the whole checkpoint folder atomically."""
        with atomic_path(self.directory) as tmp:
            tmp.mkdir()
            self.model.save(tmp / "last.keras")
            np.savez(tmp / "best.npz", *self.best_weights)
            (tmp / "state.json").write_text(json.dumps(self.state.to_dict(), indent=2) + "\n", encoding="utf-8")


def restore(directory: Path, config: dict[str, Any]) -> tuple[keras.Model, TrainingState, list[np.ndarray]] | None:
    """The model (with optimizer state), state and best weights saved in ``directory``; ``None`` when absent.

    Raises:
        ConfigError: the checkpoint belongs to a run with a different config (names the differences).
    """
    if not (directory / "state.json").exists():
        return None
    state = TrainingState(**read_json(directory / "state.json"))
    differences = sorted(key for key in config.keys() | state.config.keys()
                         if config.get(key) != state.config.get(key))
    if differences:
        changes = "; ".join(f"{k}: {state.config.get(k)!r} -> {config.get(k)!r}" for k in differences)
        raise ConfigError(f"{directory}: checkpoint of a different run ({changes}); use another output folder, "
                          f"or resume=False (--no-resume) to start over")
    model = keras.models.load_model(directory / "last.keras")
    with np.load(directory / "best.npz") as saved:
        best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    return model, state, best_weights
