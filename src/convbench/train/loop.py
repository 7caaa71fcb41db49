"""The training driver that :func:`~convbench.train.train` and the early-exit trainer share.

``run_fit`` splits the data as every run does, identifies the run and fits it (:class:`FitSettings`) with the
same batches, checkpoints and early stopping for a plain network and an early-exit one; the caller only
builds the model, scores it and writes its card. ``_fit`` resumes from the checkpoint folder when it holds the
same run, fits with per-epoch checkpoints and early stopping (:mod:`convbench.train.checkpoint`), and leaves
the best epoch's weights in the model; ``write_outputs`` stages model, card and report together and moves
each into place, so a failure leaves the previous files whole.

A model folder holds ``model.keras``, its card, ``training.json`` and ``checkpoint/``: :func:`check_model_folder`
refuses to train into one where any of them exists and convbench did not write it (the rule of
:mod:`convbench.outputs`), before anything is fitted or removed; ``write_outputs`` removes the files exported from
the model it replaces (they belong to it), then moves the new card, model and report into place.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from convbench.artifacts import ModelCard, card_path, write_card
from convbench.data import Dataset, Preprocessing, Split
from convbench.env import environment
from convbench.io import naming_writes, sha256_file, write_json
from convbench.outputs import check_replaceable, remove_exports_of
from convbench.train import checkpoint
from convbench.train.pipeline import make_dataset, steps_per_epoch
from convbench.train.progress import EpochProgress
from convbench.train.splits import training_splits

MODEL_FILE = "model.keras"
REPORT_FILE = "training.json"
CHECKPOINT_DIR = "checkpoint"


@dataclass(frozen=True)
class FitSettings:
    """How a network is fitted; the meaning of each field is :func:`convbench.train.train`'s argument of that name."""

    epochs: int
    batch_size: int
    patience: int
    seed: int
    augment: bool
    val_fraction: float
    learning_rate: float
    resume: bool = True
    progress: bool = True
    val_split: str = "random"
    val_seed: int | None = None  # the validation draw's seed, when not ``seed`` (convbench.train.splits)


@dataclass(frozen=True)
class Fitted:
    """The outcome of :func:`_fit`: the model (best weights), its state, whether it stopped early, where it resumed."""

    model: keras.Model
    state: checkpoint.TrainingState
    stopped_early: bool
    resumed_from_epoch: int


def _fit(new_model: Callable[[], keras.Model], splits: dict[str, Split], preprocessing: Preprocessing,
        checkpoint_dir: Path, identity: dict[str, Any], *, epochs: int, batch_size: int, patience: int, seed: int,
        augment: bool, resume: bool, progress: bool) -> Fitted:
    """Fit on ``splits["train"]``, validating on ``splits["val"]``, checkpointing into ``checkpoint_dir``.

    Args:
        new_model: builds and compiles the model; called once, right after seeding, by a fresh and a resumed
            run alike (a resumed run then assigns the checkpoint's values to every variable).
        identity: what identifies the run (see :func:`identity_of`); resuming requires an identical one.
        epochs, batch_size, patience, seed, augment, resume, progress: as :func:`convbench.train.train`.

    Raises:
        ConfigError: ``checkpoint_dir`` holds a checkpoint of a different run, or one past ``epochs`` / ``patience``.
    """
    keras.utils.set_random_seed(seed)  # before building: a resumed run rebuilds the model as the fresh run did
    if resume:
        restored = checkpoint.restore(checkpoint_dir, identity, new_model, epochs=epochs, patience=patience)
    else:
        checkpoint.start_over(checkpoint_dir)
        restored = None
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


@dataclass(frozen=True)
class Run:
    """A fitted run (see :func:`run_fit`).

    Attributes:
        model: the model with its best epoch's weights.
        splits: the train / val / test splits it used.
        identity: what identifies the run (its checkpoint's identity).
        fitted: the loop's outcome (state, early stop, resumed epoch).
        settings: how it was fitted.
    """

    model: keras.Model
    splits: dict[str, Split]
    identity: dict[str, Any]
    fitted: Fitted
    settings: FitSettings

    @property
    def config(self) -> dict[str, Any]:
        """The run's identity with its stopping rule: the ``training`` part of a card and ``config`` of a report."""
        return {**self.identity, "epochs": self.settings.epochs, "patience": self.settings.patience}

    def report(self, started: float, **figures: Any) -> dict[str, Any]:
        """``training.json``: what every run reports, with the caller's ``figures`` (accuracies, size …) inside.

        Args:
            started: ``time.perf_counter()`` when the caller began (the report's wall time counts from it).
        """
        state = self.fitted.state
        return {"arch": self.identity["arch"], "config": self.config, "history": state.history,
                "best_epoch": state.best_epoch, "epochs_run": state.epoch, "stopped_early": self.fitted.stopped_early,
                "resumed_from_epoch": self.fitted.resumed_from_epoch, **figures,
                "train_seconds": round(state.train_seconds, 3), "wall_seconds": round(time.perf_counter() - started, 3),
                "environment": environment()}


def run_fit(new_model: Callable[[], keras.Model], dataset: Dataset, preprocessing: Preprocessing,
            out: str | os.PathLike[str], settings: FitSettings, identity: dict[str, Any]) -> Run:
    """Fit a network on ``dataset``'s training splits with checkpoints in ``out/checkpoint``.

    Args:
        new_model: builds and compiles the network (see :func:`_fit`).
        identity: what identifies the network (``arch``, ``width``, options …); the data, splits, preprocessing
            and fit settings are added here, so a checkpoint resumes only the very same run.

    Raises:
        ConfigError: ``out/checkpoint`` holds a checkpoint of a different run.
    """
    check_model_folder(out)
    splits = training_splits(dataset, val_fraction=settings.val_fraction, seed=settings.seed,
                             val_split=settings.val_split, val_seed=settings.val_seed)
    identity = identity_of({**identity, "class_names": dataset.class_names,
                            "split_sizes": {name: len(s) for name, s in splits.items()},
                            "preprocessing": preprocessing.to_dict(), "batch_size": settings.batch_size,
                            "seed": settings.seed, "augment": settings.augment, "val_fraction": settings.val_fraction,
                            "learning_rate": settings.learning_rate,
                            # only when not the default: runs from before the setting keep their identity
                            **({"val_split": settings.val_split} if settings.val_split != "random" else {}),
                            **({"val_seed": settings.val_seed} if settings.val_seed is not None else {})})
    fitted = _fit(new_model, splits, preprocessing, Path(out) / CHECKPOINT_DIR, identity, epochs=settings.epochs,
                 batch_size=settings.batch_size, patience=settings.patience, seed=settings.seed,
                 augment=settings.augment, resume=settings.resume, progress=settings.progress)
    return Run(fitted.model, splits, identity, fitted, settings)


def check_model_folder(out: str | os.PathLike[str]) -> None:
    """Refuse a model folder holding a model, card, training report or checkpoint folder that convbench did not write
    (:func:`convbench.outputs.check_replaceable`): training would replace or remove it.

    Raises:
        ConfigError: naming the first such file.
    """
    out = Path(out)
    check_replaceable([out / MODEL_FILE, card_path(out / MODEL_FILE), out / REPORT_FILE], belongs_to=out / MODEL_FILE)
    check_replaceable([out / CHECKPOINT_DIR], own=checkpoint.is_checkpoint_folder,
                      kind="a checkpoint folder: it holds more than convbench's epoch-NNNN checkpoints")


def identity_of(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` as JSON gives it back (tuples → lists): the form a checkpoint's identity is compared in."""
    return json.loads(json.dumps(settings, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def write_outputs(out: str | os.PathLike[str], model: keras.Model, card: ModelCard,
                  report: dict[str, Any] | None = None) -> tuple[Path, ModelCard]:
    """Write ``out/model.keras``, its card (with the file's SHA-256) and ``out/training.json``, each replaced whole.

    The files exported from the model replaced (:func:`convbench.outputs.exports_of`) are removed first: they belong
    to it, and left beside the new model they would be timed as if they were its. The card goes into place before
    the model, so no moment leaves a model without a card (which the next run would refuse as not convbench's).

    Returns:
        The model's path and the card as written.

    Raises:
        ConfigError: ``out`` holds a model, card or report that convbench did not write (:func:`check_model_folder`).
    """
    out = Path(out)
    check_model_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".staging-") as staging:
        staged_model = Path(staging) / MODEL_FILE
        with naming_writes(out / MODEL_FILE):  # Keras's own OSError names no file ("No space left on device")
            model.save(staged_model)
        card = card.evolve(sha256=sha256_file(staged_model))
        moves = [(write_card(staged_model, card), card_path(out / MODEL_FILE)), (staged_model, out / MODEL_FILE)]
        if report is not None:
            moves.append((write_json(Path(staging) / REPORT_FILE, report), out / REPORT_FILE))
        remove_exports_of(out / MODEL_FILE)
        for staged, final in moves:
            os.replace(staged, final)
    return out / MODEL_FILE, card
