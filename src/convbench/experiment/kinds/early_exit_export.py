"""``early_exit_export``: the trained early-exit network in every LiteRT form of ``[early_exit]`` and its baseline
in float32 (parity-checked on the test mix), all in the step's own folder; every evaluation and sweep times these.

Whether the files are current is the step cache's decision alone: the step's key hashes its training step's key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from convbench.early_exit.evaluation import TrainedFolder, export_for_evaluation
from convbench.experiment.kinds.early_exit_train import EarlyExitTrainKind, mix_data
from convbench.experiment.step import (
    Planned,
    Step,
    StepContext,
    StepKind,
    StepOutputs,
    StepSettings,
    make_step,
    register_kind,
)
from convbench.vocabulary import EarlyExitForm

if TYPE_CHECKING:
    from convbench.experiment.schema import Experiment


class EarlyExitExportSettings(StepSettings):
    """The deployed forms to export."""

    forms: tuple[EarlyExitForm, ...]


class EarlyExitExportOutputs(StepOutputs):
    """File names in the step's folder: per form, the file its runner opens; the baseline's ``.tflite``."""

    forms: dict[str, str]
    baseline: str


@register_kind
class EarlyExitExportKind(StepKind[EarlyExitExportSettings, EarlyExitExportOutputs]):
    name = "early_exit_export"
    stage = 45  # after early-exit training, before any timing
    Settings = EarlyExitExportSettings
    Outputs = EarlyExitExportOutputs

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[EarlyExitExportSettings]]:
        ee = experiment.early_exit
        if ee is None:
            return []
        settings = EarlyExitExportSettings(forms=tuple(dict.fromkeys(ee.forms)))
        return [make_step(EarlyExitExportKind, train.name, settings, (train,), model=train.model)
                for train in planned.of(EarlyExitTrainKind)]

    def run(self, step: Step[EarlyExitExportSettings], ctx: StepContext) -> EarlyExitExportOutputs:
        trained_step = ctx.need(EarlyExitTrainKind)
        trained = TrainedFolder.open(trained_step.dir)
        s = trained_step.step.settings
        pools = trained.pools(ctx.datasets(s.data), mix_data(s, ctx))
        files = export_for_evaluation(trained, pools, ctx.dir, step.settings.forms)
        return EarlyExitExportOutputs(forms={form: path.name for form, path in files.forms.items()},
                                      baseline=files.baseline.name)

    def summary(self, outputs: EarlyExitExportOutputs) -> str:
        return f"{', '.join(outputs.forms)} form{'s' * (len(outputs.forms) > 1)} and the baseline in LiteRT"
