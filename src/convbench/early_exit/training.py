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

For the open world (an exit deployed behind a camera meets redundant images of sources it never saw), the
redundant class may come from several sources at stated shares, training images may have their trivial cues
(polarity, brightness, contrast) removed, a generic outlier-exposure set may join the redundant class, and the
threshold may be calibrated on the validation split for a stated goal (:mod:`convbench.early_exit.open_world`); the
card records each (``early_exit.open_world``, ``early_exit.calibration``) and the exported files default to the
calibrated threshold.

Given several exit points (``NetworkOptions(exit_after="auto")`` or a list), the exit is trained at each, scored on
validation and timed as deployed, and the fastest one meeting the accuracy goal becomes ``DIR/early_exit``
(:mod:`convbench.early_exit.placement`; each candidate stays in ``DIR/placement/<point>/``, the sweep in
``DIR/placement.json``).

The options come as records, each checked when built: :class:`NetworkOptions`,
:class:`~convbench.checks.TrainingOptions`, :class:`MixOptions`, :class:`OpenWorldOptions` and a
:class:`~convbench.checks.CalibrationGoal` (from :func:`~convbench.checks.calibration_goal`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from convbench.artifacts import EarlyExitSettings, ModelCard, read_card, write_card
from convbench.checks import CalibrationGoal, TrainingOptions, cue_names, integer_in
from convbench.data import Dataset, MixSettings, Preprocessing, Split, build_mix, check_redundancy, load, load_pools
from convbench.data.mix import RedundantSource, spare_main_images
from convbench.early_exit.open_world import Calibration, calibrate
from convbench.early_exit.placement import (
    PLACEMENT_DIR,
    PLACEMENT_FILE,
    Candidate,
    PlacementError,
    PlacementOptions,
    PlacementSweep,
    candidate_points,
    place_exit,
    sweep_timer,
)
from convbench.env import environment
from convbench.errors import ConfigError, ConvbenchError, DataError
from convbench.io import read_json, write_json
from convbench.locks import locks_output
from convbench.models import defaults
from convbench.models.early_exit import EXIT_OUTPUT, EXIT_REDUNDANT, EarlyExitModel, early_exit
from convbench.outputs import RemovedExports, check_replaceable
from convbench.train.loop import MODEL_FILE, REPORT_FILE, FitSettings, Run, run_fit, write_outputs
from convbench.train.pipeline import make_dataset
from convbench.train.splits import split_settings, training_splits
from convbench.train.trainer import TrainResult, train
from convbench.vocabulary import CUES, DEFAULT_EXIT_HEAD, DEFAULT_OUTLIER_SHARE

EARLY_EXIT_DIR, BASELINE_DIR = "early_exit", "baseline"
_SUMMARY = ("train_accuracy", "val_accuracy", "test_accuracy", "best_epoch", "epochs_run", "params")
# Dropout after the hidden Dense layers of both networks. The VGG paper's 0.5 stalls the main head of a
# width-reduced VGG-19 in a short run (measured on MNIST + Omniglot at α = 0.25: main-class accuracy at
# chance after 2 epochs with 0.5, 86 % without), and the baseline alike; a user can ask for it back.
DROPOUT = 0.0
# Cue-removing augmentation (one seeded draw per training image): polarity flipped with this chance, contrast
# scaled about the image's mean by a factor in CONTRAST, brightness shifted by up to BRIGHTNESS of the range.
POLARITY_FLIP, CONTRAST, BRIGHTNESS = 0.5, (0.5, 1.5), 0.25


@dataclass(frozen=True)
class EarlyExitTrainResult:
    """What :func:`train_early_exit` wrote: both models (with cards) and the summary report."""

    model_path: Path
    baseline_path: Path
    report_path: Path
    report: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class NetworkOptions:
    """The early-exit network (the baseline is the same backbone without the exit), checked when built; its width,
    input size and channels are :class:`~convbench.checks.TrainingOptions`' (both networks share them).

    Attributes:
        backbone: the registered backbone (``vgg19``).
        exit_after: the point the exit follows (``block1`` … ``block5`` for VGG-19, see
            :func:`~convbench.models.early_exit.exit_points`); ``"auto"`` or a list of points: sweep them and keep
            the fastest meeting the accuracy goal (module docstring).
        exit_head: hidden units of the exit's Dense layers before width scaling (default: VGG-19's fc1, fc2);
            ``()`` keeps MaxPool, Flatten and the 2-way softmax alone, the cheapest exit to run.
        l1_weight, l2_weight: weights of the exit and main losses (the reference: 1, 1).
        dropout: rate after every hidden Dense layer of both networks (``DROPOUT`` explains the default).
        model_options: further backbone options (``batch_norm``, ``pooling`` …), for both networks.
        placement: the sweep's accuracy goal and timing (:class:`PlacementOptions`, whose ``timer`` a sweep needs:
            :func:`convbench.early_exit.placement_timing.time_placement`); one point: unused.

    Raises:
        ModelError: an unknown backbone, one without exit points, or an exit point it does not have.
        ConfigError: an empty list of points or one named twice, a sweep without its timer, or ``dropout`` among
            the ``model_options``.
    """

    backbone: str = "vgg19"
    exit_after: str | tuple[str, ...] = "block1"
    exit_head: tuple[int, ...] = DEFAULT_EXIT_HEAD
    l1_weight: float = 1.0
    l2_weight: float = 1.0
    dropout: float = DROPOUT
    model_options: Mapping[str, Any] = field(default_factory=dict)
    placement: PlacementOptions = field(default_factory=PlacementOptions)

    def __post_init__(self) -> None:
        if not isinstance(self.exit_after, str):
            object.__setattr__(self, "exit_after", tuple(self.exit_after))
        object.__setattr__(self, "exit_head", tuple(self.exit_head))
        object.__setattr__(self, "model_options", dict(self.model_options))
        if "dropout" in self.model_options:
            raise ConfigError("model_options: give dropout as NetworkOptions(dropout=…), not among the model options")
        if len(self.points()) > 1:  # before any data: a bad point, or a sweep that could not choose, fails at once
            sweep_timer(self.placement)

    def points(self) -> tuple[str, ...]:
        """The exit points to train (:func:`~convbench.early_exit.placement.candidate_points`)."""
        return candidate_points(self.backbone, self.exit_after)

    def backbone_options(self) -> dict[str, Any]:
        """The options both networks' backbone is built with."""
        return {"dropout": self.dropout, **self.model_options}


@dataclass(frozen=True)
class MixOptions:
    """How the main and redundant sets are mixed, checked when built (:class:`~convbench.data.MixSettings` records
    the mix then built from these, the data and the model's input).

    Attributes:
        redundancy: redundant share of each split of the mix, in [0, 1); ``None`` keeps every image.
        redundant_shares: each redundant source's share of the redundant class (normalised; ``None``: equal
            shares); checked against the sources by :func:`train_early_exit`.
        invert_redundant: invert the redundant images before mixing (see :class:`MixSettings`).
        max_train: cap the training mix at this many images (stratified), to keep CPU runs short.

    Raises:
        ConfigError: redundancy outside [0, 1), or ``max_train`` not an integer ≥ 2.
    """

    redundancy: float | None = None
    redundant_shares: Sequence[float] | None = None
    invert_redundant: bool = False
    max_train: int | None = None

    def __post_init__(self) -> None:
        check_redundancy(self.redundancy)
        if self.max_train is not None:
            integer_in("max_train", self.max_train, 2)
        if self.redundant_shares is not None:
            object.__setattr__(self, "redundant_shares", tuple(self.redundant_shares))


@dataclass(frozen=True)
class OpenWorldOptions:
    """Remedies for the open world (:mod:`convbench.early_exit.open_world`), checked when built.

    Attributes:
        augment_cues: remove trivial cues from the training images, main and redundant alike, at random (one seeded
            draw per image; validation and test images stay as they are): the cues named (some of ``CUES``: flip
            the polarity, shift the brightness, scale the contrast), ``True`` for all of them; kept as the tuple of
            names in ``CUES``' order (:func:`~convbench.checks.cue_names`).
        outlier_exposure: a generic set (data spec or :class:`Dataset`) whose images join the redundant class at
            ``outlier_share`` of it (outlier exposure, Hendrycks et al., ICLR 2019).

    Raises:
        ConfigError: an unknown cue, or an outlier share outside (0, 1) beside an outlier-exposure set.
    """

    augment_cues: bool | Sequence[str] = ()
    outlier_exposure: str | Dataset | None = None
    outlier_share: float = DEFAULT_OUTLIER_SHARE

    def __post_init__(self) -> None:
        object.__setattr__(self, "augment_cues", cue_names(self.augment_cues))
        if self.outlier_exposure is not None and not 0 < self.outlier_share < 1:
            raise ConfigError(f"outlier_share must be in (0, 1), got outlier_share={self.outlier_share!r}")


@locks_output("out")  # one run at a time per output folder (convbench.locks)
def _check_replaceable(out: Path) -> None:
    """Refuse, before any work, a user's own ``training.json`` or ``placement.json`` where the run writes its own
    (the networks' folders are checked by :func:`convbench.train.loop.write_outputs`)."""
    check_replaceable([out / REPORT_FILE], belongs_to=out / EARLY_EXIT_DIR / MODEL_FILE)
    check_replaceable([out / PLACEMENT_FILE], own=_is_placement_sweep, kind="a placement sweep")


def _is_placement_sweep(path: Path) -> bool:
    try:
        PlacementSweep.read(path)
    except (ConvbenchError, OSError, KeyError, TypeError, ValueError):
        return False
    return True


def train_early_exit(main: str | Dataset, redundant: str | Dataset | Sequence[str | Dataset], *,
                     out: str | os.PathLike[str], network: NetworkOptions | None = None,
                     training: TrainingOptions | None = None, mix: MixOptions | None = None,
                     open_world: OpenWorldOptions | None = None, calibration: CalibrationGoal | None = None,
                     resume: bool = True, progress: bool = True) -> EarlyExitTrainResult:
    """Train the early-exit model and its baseline on the mix of ``main`` and ``redundant``.

    Args:
        main: the classes of interest (data spec or :class:`Dataset`).
        redundant: images of none of those classes (data spec or :class:`Dataset`), or a list of such sources
            mixed at ``mix.redundant_shares``: one class "redundant".
        out: output folder (layout in the module docstring).
        network: the network, its exit point(s) and the placement sweep (default: :class:`NetworkOptions`'s).
        training: width, input and training run of both networks, as :func:`convbench.train.train` takes them
            (default: :class:`~convbench.checks.TrainingOptions`').
        mix, open_world: how the sets are mixed, and the open-world remedies (:class:`MixOptions`,
            :class:`OpenWorldOptions`; default: none of either).
        calibration: calibrate the exit threshold on the validation split for this goal, as
            :func:`~convbench.checks.calibration_goal` checks it; ``None``: no calibration.
        resume, progress: as :func:`convbench.train.train`, for both runs.

    Raises:
        ConfigError: shares that do not fit the sources, or a calibration goal unreachable or not certifiable on the
            images counted (the records raise for values out of range, when built).
        DataError: data that cannot be loaded, a redundant set sharing classes with the main set, an empty
            redundant source, or one whose images cannot be brought to the model's channels and size.
        ModelError: an impossible model option.
        PlacementError: a sweep in which no point meets the accuracy goal (the sweep is written first).
    """
    started = time.perf_counter()
    _check_replaceable(Path(out))
    network, training = network or NetworkOptions(), training or TrainingOptions()
    mix, open_world = mix or MixOptions(), open_world or OpenWorldOptions()
    points = network.points()
    sources = _sources(redundant, mix.redundant_shares, open_world)
    main_set = _load(main)
    networks = _Networks(network, training, _preprocessing(main_set, network.backbone, training),
                         main_set.num_classes + 1)
    first = networks.build(points[0])  # before the redundant set is loaded: a bad model option fails in a second
    mixed = _prepare_mix(_source(main, main_set), main_set, sources, networks, mix, open_world, calibration)
    fitter = _Fitter(networks, mixed, Path(out), FitSettings(
        training.epochs, training.batch_size, training.patience, training.seed, training.augment,
        training.val_fraction, training.learning_rate, resume, progress))
    if len(points) == 1:
        ee_report, sweep = fitter.fit(first, fitter.out / EARLY_EXIT_DIR)[0], None
        baseline = fitter.fit_baseline()
    else:  # the baseline first: its validation accuracy is the default goal
        baseline = fitter.fit_baseline()
        sweep = _sweep(fitter, points, first, baseline.report["val_accuracy"])
        ee_report = _adopt(sweep, fitter.out)
    report = _report(fitter, ee_report, baseline.report, sweep, started)
    report_path = write_json(fitter.out / REPORT_FILE, report)
    return EarlyExitTrainResult(fitter.out / EARLY_EXIT_DIR / MODEL_FILE, baseline.model_path, report_path, report)


@dataclass(frozen=True)
class _Networks:
    """What both networks are built from: the options, the input as the main set and backbone make it, and C."""

    options: NetworkOptions
    training: TrainingOptions
    preprocessing: Preprocessing
    classes: int  # C: the main classes and "redundant"

    def build(self, point: str) -> EarlyExitModel:
        """The early-exit network with its exit after ``point``."""
        keras.utils.set_random_seed(self.training.seed)  # every candidate point starts from the same draw
        return early_exit(self.preprocessing.input_shape, self.classes, self.training.width,
                          backbone=self.options.backbone, exit_after=point, head=self.options.exit_head,
                          l1_weight=self.options.l1_weight, l2_weight=self.options.l2_weight,
                          **self.options.backbone_options())


@dataclass(frozen=True)
class _PreparedMix:
    """The mix both networks train on: its settings, images, calibration plan and open-world record (card)."""

    settings: MixSettings
    data: Dataset
    goal: CalibrationPlan | None
    open_world: dict[str, Any] | None


@dataclass(frozen=True)
class _Fitter:
    """Fits the networks on the prepared mix into ``out``: the early-exit one at any point, and the baseline."""

    networks: _Networks
    mix: _PreparedMix
    out: Path
    fitting: FitSettings

    def fit(self, network: EarlyExitModel, folder: Path) -> tuple[dict[str, Any], Run]:
        return _fit(network, self.mix.data, self.networks.preprocessing, folder, width=self.networks.training.width,
                    settings=self.card_settings(network), model_options=self.networks.options.backbone_options(),
                    fitting=self.fitting, goal=self.mix.goal)

    def fit_baseline(self) -> TrainResult:
        return train(self.networks.options.backbone, self.mix.data, out=self.out / BASELINE_DIR,
                     width=self.networks.training.width, input_size=self.mix.settings.size,
                     channels=self.mix.settings.channels, **dataclasses.asdict(self.fitting),
                     **self.networks.options.backbone_options())

    def card_settings(self, network: EarlyExitModel) -> dict[str, Any]:
        """The early-exit settings its card records (:class:`~convbench.artifacts.EarlyExitSettings`)."""
        macs, options = network.mac_split(), self.networks.options
        return {"backbone": options.backbone, "exit_after": network.exit_after, "exit_head": options.exit_head,
                "l1_weight": options.l1_weight,
                "l2_weight": options.l2_weight, "mix": self.mix.settings.to_dict(), "macs": dataclasses.asdict(macs),
                "stem_share": macs.stem_share, "exit_share": macs.exit_share,
                **({"open_world": self.mix.open_world} if self.mix.open_world is not None else {})}


def _preprocessing(main_set: Dataset, backbone: str, training: TrainingOptions) -> Preprocessing:
    """The input both networks take: the backbone's side and scaling unless given, the main set's channels."""
    arch_defaults = defaults(backbone)
    side = training.input_size or arch_defaults.input_size
    return Preprocessing((side, side), training.channels or main_set.image_shape[2], arch_defaults.scale,
                         arch_defaults.offset)


def _prepare_mix(main: str, main_set: Dataset, sources: list[tuple[str | Dataset, float, str]], networks: _Networks,
                 mix: MixOptions, open_world: OpenWorldOptions, calibration: CalibrationGoal | None) -> _PreparedMix:
    """Load the redundant sources and build the mix of them and the main set (its training images stripped of the
    cues named), with the plan for calibrating on it."""
    training, preprocessing = networks.training, networks.preprocessing
    redundant_sets = [_load(spec) for spec, _, _ in sources]
    names = [_source(spec, dataset) for (spec, _, _), dataset in zip(sources, redundant_sets, strict=True)]
    several = tuple(RedundantSource(name, share) for name, (_, share, _) in zip(names, sources, strict=True))
    settings = MixSettings(main, "+".join(names), mix.redundancy, mix.invert_redundant, preprocessing.size,
                           preprocessing.channels, mix.max_train, training.seed, several if len(sources) > 1 else ())
    pools = load_pools(settings, main_set, redundant_sets if len(sources) > 1 else redundant_sets[0])
    mixed = build_mix(*pools, settings)
    goal = None if calibration is None else CalibrationPlan(calibration, spare_main_images(
        *pools, settings, calibration.held_out_main) if calibration.held_out_main else None)
    cues = open_world.augment_cues
    if cues:
        mixed = with_cues_removed(mixed, val_fraction=training.val_fraction, seed=training.seed, cues=cues)
    record = None
    if len(sources) > 1 or cues:
        record = {"sources": [{"spec": name, "share": share, "role": role}
                              for name, (_, share, role) in zip(names, sources, strict=True)],
                  "augment_cues": list(cues)}
    return _PreparedMix(settings, mixed, goal, record)


def _sweep(fitter: _Fitter, points: tuple[str, ...], first: EarlyExitModel, baseline_accuracy: float) -> PlacementSweep:
    """Train the exit at every point (``first`` at the first) and time each as deployed (:func:`place_exit`)."""
    placement, networks = fitter.networks.options.placement, fitter.networks
    given = placement.min_accuracy is not None
    target = placement.min_accuracy if given else baseline_accuracy

    def fit_at(point: str) -> Candidate:
        folder = fitter.out / PLACEMENT_DIR / point
        with warnings.catch_warnings():  # the sweep's own exports of an earlier run: it exports each candidate anew
            warnings.simplefilter("ignore", RemovedExports)
            report, run = fitter.fit(first if point == points[0] else networks.build(point), folder)
        return Candidate(run.model, folder / MODEL_FILE, report["val_accuracy"], run.splits["val"])

    return place_exit(points, fit_at, networks.preprocessing, backbone=networks.options.backbone, min_accuracy=target,
                      goal="given" if given else "baseline", redundancy=fitter.mix.settings.redundancy,
                      options=placement, seed=networks.training.seed)


def _report(fitter: _Fitter, ee_report: dict[str, Any], baseline: dict[str, Any], sweep: PlacementSweep | None,
            started: float) -> dict[str, Any]:
    """``out/training.json``: the mix, both runs' figures, the kept exit's MAC split and the sweep, if any."""
    macs = read_card(fitter.out / EARLY_EXIT_DIR / MODEL_FILE).early_exit  # the kept exit's (the sweep's pick)
    mixed, options, open_world = fitter.mix.data, fitter.networks.options, fitter.mix.open_world
    return {"mix": fitter.mix.settings.to_dict(), "class_names": list(mixed.class_names),
            "sizes": {name: len(getattr(mixed, name)) for name in ("train", "test")},
            "early_exit": {k: ee_report[k] for k in (*_SUMMARY, "test_metrics", "threshold")},
            "baseline": {k: baseline[k] for k in _SUMMARY},
            "macs": macs.macs, "stem_share": macs.stem_share, "exit_share": macs.exit_share,
            "width": fitter.networks.training.width, "backbone": options.backbone, "exit_after": macs.exit_after,
            "exit_head": list(options.exit_head),
            **({"placement": sweep.to_dict()} if sweep is not None else {}),
            **({"open_world": open_world} if open_world is not None else {}),
            **({"calibration": ee_report["calibration"]} if "calibration" in ee_report else {}),
            "wall_seconds": round(time.perf_counter() - started, 3), "environment": environment()}


def _adopt(sweep: PlacementSweep, out: Path) -> dict[str, Any]:
    """Make the sweep's pick ``out/early_exit`` (its model, report, and card with the sweep in ``extra.placement``)
    and write ``out/placement.json``; the pick's report. :class:`PlacementError` when no point met the goal."""
    sweep.write(out / PLACEMENT_FILE)
    if sweep.chosen is None:
        best = max(sweep.rows, key=lambda row: row.val_accuracy)
        raise PlacementError(f"no exit placement reaches validation accuracy ≥ {sweep.min_accuracy:.4f} "
                             f"({sweep.goal}); the best, {best.exit_after}, reaches {best.val_accuracy:.4f} "
                             f"(sweep: {out / PLACEMENT_FILE})")
    source, target = out / PLACEMENT_DIR / sweep.chosen, out / EARLY_EXIT_DIR
    target.mkdir(parents=True, exist_ok=True)
    card = read_card(source / MODEL_FILE)
    for name in (MODEL_FILE, REPORT_FILE):
        shutil.copyfile(source / name, target / name)
    write_card(target / MODEL_FILE, card.evolve(extra={"placement": sweep.to_dict()}))
    return read_json(target / REPORT_FILE)


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
         settings: dict[str, Any], model_options: dict[str, Any], fitting: FitSettings,
         goal: CalibrationPlan | None) -> tuple[dict[str, Any], Run]:
    """Fit the early-exit model with the driver :func:`convbench.train.train` uses (same splits, batches, early
    stopping and checkpoints), calibrate its threshold on the validation split when ``goal`` is given (the saved
    model and every score below use it); write its model, card and report to ``out``. Returns the report and the
    run (its model and splits)."""
    started = time.perf_counter()

    def compiled() -> EarlyExitModel:
        model.compile(optimizer=keras.optimizers.Adam(fitting.learning_rate))  # the loss is the model's own
        return model

    run = run_fit(compiled, mixed, preprocessing, out, fitting,
                  {"arch": f"early_exit_{settings['backbone']}", "width": width, "settings": settings,
                   "model_options": dict(sorted(model_options.items()))})
    calibration = None
    if goal is not None:
        calibration = calibrate_on(run.model, run.splits["val"], preprocessing, goal)
        run.model.threshold = calibration.threshold
        settings = {**settings, "calibration": calibration.to_dict()}
    scores = {name: _evaluate(run.model, part, preprocessing) for name, part in run.splits.items()}
    accuracies = {f"{name}_accuracy": s["accuracy"] for name, s in scores.items()}
    card = ModelCard(arch=run.identity["arch"], width=float(width), input_shape=preprocessing.input_shape,
                     class_names=tuple(mixed.class_names), preprocessing=preprocessing, params=run.model.count_params(),
                     macs=settings["macs"]["stem"] + settings["macs"]["exit_head"] + settings["macs"]["rest"],
                     metrics=accuracies, early_exit=EarlyExitSettings.from_dict(settings), data=mixed.source,
                     split=split_settings(mixed, val_fraction=fitting.val_fraction, seed=fitting.seed,
                                          val_split=fitting.val_split),
                     extra={"training": run.config})
    report = run.report(started, **accuracies, test_metrics=scores["test"], params=card.params, macs=card.macs,
                        threshold=run.model.threshold,
                        **({"calibration": calibration.to_dict()} if calibration is not None else {}))
    write_outputs(out, run.model, card, report)
    return report, run


def _evaluate(model: EarlyExitModel, part: Split, preprocessing: Preprocessing) -> dict[str, float]:
    """L, L1, L2 and every decision metric of ``model`` on ``part`` (Keras ``evaluate``)."""
    batches = make_dataset(part, preprocessing, batch_size=256, shuffle=False)
    return {k: float(v) for k, v in model.evaluate(batches, verbose=0, return_dict=True).items()}


def calibrate_on(model: EarlyExitModel, part: Split, preprocessing: Preprocessing,
                 plan: CalibrationPlan) -> Calibration:
    """The threshold meeting ``plan`` on ``part`` (a validation split) and the plan's held-out main images, from
    the model's P(redundant)."""
    extra = plan.held_out_main
    counted = part if extra is None else Split(np.concatenate([part.images, extra.images]),
                                               np.concatenate([part.labels, extra.labels]))
    batches = make_dataset(counted, preprocessing, batch_size=256, shuffle=False)
    p_redundant = model.predict(batches, verbose=0)[EXIT_OUTPUT][:, EXIT_REDUNDANT]
    calibration = calibrate(counted.labels == model.num_classes - 1, p_redundant, plan.asked.goal,
                            plan.asked.target, plan.asked.confidence)
    return calibration if extra is None else dataclasses.replace(calibration, split="val+held-out main",
                                                                 held_out_main_images=len(extra))


def with_cues_removed(mixed: Dataset, *, val_fraction: float, seed: int, cues: Sequence[str] = CUES) -> Dataset:
    """``mixed`` with the images of its training part (the ones :func:`training_splits` keeps for training, not
    validation) varied at random in the ``cues`` named (:func:`remove_cues`), so the exit cannot tell the sets
    apart by those cues alone; validation and test images are left as they are."""
    train = mixed.train
    # training_splits cuts by labels alone: a tracer carrying each image's index shows where every image goes
    tracer = Split(np.zeros((len(train), 1, 1, 1), np.uint8), train.labels, np.arange(len(train)))
    traced_test = None if mixed.test is None else Split(np.zeros((len(mixed.test), 1, 1, 1), np.uint8),
                                                        mixed.test.labels)
    training = training_splits(dataclasses.replace(mixed, train=tracer, test=traced_test), val_fraction=val_fraction,
                               seed=seed)["train"].groups
    images = train.images.copy()
    images[training] = remove_cues(images[training], np.random.default_rng([seed, 1]), cues)
    return dataclasses.replace(mixed, train=Split(images, train.labels, train.groups))


def remove_cues(images: np.ndarray, rng: np.random.Generator, cues: Sequence[str] = CUES) -> np.ndarray:
    """uint8 ``(N, H, W, C)`` images varied in the ``cues`` named: each flipped in polarity with chance
    ``POLARITY_FLIP``, its contrast scaled about its mean by a factor drawn from ``CONTRAST``, its brightness
    shifted by up to ``BRIGHTNESS`` of 255. Every draw is made whichever cues are named, so one cue's draws are
    the same with or without the others."""
    count = len(images)
    x = images.astype(np.float32)
    flip = (rng.random(count) < POLARITY_FLIP) & ("polarity" in cues)
    contrast = rng.uniform(*CONTRAST, size=(count, 1, 1, 1)) ** ("contrast" in cues)  # x**0 = 1: unchanged
    shift = rng.uniform(-BRIGHTNESS, BRIGHTNESS, size=(count, 1, 1, 1)) * 255 * ("brightness" in cues)
    x[flip] = 255 - x[flip]
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(np.rint(mean + contrast * (x - mean) + shift), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class CalibrationPlan:
    """The calibration asked for (checked by :func:`~convbench.checks.calibration_goal`) and the images it counts
    beside the validation split: ``held_out_main``, the main-class images of the training pool that the capped mix
    left out (``asked.held_out_main`` of them), when asked for."""

    asked: CalibrationGoal
    held_out_main: Split | None = None


def _sources(redundant: str | Dataset | Sequence[str | Dataset], shares: Sequence[float] | None,
             open_world: OpenWorldOptions) -> list[tuple[str | Dataset, float, str]]:
    """``(spec, share, role)`` of every redundant source: the redundant ones at their (normalised) shares, then the
    outlier-exposure set at its share of the redundant class."""
    specs = [redundant] if isinstance(redundant, (str, Dataset)) else list(redundant)
    if not specs:
        raise ConfigError("redundant: name at least one redundant source")
    weights = [1.0] * len(specs) if shares is None else [float(w) for w in shares]
    if len(weights) != len(specs) or not all(w > 0 for w in weights):  # also rejects NaN
        raise ConfigError(f"redundant_shares must be positive, one per redundant source ({len(specs)}), "
                          f"got redundant_shares={list(shares or [])!r}")
    outlier, outlier_share = open_world.outlier_exposure, open_world.outlier_share
    kept = 1.0 if outlier is None else 1 - outlier_share
    found = [(spec, kept * w / sum(weights), "redundant") for spec, w in zip(specs, weights, strict=True)]
    return found + ([(outlier, outlier_share, "outlier_exposure")] if outlier is not None else [])
