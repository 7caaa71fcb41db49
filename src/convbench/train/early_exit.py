"""Train an early-exit network and its baseline on the same main + redundant mix.

``train_early_exit(main, redundant, out=DIR)`` writes::

    DIR/early_exit/model.keras (+ card, training.json)   VGG-19 with the exit, trained on L = L1 + δ·L2
    DIR/baseline/model.keras   (+ card, training.json)   the same VGG-19 without the exit, on the same C classes
    DIR/training.json                                    the mix, both runs' figures and the MAC split

Both models see the same images in the same splits: the mix (labels ``0 … C-2`` main, ``C-1``
redundant) is built once, its test part from the main set's official test split and a held-out part
of the redundant set (by group, e.g. Omniglot alphabet, when the loader gives groups, so test groups
are unseen), and validation comes out of its training part as in :func:`convbench.train.train`.
Both stop early on validation accuracy over the C classes (the early-exit model's under its decision
rule, see :mod:`convbench.models.early_exit`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from convbench.artifacts import EarlyExitSettings, ModelCard
from convbench.checks import TrainingOptions
from convbench.data import Dataset, MixSettings, Preprocessing, Split, build_mix, check_redundancy, load, load_pools
from convbench.env import environment
from convbench.errors import ConfigError, DataError
from convbench.io import read_json, write_json
from convbench.locks import locks_output
from convbench.models import defaults
from convbench.models.early_exit import EarlyExitModel, early_exit
from convbench.train.loop import MODEL_FILE, REPORT_FILE, FitSettings, run_fit, write_outputs
from convbench.train.pipeline import make_dataset
from convbench.train.trainer import train
from convbench.vocabulary import DEFAULT_WIDTH, TRAIN_DEFAULTS

EARLY_EXIT_DIR, BASELINE_DIR = "early_exit", "baseline"
_SUMMARY = ("train_accuracy", "val_accuracy", "test_accuracy", "best_epoch", "epochs_run", "params")
# Dropout after the hidden Dense layers of both networks. The VGG paper's 0.5 stalls the main head of a
# width-reduced VGG-19 in a short run (measured on MNIST + Omniglot at α = 0.25: main-class accuracy at
# chance after 2 epochs with 0.5, 86 % without), and the baseline alike; a user can ask for it back.
DROPOUT = 0.0


@dataclass(frozen=True)
class EarlyExitTrainResult:
    """What :func:`train_early_exit` wrote: both models (with cards) and the summary report."""

    model_path: Path
    baseline_path: Path
    report_path: Path
    report: dict[str, Any] = field(repr=False)


@locks_output("out")  # one run at a time per output folder (convbench.locks)
def train_early_exit(main: str | Dataset, redundant: str | Dataset, *, out: str | os.PathLike[str],
                     redundancy: float | None = None, width: float = DEFAULT_WIDTH, exit_after: str = "block1",
                     backbone: str = "vgg19", input_size: int | None = None, channels: int | None = None,
                     invert_redundant: bool = False, max_train: int | None = None,
                     epochs: int = TRAIN_DEFAULTS.epochs, batch_size: int = TRAIN_DEFAULTS.batch_size,
                     patience: int = TRAIN_DEFAULTS.patience, seed: int = TRAIN_DEFAULTS.seed, augment: bool = False,
                     val_fraction: float = TRAIN_DEFAULTS.val_fraction, learning_rate: float = 1e-3,
                     l1_weight: float = 1.0, l2_weight: float = 1.0, dropout: float = DROPOUT, resume: bool = True,
                     progress: bool = True,
                     **model_options: Any) -> EarlyExitTrainResult:
    """Train the early-exit model and its baseline on the mix of ``main`` and ``redundant``.

    Args:
        main: the classes of interest (data spec or :class:`Dataset`).
        redundant: images of none of those classes (data spec or :class:`Dataset`): one class "redundant".
        out: output folder (layout in the module docstring).
        redundancy: redundant share of each split of the mix, in [0, 1); ``None`` keeps every image.
        width: width multiplier α of both networks.
        exit_after: the block the exit follows (``block1`` … ``block5``).
        backbone: the registered backbone (``vgg19``).
        input_size: square input side (default: the backbone's); channels: 1 or 3 (default: the main set's).
        invert_redundant: invert the redundant images before mixing (see :class:`MixSettings`).
        max_train: cap the training mix at this many images (stratified), to keep CPU runs short.
        epochs, batch_size, patience, seed, augment, val_fraction, learning_rate, resume, progress: as
            :func:`convbench.train.train`, for both runs.
        l1_weight, l2_weight: weights of the exit and main losses (the reference: 1, 1).
        dropout: rate after every hidden Dense layer of both networks (``DROPOUT`` explains the default).
        **model_options: further backbone options (``batch_norm``, ``pooling`` …), for both networks.

    Raises:
        ConfigError: redundancy outside [0, 1), or an impossible training option.
        DataError: data that cannot be loaded, or a redundant set sharing classes with the main set.
        ModelError: an unknown backbone or exit position, or an impossible model option.
    """
    started = time.perf_counter()
    check_redundancy(redundancy)
    TrainingOptions(width, epochs, batch_size, patience, seed, val_fraction, learning_rate, input_size, channels)
    if max_train is not None and max_train < 2:
        raise ConfigError(f"max_train must be at least 2, got max_train={max_train!r}")
    model_options = {"dropout": dropout, **model_options}
    main_set = _load(main)
    arch_defaults = defaults(backbone)
    side = input_size or arch_defaults.input_size
    preprocessing = Preprocessing((side, side), channels or main_set.image_shape[2], arch_defaults.scale,
                                  arch_defaults.offset)
    # built before the redundant set is loaded: a bad exit position or option fails in a second
    keras.utils.set_random_seed(seed)
    model = early_exit(preprocessing.input_shape, main_set.num_classes + 1, width, backbone=backbone,
                       exit_after=exit_after, l1_weight=l1_weight, l2_weight=l2_weight, **model_options)
    redundant_set = _load(redundant)
    settings = MixSettings(_source(main, main_set), _source(redundant, redundant_set), redundancy, invert_redundant,
                           preprocessing.size, preprocessing.channels, max_train, seed)
    mixed = build_mix(*load_pools(settings, main_set, redundant_set), settings)
    macs = model.mac_split()

    out = Path(out)
    fitting = FitSettings(epochs, batch_size, patience, seed, augment, val_fraction, learning_rate, resume, progress)
    ee_settings = {"backbone": backbone, "exit_after": exit_after, "l1_weight": l1_weight, "l2_weight": l2_weight,
                   "mix": settings.to_dict(), "macs": dataclasses.asdict(macs),
                   "stem_share": macs.stem_share, "exit_share": macs.exit_share}
    ee_report = _fit(model, mixed, preprocessing, out / EARLY_EXIT_DIR, width=width, settings=ee_settings,
                     model_options=model_options, fitting=fitting)
    baseline = train(backbone, mixed, out=out / BASELINE_DIR, width=width, input_size=settings.size,
                     channels=settings.channels, **dataclasses.asdict(fitting), **model_options)

    report = {"mix": settings.to_dict(), "class_names": list(mixed.class_names),
              "sizes": {name: len(getattr(mixed, name)) for name in ("train", "test")},
              "early_exit": {k: ee_report[k] for k in (*_SUMMARY, "test_metrics")},
              "baseline": {k: baseline.report[k] for k in _SUMMARY},
              "macs": ee_settings["macs"], "stem_share": macs.stem_share, "exit_share": macs.exit_share,
              "width": width, "backbone": backbone, "exit_after": exit_after,
              "wall_seconds": round(time.perf_counter() - started, 3), "environment": environment()}
    report_path = write_json(out / REPORT_FILE, report)
    return EarlyExitTrainResult(out / EARLY_EXIT_DIR / MODEL_FILE, baseline.model_path, report_path, report)


def read_mix_settings(directory: str | os.PathLike[str]) -> MixSettings:
    """The mix a :func:`train_early_exit` output folder was trained on (from its ``training.json``)."""
    path = Path(directory) / REPORT_FILE
    try:
        return MixSettings.from_dict(read_json(path)["mix"])
    except FileNotFoundError:
        raise DataError(f"{path} not found: expected the folder written by `convbench early-exit train`") from None
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: not an early-exit training report ({type(e).__name__}: {e})") from None


def _load(spec: str | Dataset) -> Dataset:
    return spec if isinstance(spec, Dataset) else load(spec)


def _source(spec: str | Dataset, dataset: Dataset) -> str:
    return str(spec) if not isinstance(spec, Dataset) else (dataset.source or dataset.name)


def _fit(model: EarlyExitModel, mixed: Dataset, preprocessing: Preprocessing, out: Path, *, width: float,
         settings: dict[str, Any], model_options: dict[str, Any], fitting: FitSettings) -> dict[str, Any]:
    """Fit the early-exit model with the driver :func:`convbench.train.train` uses (same splits, batches, early
    stopping and checkpoints); write its model, card and report to ``out``."""
    started = time.perf_counter()

    def compiled() -> EarlyExitModel:
        model.compile(optimizer=keras.optimizers.Adam(fitting.learning_rate))  # the loss is the model's own
        return model

    run = run_fit(compiled, mixed, preprocessing, out, fitting,
                  {"arch": f"early_exit_{settings['backbone']}", "width": width, "settings": settings,
                   "model_options": dict(sorted(model_options.items()))})
    scores = {name: _evaluate(run.model, part, preprocessing) for name, part in run.splits.items()}
    accuracies = {f"{name}_accuracy": s["accuracy"] for name, s in scores.items()}
    card = ModelCard(arch=run.identity["arch"], width=float(width), input_shape=preprocessing.input_shape,
                     class_names=tuple(mixed.class_names), preprocessing=preprocessing, params=run.model.count_params(),
                     macs=settings["macs"]["stem"] + settings["macs"]["exit_head"] + settings["macs"]["rest"],
                     metrics=accuracies, early_exit=EarlyExitSettings.from_dict(settings),
                     extra={"training": run.config})
    report = run.report(started, **accuracies, test_metrics=scores["test"], params=card.params, macs=card.macs)
    write_outputs(out, run.model, card, report)
    return report


def _evaluate(model: EarlyExitModel, part: Split, preprocessing: Preprocessing) -> dict[str, float]:
    """L, L1, L2 and every decision metric of ``model`` on ``part`` (Keras ``evaluate``)."""
    batches = make_dataset(part, preprocessing, batch_size=256, shuffle=False)
    return {k: float(v) for k, v in model.evaluate(batches, verbose=0, return_dict=True).items()}
