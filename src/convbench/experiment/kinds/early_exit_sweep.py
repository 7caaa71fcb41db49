"""``early_exit_sweep``: time the early-exit network against its baseline on test mixes of redundancy 0 … 0.9, and
sweep the exit threshold, for the first ``[early_exit]`` form and thread count (``sweep = true``).

Its results join the evaluation of the same form and threads in the study's results (``sweep`` of that entry),
where the report's early-exit section draws their plots.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from convbench.early_exit.evaluation import sweep_session
from convbench.early_exit.records import Sweep
from convbench.experiment.kinds.early_exit_eval import EarlyExitTimingSettings, open_timing, timing_settings
from convbench.experiment.kinds.early_exit_export import EarlyExitExportKind
from convbench.experiment.kinds.early_exit_train import EarlyExitTrainKind
from convbench.experiment.step import Done, Planned, Step, StepContext, StepKind, StepOutputs, make_step, register_kind
from convbench.io import read_json, write_json

if TYPE_CHECKING:
    from convbench.experiment.results import StudyResults
    from convbench.experiment.schema import Experiment

RESULT_FILE = "sweep.json"


class EarlyExitSweepOutputs(StepOutputs):
    """The sweep file (``by_redundancy`` and ``by_threshold``) and how many points each holds."""

    sweep: str
    redundancies: int
    thresholds: int


@register_kind
class EarlyExitSweepKind(StepKind[EarlyExitTimingSettings, EarlyExitSweepOutputs]):
    name = "early_exit_sweep"
    stage = 70  # after the evaluations it joins
    Settings = EarlyExitTimingSettings
    Outputs = EarlyExitSweepOutputs

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[EarlyExitTimingSettings]]:
        if experiment.early_exit is None or not experiment.early_exit.sweep:
            return []
        first = timing_settings(experiment)[0]
        steps = []
        for export in planned.of(EarlyExitExportKind):
            (train,) = (s for s in planned.of(EarlyExitTrainKind) if s.key in export.needs)
            steps.append(make_step(EarlyExitSweepKind, f"{train.name} {first.form} {first.threads}t", first,
                                   (train, export), model=train.model))
        return steps

    def run(self, step: Step[EarlyExitTimingSettings], ctx: StepContext) -> EarlyExitSweepOutputs:
        session, redundancy = open_timing(step, ctx)
        swept = sweep_session(session, redundancy, repeats=step.settings.repeats, limit=step.settings.limit)
        write_json(ctx.dir / RESULT_FILE, swept.to_dict())
        return EarlyExitSweepOutputs(sweep=RESULT_FILE, redundancies=len(swept.by_redundancy),
                                     thresholds=len(swept.by_threshold))

    def summary(self, outputs: EarlyExitSweepOutputs) -> str:
        return f"{outputs.redundancies} redundancies timed, {outputs.thresholds} thresholds swept"

    def contribute(self, done: Done[EarlyExitSweepOutputs], results: StudyResults) -> None:
        """The sweep joins the evaluation of the same model, form and threads (where the report looks for it)."""
        s = done.step.settings
        for i, ee in enumerate(results.early_exit):
            if (ee.model, ee.evaluation.form, ee.evaluation.threads) == (done.step.model, s.form, s.threads):
                results.early_exit[i] = dataclasses.replace(ee, sweep=Sweep.from_dict(
                    read_json(done.path(done.outputs.sweep))))
