"""A study's results, gathered from its finished steps into one JSON-ready dict (``results.json``).

Every step kind contributes what its finished steps show (:meth:`~convbench.experiment.step.StepKind.contribute`)
to a :class:`StudyResults`; this module only runs the kinds over the plan and lays the sections out:

``models``: one row per trained candidate (parameters, MACs, accuracies, training time).
``latency``: one row per model file × runtime × thread count (every phase's median, the inference
CI and percentiles, size, SHA-256, accuracy of that very file, its environment).
``early_exit``: the early-exit evaluations, when the study has them.
``rows``: the flat rows of results.csv and of the history (latency rows, then the other kinds' rows).
"""

from __future__ import annotations

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
from convbench.report.study import LatencyCandidate, recommend
from convbench.search import SearchResult
from convbench.vocabulary import DEFAULT_TARGET

if TYPE_CHECKING:
    from convbench.experiment.runner import StudyRun

SCHEMA = "convbench.study_results/1"


@dataclass
class StudyResults:
    """What the finished steps of a study show, as the step kinds contribute it.

    Attributes:
        root: the study's output folder.
        dataset: the name of the study's main dataset.
        finished: key → finished step, for every finished step of the plan.
        models: train-step key → the model's row.
        latency: the timed files, each with its row and its bench result.
        early_exit: the early-exit evaluations (``eval.json`` with the training figures and a summary).
        op_profiles: per file × runtime, its slowest nodes (``top``: op type, node, ms per run, share) and the
            profile files, or ``unavailable``: why the runtime could not profile.
        searches: the architecture searches' results (``[search]``).
        rows: the rows of results.csv and the history beyond the latency rows (early-exit evaluations …).
    """

    root: Path
    dataset: str
    finished: dict[str, Done[Any]]
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency: list[LatencyCandidate] = field(default_factory=list)
    early_exit: list[dict[str, Any]] = field(default_factory=list)
    op_profiles: list[dict[str, Any]] = field(default_factory=list)
    searches: list[SearchResult] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add_latency(self, row: dict[str, Any], result: BenchResult) -> None:
        """A timed file: its row, and its bench result (the recommendation's verdict reads its rounds)."""
        self.latency.append(LatencyCandidate(row, result.inference))

    def dependents(self, key: str, kind: type[StepKind[Any, Any]]) -> list[Done[Any]]:
        """The finished steps of ``kind`` that need the step ``key``."""
        return [done for done in self.finished.values() if done.step.kind == kind.name and key in done.step.needs]

    def latency_rows(self, source: Done[Any], runtime: str, target: str = DEFAULT_TARGET) -> list[dict[str, Any]]:
        """The latency rows of the file that the finished step ``source`` wrote, timed in ``runtime`` on ``target``.

        Peak memory and per-op profiles are measured on this machine, so by default they join only the rows
        timed here: a figure from this machine must not appear beside a latency timed on a phone.
        """
        file = self.relative(source.path(source.outputs.model))
        return [c.row for c in self.latency
                if c.row["file"] == file and c.row["runtime"] == runtime and c.row["target"] == target]

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the study folder when inside it (results stay valid when the folder moves)."""
        try:
            return str(Path(path).resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


def collect(experiment: Experiment, plan: list[Step[Any]], folder: StudyFolder, study: StudyRun, *, command: str,
            started: str) -> dict[str, Any]:
    """Everything the report shows, from the finished steps of ``plan`` (each kind contributes its own)."""
    finished = {s.key: done for s in plan if (done := folder.done(s)) is not None}
    results = StudyResults(folder.root, DataSpec.parse(experiment.data.main).name, finished)
    for step in plan:  # in plan order: a step's contribution may build on the steps it needs
        if step.key in finished:
            step_kind(step.kind).contribute(finished[step.key], results)
    latency = [candidate.row for candidate in results.latency]
    errors = [{"step": s.describe(), "error": study.failed.get(s.key) or study.skipped.get(s.key)} for s in plan
              if s.key in study.failed or s.key in study.skipped]
    return {
        "schema": SCHEMA,
        "study": {"name": experiment.name, "description": experiment.description, "command": command,
                  "out": str(folder.root), "started": started, "wall_seconds": round(study.wall_seconds, 1),
                  "steps": {"total": len(plan), "cached": len(study.cached), "ran": len(study.ran),
                            "failed": len(study.failed), "skipped": len(study.skipped)},
                  "experiment": experiment.model_dump(mode="json")},
        "environment": environment(),
        "models": list(results.models.values()),
        "latency": latency,
        "early_exit": results.early_exit,
        "recommendation": recommend(results.latency, **experiment.report.model_dump()),
        "rows": latency + results.rows,
        "errors": errors,
        # only when profiled: a study without profiles keeps its results.json as before
        **({"op_profiles": results.op_profiles} if results.op_profiles else {}),
        **({"searches": [s.model_dump(mode="json") for s in results.searches]} if results.searches else {}),
    }
