"""A study's results, gathered from its finished steps into one typed :class:`~convbench.report.records.StudyReport`
(``results.json`` is its ``to_dict()``).

Every step kind contributes what its finished steps show (:meth:`~convbench.experiment.step.StepKind.contribute`)
to a :class:`StudyResults` as typed records (:mod:`convbench.report.records`); this module only runs the kinds over
the plan and gathers the sections:

``models``: one row per trained candidate (parameters, MACs, accuracies, training time).
``latency``: one row per model file × runtime × thread count (every phase's median, the inference
CI and percentiles, size, SHA-256, accuracy of that very file, its environment).
``early_exit``: the early-exit evaluations, when the study has them.
``rows``: the flat rows of results.csv and of the history (latency rows, then the other kinds' rows).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convbench.bench import BenchResult
from convbench.data import DataSpec
from convbench.env import environment
from convbench.experiment.cache import StudyFolder
from convbench.experiment.schema import Experiment
from convbench.experiment.step import Done, Step, StepKind, step_kind
from convbench.report.records import (
    EarlyExitEntry,
    FlatRow,
    LatencyRow,
    ModelRow,
    OpProfileEntry,
    StepCounts,
    StepError,
    StudyInfo,
    StudyReport,
)
from convbench.report.study import LatencyCandidate, recommend
from convbench.search import SearchResult
from convbench.vocabulary import DEFAULT_TARGET

if TYPE_CHECKING:
    from convbench.experiment.runner import StudyRun

@dataclass
class StudyResults:
    """What the finished steps of a study show, as the step kinds contribute it.

    Attributes:
        root: the study's output folder.
        dataset: the name of the study's main dataset.
        finished: key → finished step, for every finished step of the plan.
        models: train-step key → the model's row.
        latency: the timed files, each with its row and its bench result.
        early_exit: the early-exit evaluations (``eval.json`` with the training figures, the sweep and a summary).
        op_profiles: per file × runtime, its slowest nodes and the profile files, or why the runtime could not
            profile.
        searches: the architecture searches' results (``[search]``).
        rows: the rows of results.csv and the history beyond the latency rows (early-exit evaluations …).
    """

    root: Path
    dataset: str
    finished: dict[str, Done[Any]]
    models: dict[str, ModelRow] = field(default_factory=dict)
    latency: list[LatencyCandidate] = field(default_factory=list)
    early_exit: list[EarlyExitEntry] = field(default_factory=list)
    op_profiles: list[OpProfileEntry] = field(default_factory=list)
    searches: list[SearchResult] = field(default_factory=list)
    rows: list[FlatRow] = field(default_factory=list)

    def add_latency(self, row: LatencyRow, result: BenchResult) -> None:
        """A timed file: its row, and its bench result (the recommendation's verdict reads its rounds)."""
        self.latency.append(LatencyCandidate(row, result.inference))

    def dependents(self, key: str, kind: type[StepKind[Any, Any]]) -> list[Done[Any]]:
        """The finished steps of ``kind`` that need the step ``key``."""
        return [done for done in self.finished.values() if done.step.kind == kind.name and key in done.step.needs]

    def latency_rows(self, source: Done[Any], runtime: str, target: str = DEFAULT_TARGET) -> list[LatencyRow]:
        """The latency rows of the file that the finished step ``source`` wrote, timed in ``runtime`` on ``target``.

        Peak memory and per-op profiles are measured on this machine, so by default they join only the rows
        timed here: a figure from this machine must not appear beside a latency timed on a phone.
        """
        return [c.row for c in self.latency if self._is_of(c.row, source, runtime, target)]

    def join_latency(self, source: Done[Any], runtime: str, target: str = DEFAULT_TARGET, **figures: Any) -> None:
        """Set ``figures`` (fields of :class:`~convbench.report.records.LatencyRow`) on the latency rows of
        :meth:`latency_rows`: what another kind measured of the same file (its peak memory)."""
        self.latency = [dataclasses.replace(c, row=dataclasses.replace(c.row, **figures))
                        if self._is_of(c.row, source, runtime, target) else c for c in self.latency]

    def _is_of(self, row: LatencyRow, source: Done[Any], runtime: str, target: str) -> bool:
        file = self.relative(source.path(source.outputs.model))
        return row.file == file and row.runtime == runtime and row.target == target

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the study folder when inside it (results stay valid when the folder moves)."""
        try:
            return str(Path(path).resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


def collect(experiment: Experiment, plan: list[Step[Any]], folder: StudyFolder, study: StudyRun, *, command: str,
            started: str) -> StudyReport:
    """Everything the report shows, from the finished steps of ``plan`` (each kind contributes its own)."""
    finished = {s.key: done for s in plan if (done := folder.done(s)) is not None}
    results = StudyResults(folder.root, DataSpec.parse(experiment.data.main).name, finished)
    for step in plan:  # in plan order: a step's contribution may build on the steps it needs
        if step.key in finished:
            step_kind(step.kind).contribute(finished[step.key], results)
    errors = [StepError(s.describe(), study.failed.get(s.key) or study.skipped.get(s.key)) for s in plan
              if s.key in study.failed or s.key in study.skipped]
    steps = StepCounts(total=len(plan), cached=len(study.cached), ran=len(study.ran), failed=len(study.failed),
                       skipped=len(study.skipped))
    info = StudyInfo(name=experiment.name, description=experiment.description, command=command,
                     out=str(folder.root), started=started, wall_seconds=round(study.wall_seconds, 1), steps=steps,
                     experiment=experiment.model_dump(mode="json"))
    return StudyReport(study=info, environment=environment(),
                       recommendation=recommend(results.latency, **experiment.report.model_dump()),
                       models=list(results.models.values()), latency=[c.row for c in results.latency],
                       early_exit=results.early_exit, rows=results.rows, errors=errors,
                       op_profiles=results.op_profiles, searches=results.searches)
