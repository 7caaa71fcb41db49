"""``export``: one trained model → the files the runtimes of ``[bench]`` run (a ``.tflite`` per ``[export]`` mode,
an ``.onnx``), parity-checked against Keras by the exporter; int8 calibrates on the model's training split."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from convbench.artifacts import read_card
from convbench.experiment.inputs import DataInputs, data_inputs
from convbench.experiment.kinds.train import TrainKind
from convbench.experiment.step import Planned, Step, StepContext, StepKind, StepOutputs, make_step, register_kind
from convbench.export import export
from convbench.train import model_splits
from convbench.vocabulary import RUNTIMES, ExportTarget

if TYPE_CHECKING:
    from convbench.experiment.schema import Experiment


class ExportSettings(DataInputs):
    """The target format and quantisation mode."""

    to: ExportTarget
    quantize: str


class ExportOutputs(StepOutputs):
    """The exported file and what identifies it."""

    model: str
    size_bytes: int
    sha256: str | None


@register_kind
class ExportKind(StepKind[ExportSettings, ExportOutputs]):
    name = "export"
    stage = 20
    Settings = ExportSettings
    Outputs = ExportOutputs

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[ExportSettings]]:
        formats = {f for runtime in experiment.bench.runtimes for f in RUNTIMES[runtime].file_formats}
        targets = [("tflite", mode) for mode in experiment.export.modes()] if "tflite" in formats else []
        targets += [("onnx", "none")] if "onnx" in formats else []
        data = data_inputs(experiment.data.main)
        return [make_step(ExportKind, f"{train.name} {to} {mode}", ExportSettings(to=to, quantize=mode, **data),
                          (train,), model=train.model)
                for train in planned.of(TrainKind) for to, mode in targets]

    def run(self, step: Step[ExportSettings], ctx: StepContext) -> ExportOutputs:
        s = step.settings
        trained = ctx.need(TrainKind)
        model_path = trained.path(trained.outputs.model)
        # The splits training used: calibration never sees test images, parity never training ones.
        splits = model_splits(read_card(model_path), ctx.datasets(s.data))
        result = export(model_path, to=s.to, quantize=s.quantize, out=ctx.dir / f"model.{s.to}",
                        calibration=splits["train"] if s.quantize == "int8" else None, data=splits["test"],
                        check=True)
        path = Path(result.path)
        return ExportOutputs(model=path.name, size_bytes=path.stat().st_size, sha256=result.card.sha256)

    def summary(self, outputs: ExportOutputs) -> str:
        return f"{outputs.size_bytes / 1e3:,.1f} kB, sha256 {str(outputs.sha256)[:12]}"

