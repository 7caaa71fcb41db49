"""The work of one trial, in parts that may run on different nodes: screen, train + export, then time.

``screen`` builds the trial's architecture untrained, exports it with the trial's export mode (int8 calibrated on
a few validation images) and times it briefly on the target runtime: latency does not depend on the weights, so
a trial that cannot beat the fastest feasible trial so far (or a ``max_latency`` cap) is pruned before any
training (:meth:`convbench.search.engine._Search.after_screen` decides). Under Ray it runs on the timing node.

``train_and_export`` builds the trial's architecture, trains it with our trainer's fit
(:func:`convbench.train.loop.run_fit`: the same splits, checkpoints and early stopping as ``convbench train``),
stops it early when the pruning rule says so, writes ``model.keras`` with its card and exports it with our
exporter (parity checked on the validation split). ``time_exported`` times the exported file with our harness
at batch 1 on the target runtime. Under Ray the second part runs only on the node holding the timing slot.

Pruning. Optuna refuses ``trial.report``/``should_prune`` in multi-objective studies, and under Ray the training
runs far from the study anyway. So the rule runs here, on plain numbers: the per-epoch validation scores of the
trials that ended before this one started (kept as trial user attributes in the study) are replayed into a
throw-away in-memory single-objective study with Optuna's own :class:`~optuna.pruners.SuccessiveHalvingPruner`
(min resource 1 epoch, reduction factor 3: rungs at epochs 1, 3, 9 …), and this trial's scores are reported
into it at each rung. Successive halving rather than Hyperband: with the few epochs a CPU search affords there
is one useful bracket, and that is successive halving. The reported score is validation accuracy with the
validation loss as a tie-break far below one image's worth of accuracy, so trials whose validation accuracy
saturates at 100 % are still ranked (by loss) instead of all being promoted.

Repeated validation splits. On data whose validation saturates (Fruits-360: near-identical frames), one split's
100 % says little: a small model reached 100 % on held-out runs of frames and 99.39 % on Test, and one
configuration's accuracy moved by up to 3 points from one split (and seed) to another. With ``Fit.val_repeats``
= k > 1, a trial that meets the floor on its first split is trained again, from scratch, on k − 1 other splits
(the validation draw's seed advanced by 1, 2 …; the test split stays the search seed's, so no repeat trains or
validates on a test image of a dataset without an official one), each exported in the trial's mode and scored on its
own validation split, stopping at the first split below the floor; the trial's validation accuracy is the worst
split's (its loss the worst too). A configuration must then meet the floor however its validation falls, not
on one lucky split. The shipped model stays the first split's; the others only vouch for its configuration.
The pruning rule sees the first split only, and trials below the floor on it cost no repeat.

Neither part reads the test split: validation only, for training, the parity check and the timing's sample image.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import optuna
from PIL import Image

from convbench.artifacts import ModelCard
from convbench.bench import BenchCase, Measurement, bench, bench_interleaved
from convbench.data import Dataset, Preprocessing, Split
from convbench.errors import ConvbenchError, ModelError, OutputError
from convbench.export import export
from convbench.io import naming_writes
from convbench.models import build, defaults, total_macs
from convbench.search.records import Latency, TrialParams
from convbench.train.loop import FitSettings, Run, run_fit, write_outputs
from convbench.train.splits import split_settings, training_splits
from convbench.vocabulary import DEFAULT_ROUNDS, RUNTIMES

REDUCTION_FACTOR = 3  # successive halving keeps the best third at each rung
TIE_WEIGHT = 1e-6  # validation loss weight in the pruning score: ranks ties of accuracy, never outweighs one image
SAMPLE_IMAGE = "sample.png"  # a validation image: the harness times preprocessing on a real file
SCREEN_DIR = "screen"  # in a trial's folder: the untrained model and its export, timed before training
CALIBRATION_IMAGES = 16  # int8 calibration of the screen's untrained export: its ranges only shape the latency
REPEAT_DIR = "repeat"  # in a trial's folder: repeat-1, repeat-2 … hold its trainings on the repeated splits


@dataclass(frozen=True)
class Fit:
    """How every trial of a search trains (one setting for all, so trials differ only by their params)."""

    epochs: int
    patience: int
    batch_size: int
    seed: int
    val_fraction: float
    val_split: str = "random"
    learning_rate: float = 1e-3
    val_repeats: int = 1  # validation splits a trial meeting the floor must meet it on (see the module docstring)
    val_seed: int | None = None  # a repeated split's validation draw (None: ``seed``'s; the test split is seed's)


@dataclass(frozen=True)
class TrialJob:
    """Everything a node needs to run a trial's training, besides the data.

    Attributes:
        folder: the trial's folder (on a filesystem every node sees).
        deadline: when the search's budget ends; training stops after the epoch running then (a huge trial cannot
            hold the search far past its budget), and the trial is exported and timed with its best epoch so far.
        earlier_scores: per-epoch pruning scores of the trials that ended before this one was asked.
    """

    number: int
    params: TrialParams
    folder: Path
    fit: Fit
    data_source: str
    export_format: str
    earlier_scores: tuple[tuple[float, ...], ...] = ()
    deadline: float = float("inf")  # Unix time the budget ends: a trial running then stops after its epoch
    floor: float = 0.0  # a trial below it on its first split is not trained on the repeated ones


@dataclass(frozen=True)
class Trained:
    """What training and export gave (``state`` ``complete`` means: exported and ready to time)."""

    state: str
    val_accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy_per_epoch: list[float] = field(default_factory=list)
    val_accuracy_repeats: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    epochs_run: int = 0
    params_count: int | None = None
    exported: Path | None = None
    size_bytes: int | None = None
    node: str = ""
    error: str | None = None


def node_name() -> str:
    """This process's node: the host name, and the Ray node id when running inside a Ray worker."""
    host = socket.gethostname()
    if "ray" in sys.modules:  # never import Ray here: in-process searches must not load it
        ray = sys.modules["ray"]
        if ray.is_initialized():
            return f"{host}/{ray.get_runtime_context().get_node_id()[:8]}"
    return host


def rungs(epochs: int) -> list[int]:
    """The epochs at which the pruning rule decides (1, 3, 9 … below ``epochs``)."""
    found, rung = [], 1
    while rung < epochs:
        found.append(rung)
        rung *= REDUCTION_FACTOR
    return found


def should_prune(earlier: tuple[tuple[float, ...], ...], scores: list[float]) -> bool:
    """Optuna's successive halving on this trial's per-epoch ``scores`` against the ``earlier`` trials' (see module).

    Only once at least ``REDUCTION_FACTOR`` earlier trials reached this epoch. Optuna's pruner, unable to suspend a
    trial and promote it later, lets one of its first η − 1 competitors through only when it beats them all; here
    the first trial is a cheap seed trained in full, so every later trial had to beat that one model at epochs 1
    and 3 and on a noisy validation split almost none did (a Fruits-360 search on the groups split, stopped after 12
    of its 60 minutes: 25 of the 26 trials after the seed pruned, all against it). Waiting for η competitors is
    asynchronous successive halving's own rule (a rung promotes its top 1/η once it holds η trials), here without
    the suspension.
    """
    if sum(len(values) >= len(scores) for values in earlier) < REDUCTION_FACTOR:
        return False
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    shadow = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0),
                                 pruner=optuna.pruners.SuccessiveHalvingPruner(
                                     min_resource=1, reduction_factor=REDUCTION_FACTOR))
    for values in earlier:  # replay: registers each earlier trial's rung values
        replay = shadow.ask()
        for step, value in enumerate(values, start=1):
            replay.report(value, step)
            replay.should_prune()
        shadow.tell(replay, state=optuna.trial.TrialState.PRUNED)
    trial = shadow.ask()
    for step, value in enumerate(scores, start=1):
        trial.report(value, step)
    return trial.should_prune()


def _preprocessing(params: TrialParams, dataset: Dataset) -> Preprocessing:
    arch_defaults = defaults(params.arch)
    return Preprocessing((params.input_size, params.input_size), channels=dataset.image_shape[2],
                         scale=arch_defaults.scale, offset=arch_defaults.offset)


def _options(params: TrialParams) -> dict[str, object]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.options.items()}  # JSON gave lists


def _card(job: TrialJob, model: keras.Model, preprocessing: Preprocessing, dataset: Dataset,
          metrics: dict[str, float], extra: dict[str, object]) -> ModelCard:
    return ModelCard(arch=job.params.arch, width=float(job.params.width), input_shape=preprocessing.input_shape,
                     class_names=tuple(dataset.class_names), preprocessing=preprocessing, params=model.count_params(),
                     macs=total_macs(model), metrics=metrics, data=job.data_source,
                     split=split_settings(dataset, val_fraction=job.fit.val_fraction, seed=job.fit.seed,
                                          val_split=job.fit.val_split, val_seed=job.fit.val_seed),
                     extra={**extra, "search_trial": job.number})


def screen(job: TrialJob, dataset: Dataset, runtime: str, *, runs: int,
           min_seconds: float) -> tuple[Latency, str] | None:
    """Time the trial's untrained model, exported as the trial would ship it (see the module docstring).

    Returns:
        The brief latency and the node that timed it; None when the builder rejects the point (training then
        records it infeasible).

    Raises:
        ConvbenchError: the export or the timing failed (the caller fails the trial, not the search).
    """
    params = job.params
    preprocessing = _preprocessing(params, dataset)
    try:
        model = build(params.arch, preprocessing.input_shape, dataset.num_classes, params.width, **_options(params))
    except ModelError:
        return None
    folder = job.folder / SCREEN_DIR
    val = training_splits(dataset, val_fraction=job.fit.val_fraction, seed=job.fit.seed,
                          val_split=job.fit.val_split)["val"]
    card = _card(job, model, preprocessing, dataset, {}, {"screen": "untrained: timed before training"})
    model_path, _ = write_outputs(folder, model, card)
    few = val.take(np.arange(min(CALIBRATION_IMAGES, len(val))))
    exported = export(model_path, to=job.export_format, quantize=params.quantize,
                      calibration=few if params.quantize == "int8" else None, check=False)
    _write_sample(val, folder)
    return time_exported(exported.path, runtime, params.threads, runs=runs, min_seconds=min_seconds)


def _write_sample(val: Split, folder: Path) -> None:
    with naming_writes(folder / SAMPLE_IMAGE):
        Image.fromarray(np.squeeze(val.images[0], axis=-1) if val.images.shape[-1] == 1 else val.images[0]).save(
            folder / SAMPLE_IMAGE)


def train_and_export(job: TrialJob, dataset: Dataset) -> Trained:
    """Train, prune or finish, write and export the trial's model in ``job.folder``; never raises for a bad trial."""
    node = node_name()
    params, fit = job.params, job.fit
    options = _options(params)
    preprocessing = _preprocessing(params, dataset)
    try:  # the builder's own checks decide feasibility (input too small for the downsampling …)
        build(params.arch, preprocessing.input_shape, dataset.num_classes, params.width, **options)
    except ModelError as e:
        return Trained("infeasible", node=node, error=str(e))

    def new_model() -> keras.Model:
        model = build(params.arch, preprocessing.input_shape, dataset.num_classes, params.width, **options)
        model.compile(optimizer=keras.optimizers.Adam(fit.learning_rate), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    identity = {"arch": params.arch, "width": params.width, "model_options": dict(sorted(params.options.items())),
                "data": job.data_source}
    try:
        run, scores, pruned = _fit_epochs(job, dataset, preprocessing, new_model, identity, prune=True)
        if pruned:
            return _outcome("pruned", run, scores, node)
        shipped = _export(job, run, preprocessing, dataset, scores, node)
        return _repeat(job, dataset, preprocessing, new_model, identity, shipped)
    except OutputError:  # a full or read-only disk fails every later trial too: it stops the search, naming the file
        raise
    except ConvbenchError as e:
        return Trained("failed", node=node, error=str(e))


def _fit_epochs(job: TrialJob, dataset: Dataset, preprocessing: Preprocessing, new_model: Callable[[], keras.Model],
                identity: dict[str, object], *, prune: bool) -> tuple[Run, list[float], bool]:
    """Fit one epoch at a time in ``job.folder`` (the budget's end is checked between epochs); with ``prune``, the
    pruning rule decides at its rungs. Returns the run, its per-epoch pruning scores and whether it was pruned."""
    fit = job.fit
    decisions = set(rungs(fit.epochs)) if prune else set()
    for stop in range(1, fit.epochs + 1):
        settings = FitSettings(stop, fit.batch_size, fit.patience, fit.seed, False, fit.val_fraction,
                               fit.learning_rate, resume=True, progress=False, val_split=fit.val_split,
                               val_seed=fit.val_seed)
        run = run_fit(new_model, dataset, preprocessing, job.folder, settings, identity)
        history = run.fitted.state.history
        scores = [a - TIE_WEIGHT * loss for a, loss in zip(history["val_accuracy"], history["val_loss"], strict=True)]
        done = run.fitted.stopped_early or stop == fit.epochs
        if not done and stop in decisions and should_prune(job.earlier_scores, scores):
            return run, scores, True
        if done or time.time() >= job.deadline:  # past the budget: ship the best epoch so far
            break
    return run, scores, False


def _repeat(job: TrialJob, dataset: Dataset, preprocessing: Preprocessing, new_model: Callable[[], keras.Model],
            identity: dict[str, object], shipped: Trained) -> Trained:
    """Train the trial again on its repeated validation splits (module docstring) while it still meets the floor;
    the shipped model stays the first split's, its validation accuracy and loss become the worst split's."""
    accuracies, losses = [shipped.val_accuracy], [shipped.val_loss]
    for repeat in range(1, job.fit.val_repeats):
        if min(accuracies) < job.floor:  # already below the floor: more splits cannot make it feasible
            break
        again = replace(job, folder=job.folder / f"{REPEAT_DIR}-{repeat}",
                        fit=replace(job.fit, val_seed=job.fit.seed + repeat))
        run, scores, _ = _fit_epochs(again, dataset, preprocessing, new_model, identity, prune=False)
        repeated = _export(again, run, preprocessing, dataset, scores, shipped.node)
        accuracies.append(repeated.val_accuracy)
        losses.append(repeated.val_loss)
    return replace(shipped, val_accuracy=min(accuracies), val_loss=max(losses), val_accuracy_repeats=accuracies)


def _outcome(state: str, run: Run, scores: list[float], node: str, *, val_accuracy: float | None = None,
             exported: Path | None = None) -> Trained:
    fitted = run.fitted.state
    return Trained(state, val_accuracy=fitted.best_accuracy if val_accuracy is None else val_accuracy,
                   val_loss=fitted.best_loss, val_accuracy_per_epoch=list(fitted.history["val_accuracy"]),
                   scores=scores, epochs_run=fitted.epoch, params_count=run.model.count_params(),
                   exported=exported, size_bytes=exported.stat().st_size if exported else None, node=node)


def _export(job: TrialJob, run: Run, preprocessing: Preprocessing, dataset: Dataset, scores: list[float],
            node: str) -> Trained:
    """Write model.keras + card, export it (parity on the whole validation split), write the sample image."""
    model, splits, state = run.model, run.splits, run.fitted.state
    card = _card(job, model, preprocessing, dataset, {"val_accuracy": state.best_accuracy, "val_loss": state.best_loss},
                 {"training": run.config})
    model_path, _ = write_outputs(job.folder, model, card)
    exported = export(model_path, to=job.export_format, quantize=job.params.quantize,
                      calibration=splits["train"] if job.params.quantize == "int8" else None,
                      data=splits["val"], check_images=None)
    _write_sample(splits["val"], job.folder)
    # The objective is the shipped file's accuracy: an int8 file may lose a little against its Keras model.
    return _outcome("complete", run, scores, node, val_accuracy=float(exported.card.metrics["accuracy"]),
                    exported=exported.path)


def time_exported(path: Path, runtime: str, threads: int, *, runs: int, min_seconds: float) -> tuple[Latency, str]:
    """Median batch-1 latency (95 % CI) of ``path`` in ``runtime`` with our harness, and the node that timed it."""
    result = bench(path, runtime=runtime, threads=threads, runs=runs, min_seconds=min_seconds,
                   image=path.parent / SAMPLE_IMAGE, load_repeats=1)
    figures = result.figures_ms()
    return Latency(median_ms=figures["median_ms"], ci95_low_ms=figures["ci95_low_ms"],
                   ci95_high_ms=figures["ci95_high_ms"]), node_name()


def time_side_by_side(paths: list[Path], runtime: str, threads: list[int], *, runs: int,
                      min_seconds: float) -> list[Measurement]:
    """Each file's steady-state inference in ``runtime`` (``runs`` calls and ``min_seconds`` at least per file), all
    timed together in :data:`~convbench.vocabulary.DEFAULT_ROUNDS` interleaved rounds (the search's finalists: see
    :class:`~convbench.search.records.FinalTiming`)."""
    results = bench_interleaved([BenchCase(path, runtime, t) for path, t in zip(paths, threads, strict=True)],
                                rounds=DEFAULT_ROUNDS, runs=runs, min_seconds=min_seconds,
                                image=paths[0].parent / SAMPLE_IMAGE, load_repeats=1)
    return [result.inference for result in results]


def export_format(runtime: str) -> str:
    """The file format a search exports for ``runtime`` (its first format our exporter writes)."""
    info = RUNTIMES[runtime]
    return next(f for f in info.file_formats if f in ("tflite", "onnx"))
