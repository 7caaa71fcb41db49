"""``train``: train one candidate model of ``[[models]]``, and keep its Keras test-set probabilities (the
reference every exported file's parity step compares against)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from convbench import models
from convbench.experiment.inputs import DataInputs, TrainingInputs, data_inputs
from convbench.experiment.step import Done, Planned, Step, StepContext, StepKind, StepOutputs, make_step, register_kind
from convbench.io import naming_writes
from convbench.report.records import ModelRow
from convbench.train import keras_probabilities, model_splits, train

if TYPE_CHECKING:
    from convbench.experiment.results import StudyResults
    from convbench.experiment.schema import Experiment

PROBABILITIES_FILE = "test_probabilities.npy"


class TrainSettings(DataInputs, TrainingInputs):
    """One ``[[models]]`` entry with ``[train]``'s settings and its own overrides applied."""

    arch: str
    width: float
    input_size: int | None
    channels: int | None
    options: dict[str, bool | int | float | str]


class TrainOutputs(StepOutputs):
    """The trained model's files and figures (figures ``None`` in done-markers that predate them)."""

    model: str
    training: str | None = None
    test_probabilities: str | None = None
    train_accuracy: float | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    params: int | None = None
    macs: int | None = None
    epochs_run: int | None = None
    best_epoch: int | None = None
    stopped_early: bool | None = None
    train_seconds: float | None = None
    input_shape: tuple[int, int, int] | None = None
    class_names: tuple[str, ...] = ()
    test_images: int | None = None


@register_kind
class TrainKind(StepKind[TrainSettings, TrainOutputs]):
    name = "train"
    stage = 10
    Settings = TrainSettings
    Outputs = TrainOutputs
    draws_own_progress = True  # the per-epoch bar

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[TrainSettings]]:
        data = data_inputs(experiment.data.main)
        steps = []
        for m in experiment.models:
            label = m.label(models.defaults(m.arch).input_size)
            settings = TrainSettings(arch=m.arch, width=m.width, input_size=m.input_size, channels=m.channels,
                                     options=m.options, **m.train_settings(experiment.train), **data)
            steps.append(make_step(TrainKind, label, settings, model=label))
        return steps

    def run(self, step: Step[TrainSettings], ctx: StepContext) -> TrainOutputs:
        s = step.settings
        dataset = ctx.datasets(s.data)
        result = train(s.arch, dataset, out=ctx.dir, width=s.width, input_size=s.input_size, channels=s.channels,
                       epochs=s.epochs, batch_size=s.batch_size, patience=s.patience, seed=s.seed, augment=s.augment,
                       val_fraction=s.val_fraction, resume=True, progress=ctx.progress, **s.options)
        test = model_splits(result.card, dataset)["test"]
        probabilities = keras_probabilities(result.model, test, result.card.preprocessing)
        with naming_writes(ctx.dir / PROBABILITIES_FILE):
            np.save(ctx.dir / PROBABILITIES_FILE, probabilities)
        report = result.report
        return TrainOutputs(model=result.model_path.name, training=result.report_path.name,
                            test_probabilities=PROBABILITIES_FILE,
                            **{k: report.get(k) for k in ("train_accuracy", "val_accuracy", "test_accuracy", "params",
                                                          "macs", "epochs_run", "best_epoch", "stopped_early",
                                                          "train_seconds")},
                            input_shape=result.card.input_shape, class_names=result.card.class_names,
                            test_images=len(test))

    def summary(self, outputs: TrainOutputs) -> str:
        accuracy = outputs.test_accuracy if outputs.test_accuracy is not None else float("nan")
        return f"test accuracy {accuracy:.1%}, {outputs.params or 0:,} params"

    def contribute(self, done: Done[TrainOutputs], results: StudyResults) -> None:
        out, s = done.outputs, done.step.settings
        shape = out.input_shape or (s.input_size, s.input_size, s.channels)
        results.models[done.step.key] = ModelRow(
            model=done.step.model, arch=s.arch, width=s.width, input_size=shape[0], channels=shape[2],
            dataset=results.dataset, params=out.params, macs=out.macs, train_accuracy=out.train_accuracy,
            val_accuracy=out.val_accuracy, test_accuracy=out.test_accuracy, epochs_run=out.epochs_run,
            best_epoch=out.best_epoch, train_seconds=out.train_seconds, test_images=out.test_images,
            epochs=s.epochs, file=results.relative(done.path(out.model)))

