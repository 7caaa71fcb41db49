"""``early_exit_eval``: time the exported early-exit network against its baseline in LiteRT, image by image at
batch 1 on the test mix, for one deployed form at one thread count, then on each named redundant source alone
(``[early_exit.sources]``: exit accuracy, precision, recall, AUROC, FPR at 95 % TPR and the saving per source);
each finished step is one early-exit entry of the study's results (the report's early-exit section) and two
results.csv rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convbench.data import Preprocessing
from convbench.data.mix import redundant_pool
from convbench.early_exit.evaluation import (
    RESULT_FILE,
    EvaluationFiles,
    Session,
    TrainedFolder,
    evaluate_session,
    evaluate_sources,
    open_session,
    with_sources,
)
from convbench.early_exit.records import Evaluation, EvaluationRow
from convbench.experiment.inputs import MachineInputs, fingerprint, machine_inputs
from convbench.experiment.kinds.early_exit_export import EarlyExitExportKind, EarlyExitExportOutputs
from convbench.experiment.kinds.early_exit_train import EarlyExitTrainKind, EarlyExitTrainSettings, mix_data
from convbench.experiment.step import Done, Planned, Step, StepContext, StepKind, StepOutputs, make_step, register_kind
from convbench.io import read_json, write_json
from convbench.report.early_exit_section import early_exit_summary
from convbench.report.records import EarlyExitEntry, EarlyExitTraining
from convbench.vocabulary import EarlyExitForm

if TYPE_CHECKING:
    from convbench.experiment.results import StudyResults
    from convbench.experiment.schema import Experiment


class EarlyExitTimingSettings(MachineInputs):
    """What one timing of the deployed files depends on (besides the files): form, threads and the protocol."""

    form: EarlyExitForm
    threads: int
    threshold: float | None  # None: the calibrated threshold of the files
    redundancy: float | None  # of the test mix; None: as trained
    repeats: int
    limit: int | None
    test_sources: tuple[tuple[str, str], ...] = ()  # (name, data spec): each redundant source tested alone
    test_fingerprints: tuple[str | None, ...] = ()


class EarlyExitEvalOutputs(StepOutputs):
    """The evaluation file (``eval.json``) and its headline figures."""

    evaluation: str
    saving: float
    ideal_saving: float


def timing_settings(experiment: Experiment) -> list[EarlyExitTimingSettings]:
    """One timing per ``[early_exit]`` form × thread count, in that order."""
    ee = experiment.early_exit
    if ee is None:
        return []
    calibrated = ee.max_false_exit is not None or ee.exit_rate is not None
    sources = tuple(ee.sources.items())
    return [EarlyExitTimingSettings(form=form, threads=threads, threshold=None if calibrated else ee.threshold,
                                    redundancy=ee.redundancy, repeats=ee.repeats, limit=ee.limit,
                                    test_sources=sources, test_fingerprints=tuple(fingerprint(s) for _, s in sources),
                                    **machine_inputs())
            for form in ee.forms for threads in ee.threads]


def open_timing(step: Step[EarlyExitTimingSettings], ctx: StepContext) -> tuple[Session, float | None]:
    """The loaded runners of the step's form and the baseline, from its export step's files, and the test-mix
    redundancy it times at (the trained one unless the step names one)."""
    trained_step, exported = ctx.need(EarlyExitTrainKind), ctx.need(EarlyExitExportKind)
    trained = TrainedFolder.open(trained_step.dir)
    data: EarlyExitTrainSettings = trained_step.step.settings
    pools = trained.pools(ctx.datasets(data.data), mix_data(data, ctx))
    out: EarlyExitExportOutputs = exported.outputs
    files = EvaluationFiles({form: exported.path(name) for form, name in out.forms.items()},
                            exported.path(out.baseline))
    s = step.settings
    session = open_session(files, s.form, pools, trained.mix, threads=s.threads, threshold=s.threshold)
    return session, trained.mix.redundancy if s.redundancy is None else s.redundancy


@register_kind
class EarlyExitEvalKind(StepKind[EarlyExitTimingSettings, EarlyExitEvalOutputs]):
    name = "early_exit_eval"
    stage = 60  # after the latency steps: timings run back to back
    Settings = EarlyExitTimingSettings
    Outputs = EarlyExitEvalOutputs

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[EarlyExitTimingSettings]]:
        steps = []
        for export in planned.of(EarlyExitExportKind):
            (train,) = (s for s in planned.of(EarlyExitTrainKind) if s.key in export.needs)
            steps += [make_step(EarlyExitEvalKind, f"{train.name} {s.form} {s.threads}t", s, (train, export),
                                model=train.model) for s in timing_settings(experiment)]
        return steps

    def run(self, step: Step[EarlyExitTimingSettings], ctx: StepContext) -> EarlyExitEvalOutputs:
        session, redundancy = open_timing(step, ctx)
        s = step.settings
        evaluation = evaluate_session(session, redundancy, repeats=s.repeats, limit=s.limit)
        trained: EarlyExitTrainSettings = ctx.need(EarlyExitTrainKind).step.settings
        by_source = {"+".join(trained.trained_on) or session.mix.redundant: evaluation}
        if s.test_sources:
            shape = Preprocessing(session.mix.size, session.mix.channels)
            pools = {name: redundant_pool(ctx.datasets(spec), shape, session.mix) for name, spec in s.test_sources}
            by_source = evaluate_sources(session, pools, redundancy, repeats=s.repeats, limit=s.limit)
        write_json(ctx.dir / RESULT_FILE, with_sources(evaluation, by_source).to_dict())
        return EarlyExitEvalOutputs(evaluation=RESULT_FILE, saving=evaluation.analytic.saving,
                                    ideal_saving=evaluation.analytic.ideal_saving)

    def summary(self, outputs: EarlyExitEvalOutputs) -> str:
        return f"saving {outputs.saving:.1%} of the baseline's time (analytic ideal {outputs.ideal_saving:.1%})"

    def contribute(self, done: Done[EarlyExitEvalOutputs], results: StudyResults) -> None:
        """The evaluation with the training figures of both models, and its two results.csv rows."""
        trained = results.finished[done.step.needs[0]]
        training = EarlyExitTraining.from_dict(trained.outputs.model_dump(mode="json"))
        evaluation = Evaluation.from_dict(read_json(done.path(done.outputs.evaluation)))
        entry = EarlyExitEntry(done.step.model, training, evaluation, early_exit_summary(done.step.model, evaluation))
        results.early_exit.append(entry)
        results.rows += [EarlyExitRow(entry, row, results.dataset) for row in evaluation.rows]


@dataclass(frozen=True)
class EarlyExitRow:
    """A results.csv / history row: one model (baseline or early exit) of one evaluation."""

    entry: EarlyExitEntry
    row: EvaluationRow
    dataset: str

    def to_dict(self) -> dict[str, Any]:
        evaluation, training, row = self.entry.evaluation, self.entry.training, self.row
        is_exit = row.model != "baseline"
        return {"kind": "early_exit", "model": self.entry.model, "variant": row.model, "arch": training.backbone,
                "width": training.width, "dataset": self.dataset,
                "format": "tflite", "quantize": "none", "runtime": "litert", "threads": evaluation.threads,
                "form": evaluation.form, "threshold": evaluation.threshold,
                "invert_redundant": evaluation.mix.invert_redundant, "redundancy": row.redundancy,
                "images": row.images, "loss": row.loss, "accuracy": row.accuracy, "exit_accuracy": row.exit_accuracy,
                "exit_precision": row.exit_precision, "exit_recall": row.exit_recall, "exit_share": row.exit_share,
                "total_s": row.total_s, "time_ms_per_image": row.time_ms_per_image,
                "params": training.params if is_exit else training.baseline_params,
                "saving": evaluation.analytic.saving if is_exit else None,
                "ideal_saving": evaluation.analytic.ideal_saving if is_exit else None,
                "environment": evaluation.environment}
