"""``early_exit_train``: train the ``[early_exit]`` network (a backbone with an exit branch) and its baseline (the
same backbone without it) on the main + redundant mix, once per study.

Its settings are exactly the dict the study hashed before step kinds were typed, so a model trained then keeps
its key and is never trained again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from convbench.experiment.inputs import DataInputs, TrainingInputs, data_inputs, fingerprint
from convbench.experiment.step import Planned, Step, StepContext, StepKind, StepOutputs, make_step, register_kind
from convbench.train.early_exit import train_early_exit

if TYPE_CHECKING:
    from convbench.experiment.schema import Experiment

# [early_exit] fields that shape the networks and the mix, and [train] fields (each may be overridden by
# [early_exit]'s own epochs / batch_size / patience)
_MODEL_FIELDS = ("backbone", "width", "exit_after", "input_size", "channels", "invert_redundant", "redundancy",
                 "max_train", "dropout")
_TRAIN_FIELDS = ("epochs", "batch_size", "patience", "seed", "augment", "val_fraction")


class EarlyExitTrainSettings(DataInputs, TrainingInputs):
    """The networks, the mix and the training run; ``data`` is the main set, ``redundant`` the other."""

    backbone: str
    width: float
    exit_after: str
    input_size: int | None
    channels: int | None
    invert_redundant: bool
    redundancy: float | None
    max_train: int | None
    dropout: float
    redundant: str
    redundant_fingerprint: str | None


class EarlyExitTrainOutputs(StepOutputs):
    """Both models (paths relative to the step's folder) and the figures the report's training table shows."""

    model: str
    baseline: str
    training: str
    test_accuracy: float
    baseline_test_accuracy: float
    exit_accuracy: float | None
    params: int
    baseline_params: int
    stem_share: float
    exit_share: float
    backbone: str
    width: float
    exit_after: str


@register_kind
class EarlyExitTrainKind(StepKind[EarlyExitTrainSettings, EarlyExitTrainOutputs]):
    name = "early_exit_train"
    stage = 40  # after the candidates' training, export and parity; before any timing
    Settings = EarlyExitTrainSettings
    Outputs = EarlyExitTrainOutputs
    draws_own_progress = True  # the per-epoch bars of both networks

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[EarlyExitTrainSettings]]:
        ee = experiment.early_exit
        if ee is None:
            return []
        train = {k: getattr(experiment.train, k) for k in _TRAIN_FIELDS}
        overrides = {k: getattr(ee, k) for k in ("epochs", "batch_size", "patience") if getattr(ee, k) is not None}
        redundant = experiment.data.redundant
        assert redundant is not None  # the schema requires it with [early_exit]
        settings = EarlyExitTrainSettings(**{k: getattr(ee, k) for k in _MODEL_FIELDS}, **(train | overrides),
                                          **data_inputs(experiment.data.main), redundant=redundant,
                                          redundant_fingerprint=fingerprint(redundant))
        return [make_step(EarlyExitTrainKind, ee.label(), settings, model=ee.label())]

    def run(self, step: Step[EarlyExitTrainSettings], ctx: StepContext) -> EarlyExitTrainOutputs:
        s = step.settings
        options = {k: getattr(s, k) for k in (*_MODEL_FIELDS, *_TRAIN_FIELDS)}
        result = train_early_exit(ctx.datasets(s.data), ctx.datasets(s.redundant), out=ctx.dir, resume=True,
                                  progress=ctx.progress, **options)
        report = result.report
        return EarlyExitTrainOutputs(
            model=str(result.model_path.relative_to(ctx.dir)), baseline=str(result.baseline_path.relative_to(ctx.dir)),
            training=str(result.report_path.relative_to(ctx.dir)), test_accuracy=report["early_exit"]["test_accuracy"],
            baseline_test_accuracy=report["baseline"]["test_accuracy"],
            exit_accuracy=report["early_exit"]["test_metrics"].get("exit_accuracy"),
            params=report["early_exit"]["params"], baseline_params=report["baseline"]["params"],
            stem_share=report["stem_share"], exit_share=report["exit_share"], backbone=s.backbone, width=s.width,
            exit_after=s.exit_after)

    def summary(self, outputs: EarlyExitTrainOutputs) -> str:
        exit_accuracy = outputs.exit_accuracy if outputs.exit_accuracy is not None else float("nan")
        return (f"test accuracy {outputs.test_accuracy:.1%} (baseline {outputs.baseline_test_accuracy:.1%}), "
                f"exit accuracy {exit_accuracy:.1%}")
