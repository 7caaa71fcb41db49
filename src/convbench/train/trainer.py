"""Train a registered architecture on a dataset and write the model, its card and a training report.

Seeding and its limits: :func:`train` seeds Python, NumPy and TensorFlow (``keras.utils.set_random_seed``),
and the split, the batch order and the augmentation are pure functions of the seed (see
:mod:`convbench.train.pipeline`). On CPU the same command on the same machine then gives the same
history and weights, bit for bit. The limits: TensorFlow's CPU kernels may
sum in an order that depends on the thread count and instruction set, so another machine or thread
setting may differ in the last digits, and from there in an early-stopping decision. ``train`` does not
call ``tf.config.experimental.enable_op_determinism()``: it is process-wide and cannot be undone, and it
makes ops without a deterministic kernel raise in any other code of the process; the kernels training
uses on CPU were deterministic without it (two processes give bit-identical weights: ``tests/train/test_resume.py``).
Set ``TF_DETERMINISTIC_OPS=1`` to ask TensorFlow for it anyway (GPU kernels need it; they were not measured).

Resuming: the checkpoint written after every epoch holds everything an epoch hands to the next (every model
variable, the dropout layers' random generators included, the optimizer's state, the early-stopping state;
see :mod:`convbench.train.checkpoint`), so a run killed at any moment, even mid-save, and run again ends with
the weights and figures of the run that was never interrupted, bit for bit. ``epochs=2`` then ``epochs=4``
on one folder is one 4-epoch run in two sittings, identical to ``epochs=4`` at once (nothing in an epoch
depends on the number of epochs asked for); the first sitting's outputs are a 2-epoch run's (its best of 2
epochs). A checkpoint that the asked-for run would never have reached (more epochs done than ``epochs``, or
past an epoch where ``patience`` stops the run) is refused with a :class:`ConfigError`; ``resume=False``
starts over.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from convbench.artifacts import ModelCard
from convbench.checks import TrainingOptions
from convbench.data import Dataset, DataSpec, Preprocessing, load
from convbench.locks import locks_output
from convbench.models import ModelDefaults, build, defaults, total_macs
from convbench.train.evaluation import accuracy
from convbench.train.loop import REPORT_FILE, FitSettings, check_model_folder, identity_of, run_fit, write_outputs
from convbench.train.splits import SPLITS, check_val_split, split_settings
from convbench.vocabulary import TRAIN_DEFAULTS


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        model_path: ``out/model.keras`` (its card is ``out/model.keras.json``).
        report_path: ``out/training.json``.
        card: the model card written beside the model.
        report: the content of ``training.json``.
        model: the trained model (best epoch's weights).
    """

    model_path: Path
    report_path: Path
    card: ModelCard
    report: dict[str, Any]
    model: keras.Model = field(repr=False)

    @property
    def test_accuracy(self) -> float:
        return self.report["test_accuracy"]


@locks_output("out")  # one run at a time per output folder (convbench.locks)
def train(arch: str, data: str | Dataset | None = None, *, out: str | os.PathLike[str],
          width: float = TRAIN_DEFAULTS.width, input_size: int | tuple[int, int] | None = None,
          channels: int | None = None, epochs: int = TRAIN_DEFAULTS.epochs, batch_size: int = TRAIN_DEFAULTS.batch_size,
          patience: int = TRAIN_DEFAULTS.patience, seed: int = TRAIN_DEFAULTS.seed, augment: bool = False,
          val_fraction: float = TRAIN_DEFAULTS.val_fraction, val_split: str = TRAIN_DEFAULTS.val_split,
          learning_rate: float = 1e-3, resume: bool = True,
          progress: bool = True, skip_bad_images: bool = False,
          **model_options: Any) -> TrainResult:
    """Train ``arch`` on ``data`` (Adam, early stopping); write ``out/model.keras``, its card, ``out/training.json``.

    Validation is a stratified, seeded part of the training split; the test set is the dataset's
    official test split (or a seeded held-out part, see :mod:`convbench.train.splits`). Training
    stops after ``patience`` epochs without a better validation accuracy (ties: lower validation loss)
    and keeps the best epoch's weights. The checkpoint in ``out/checkpoint``, written after every epoch,
    lets an interrupted run resume bit for bit; it stays there, so a finished run can also be continued with
    more epochs (or more patience), as if they had been asked for from the start.

    Args:
        arch: a registered architecture (:func:`convbench.models.list_models`).
        data: data spec (``NAME``, ``NAME:PATH?key=value``) or a loaded :class:`Dataset`; ``None`` → embedded digits.
        out: output folder.
        width: width multiplier α.
        input_size: model input side (or ``(H, W)``); defaults to the architecture's default input size.
        channels: 1 or 3 input channels; defaults to the dataset's.
        epochs: most epochs to train (counting those done before a resume).
        batch_size: images per training step.
        patience: epochs without improvement of validation accuracy before stopping.
        seed: fixes the splits, initial weights, batch order and augmentation.
        augment: random flips and small shifts of the training images.
        val_fraction: share of the training split held out for validation.
        val_split: ``random`` images, or whole ``groups`` of images (e.g. ``fruits360``'s frame sequences:
            a random split of near-identical frames cannot tell models apart; see :mod:`convbench.train.splits`).
        learning_rate: Adam's learning rate.
        resume: continue from ``out/checkpoint`` when it holds the same run (raises :class:`ConfigError`
            when it holds a different one, or one past ``epochs`` or ``patience``); ``False`` starts over
            (and removes the checkpoint). Either way the files exported from the model replaced (beside it, with
            cards naming it as their source) are removed with it.
        progress: show a progress bar per epoch on stderr.
        skip_bad_images: skip unreadable images while loading ``data`` (the loader reports how many).
        **model_options: architecture options passed to :func:`convbench.models.build` (``dropout=0.2`` …).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ModelError: unknown architecture, width ≤ 0, input too small, unknown option.
        ConfigError: an impossible training option, a checkpoint of a different run in ``out``, or a model,
            report or checkpoint folder in ``out`` that convbench did not write (it never replaces one).
        DataError: data that cannot be loaded.

    Example:
        >>> result = train("mobilenet_v2", "fruits360:fruits.zip", out="runs/mnv2", width=0.35, input_size=48)
        >>> result.test_accuracy
    """
    started = time.perf_counter()
    TrainingOptions(width, epochs, batch_size, patience, seed, val_fraction, learning_rate, channels=channels)
    check_val_split(val_split)
    arch_defaults = defaults(arch)  # ModelError for an unknown architecture, before loading (may take seconds)
    check_model_folder(out)  # a model or report there that convbench did not write: refused before any work
    dataset = data if isinstance(data, Dataset) else load(data, skip_bad_images=skip_bad_images)
    preprocessing = _preprocessing(arch_defaults, dataset, input_size, channels)
    source = (dataset.source or dataset.name) if isinstance(data, Dataset) else str(DataSpec.parse(data))

    def new_model() -> keras.Model:
        model = build(arch, preprocessing.input_shape, dataset.num_classes, width=width, **model_options)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    settings = FitSettings(epochs, batch_size, patience, seed, augment, val_fraction, learning_rate, resume, progress,
                           val_split=val_split)
    run = run_fit(new_model, dataset, preprocessing, out, settings,
                  {"arch": arch, "width": width, "model_options": dict(sorted(model_options.items())), "data": source})
    model = run.model
    scores = {f"{name}_accuracy": accuracy(model, run.splits[name], preprocessing) for name in SPLITS}
    params, macs = model.count_params(), total_macs(model)
    card = ModelCard(arch=arch, width=float(width), input_shape=preprocessing.input_shape,
                     class_names=tuple(dataset.class_names), preprocessing=preprocessing, params=params, macs=macs,
                     metrics=scores, data=source, split=split_settings(dataset, val_fraction=val_fraction, seed=seed,
                                                                      val_split=val_split),
                     extra={"training": run.config})
    report = run.report(started, seed=seed, **scores, params=params, macs=macs, data_meta=identity_of(dataset.meta))
    out = Path(out)
    model_path, card = write_outputs(out, model, card, report)
    return TrainResult(model_path, out / REPORT_FILE, card, report, model)


def _preprocessing(arch_defaults: ModelDefaults, dataset: Dataset, input_size: int | tuple[int, int] | None,
                   channels: int | None) -> Preprocessing:
    """Input size and scaling from the architecture's defaults unless given; channels from the data unless given."""
    size = arch_defaults.input_size if input_size is None else input_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    return Preprocessing(size, channels=dataset.image_shape[2] if channels is None else channels,
                         scale=arch_defaults.scale, offset=arch_defaults.offset)
