"""``parity``: an exported file's accuracy on the test split, run in its own runtime, and its agreement with the
Keras model it came from (whose test-set probabilities the train step kept)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from convbench.artifacts import read_card
from convbench.experiment.inputs import DataInputs, data_inputs
from convbench.experiment.kinds.export import ExportKind
from convbench.experiment.kinds.train import TrainKind
from convbench.experiment.step import Planned, Step, StepContext, StepKind, StepOutputs, make_step, register_kind
from convbench.export import REFERENCE_RUNTIME, Images, measure_parity, runtime_deviation
from convbench.runtime import open_runner
from convbench.train import model_splits
from convbench.vocabulary import DEFAULT_RUNTIMES, RUNTIMES

if TYPE_CHECKING:
    from convbench.experiment.schema import Experiment


class ParitySettings(DataInputs):
    """The data, and the runtime when it is not the file's default one (the file and the reference come from
    the steps it needs)."""

    runtime: str | None = None  # None: the runtime a file of its format runs in by default


class ParityOutputs(StepOutputs):
    """The exported file's figures on the whole test split."""

    accuracy: float
    agreement: float
    max_abs_diff: float
    test_images: int
    runtime: str
    note: str | None = None  # a quantised file this runtime computes differently from the reference runtime


@register_kind
class ParityKind(StepKind[ParitySettings, ParityOutputs]):
    name = "parity"
    stage = 30
    Settings = ParitySettings
    Outputs = ParityOutputs

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[ParitySettings]]:
        data = data_inputs(experiment.data.main)
        steps = []
        for export in planned.of(ExportKind):
            needs = (planned.of(TrainKind, export.model)[0], export)
            steps.append(make_step(ParityKind, export.name, ParitySettings(**data), needs, model=export.model))
            # Every other runtime of [bench] that runs this file is checked in that runtime too.
            steps += [make_step(ParityKind, f"{export.name} {runtime}", ParitySettings(**data, runtime=runtime),
                                needs, model=export.model)
                      for runtime in experiment.bench.runtimes
                      if export.settings.to in RUNTIMES[runtime].file_formats
                      and runtime != DEFAULT_RUNTIMES[export.settings.to]]
        return steps

    def run(self, step: Step[ParitySettings], ctx: StepContext) -> ParityOutputs:
        trained, exported = ctx.need(TrainKind), ctx.need(ExportKind)
        path = exported.path(exported.outputs.model)
        card = read_card(path)
        test = model_splits(card, ctx.datasets(step.settings.data))["test"]
        reference = np.load(trained.path(trained.outputs.test_probabilities or ""))
        runner = open_runner(path, runtime=step.settings.runtime)
        images = Images(test, card.preprocessing, f"{step.settings.data} (test split)")
        parity = measure_parity(runner, reference, images)
        deviation = None
        if card.quantize != "none" and card.format == "tflite" and runner.name != REFERENCE_RUNTIME:
            deviation = runtime_deviation(runner, open_runner(path, runtime=REFERENCE_RUNTIME), images)
        return ParityOutputs(accuracy=parity.accuracy, agreement=parity.top1_agreement,
                             max_abs_diff=parity.max_abs_diff, test_images=parity.images, runtime=runner.name,
                             note=deviation.note if deviation else None)

    def summary(self, outputs: ParityOutputs) -> str:
        note = f"; note: {outputs.note}" if outputs.note else ""
        return f"accuracy {outputs.accuracy:.1%}, agreement with Keras {outputs.agreement:.1%}{note}"
