"""The fit loop and the output writer that :func:`~convbench.train.train` and the early-exit trainer share.

``fit`` resumes from the checkpoint folder when it holds the same run, fits with per-epoch checkpoints and
early stopping (:mod:`convbench.train.checkpoint`), and leaves the best epoch's weights in the model;
``write_outputs`` stages model, card and report together and moves each into place, so a failure leaves
the previous files whole.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from convbench.artifacts import ModelCard, card_path, write_card
from convbench.data import Preprocessing, Split
from convbench.io import sha256_file, write_json
from convbench.train import checkpoint
from convbench.train.pipeline import make_dataset, steps_per_epoch
from convbench.train.progress import EpochProgress

MODEL_FILE = "model.keras"
REPORT_FILE = "training.json"


@dataclass(frozen=True)
class Fitted:
    """The outcome of :func:`fit`: the model (best weights), its state, whether it stopped early, where it resumed."""

    model: keras.Model
    state: checkpoint.TrainingState
    stopped_early: bool
    resumed_from_epoch: int


def fit(new_model: Callable[[], keras.Model], splits: dict[str, Split], preprocessing: Preprocessing,
        checkpoint_dir: Path, identity: dict[str, Any], *, epochs: int, batch_size: int, patience: int, seed: int,
        augment: bool, resume: bool, progress: bool) -> Fitted:
    """Fit on ``splits["train"]``, validating on ``splits["val"]``, checkpointing into ``checkpoint_dir``.

    Args:
        new_model: builds and compiles the model when there is no checkpoint to resume (called after seeding).
        identity: what identifies the run (see :func:`identity_of`); resuming requires an identical one.
        epochs, batch_size, patience, seed, augment, resume, progress: as :func:`convbench.train.train`.

    Raises:
        ConfigError: ``checkpoint_dir`` holds a checkpoint of a different run.
    """
    keras.utils.set_random_seed(seed)
    restored = checkpoint.restore(checkpoint_dir, identity) if resume else None
    model, state, best_weights = restored or (new_model(), checkpoint.TrainingState(identity), None)
    resumed_from = state.epoch
    saver = checkpoint.Checkpoint(checkpoint_dir, state, patience=patience, best_weights=best_weights)
    if state.epoch < epochs and not saver.stopped:
        steps = steps_per_epoch(splits["train"], batch_size)
        batches = make_dataset(splits["train"], preprocessing, batch_size=batch_size, shuffle=True, seed=seed,
                               augment=augment, epochs=epochs - state.epoch, first_epoch=state.epoch)
        validation = make_dataset(splits["val"], preprocessing, batch_size=batch_size, shuffle=False)
        callbacks = [saver, *([EpochProgress(epochs, steps)] if progress else [])]
        model.fit(batches, validation_data=validation, epochs=epochs, initial_epoch=state.epoch,
                  steps_per_epoch=steps, callbacks=callbacks, shuffle=False, verbose=0)
    model.set_weights(saver.best_weights)
    return Fitted(model, state, saver.stopped, resumed_from)


def identity_of(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` as JSON gives it back (tuples → lists): the form a checkpoint's identity is compared in."""
    return json.loads(json.dumps(settings, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def write_outputs(out: str | os.PathLike[str], model: keras.Model, card: ModelCard,
                  report: dict[str, Any] | None = None) -> tuple[Path, ModelCard]:
    """Write ``out/model.keras``, its card (with the file's SHA-256) and ``out/training.json``, each replaced whole.

    Returns:
        The model's path and the card as written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".staging-") as staging:
        staged_model = Path(staging) / MODEL_FILE
        model.save(staged_model)
        card = card.evolve(sha256=sha256_file(staged_model))
        moves = [(staged_model, out / MODEL_FILE), (write_card(staged_model, card), card_path(out / MODEL_FILE))]
        if report is not None:
            moves.append((write_json(Path(staging) / REPORT_FILE, report), out / REPORT_FILE))
        for staged, final in moves:
            os.replace(staged, final)
    return out / MODEL_FILE, card
