"""The typed records a study's report reads: what the step kinds contribute (a trained model's row, a timed file's
latency row, a per-operator profile, an early-exit evaluation with its training figures and sweep), the
recommendation, and the whole :class:`StudyReport`.

The renderers read fields, never dict keys; dicts exist only at the JSON edge: each record's ``to_dict`` lays it
out exactly as ``results.json`` holds it (the keys in the same order, optional ones left out as they always were),
and ``from_dict`` reads it back where a record is read from a file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

from convbench.bench.verdict import Verdict
from convbench.early_exit.evaluation import Evaluation, Sweep
from convbench.early_exit.open_world import Calibration
from convbench.early_exit.placement import PlacementSweep
from convbench.search import SearchResult

SCHEMA = "convbench.study_results/1"


class FlatRow(Protocol):
    """A row of results.csv and of the history: a record that lays itself out as one flat dict."""

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ModelRow:
    """One trained candidate (a ``train`` step): its shape, size, accuracies and training run."""

    model: str
    arch: str
    width: float
    input_size: int
    channels: int
    dataset: str
    params: int | None
    macs: int | None
    train_accuracy: float | None
    val_accuracy: float | None
    test_accuracy: float | None
    epochs_run: int | None
    best_epoch: int | None
    train_seconds: float | None
    test_images: int | None
    epochs: int
    file: str  # the Keras model, relative to the study folder when inside it

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelRow:
        return cls(**d)


_LEFT_OUT_WHEN_NONE = ("parity_note", "samples", "peak_memory_bytes", "model_memory_bytes")


@dataclass(frozen=True, kw_only=True)
class LatencyRow:
    """One timed file × runtime × thread count on one target: what the study knows of the file (its model's
    figures, export mode, size and hash, the accuracy of that very file in that runtime), every phase's median, the
    inference's CI and percentiles (:meth:`~convbench.bench.BenchResult.figures_ms`) and its environment.

    ``ci95_*_ms`` are ``None`` and ``samples`` says so when the result holds a tool's aggregates, not samples;
    ``parity_note`` is the parity step's note on the file in that runtime; the memory figures are joined by a
    ``memory`` step. Those four are left out of the JSON when ``None``.
    """

    model: str
    arch: str
    width: float
    input_size: int
    dataset: str
    format: str
    quantize: str
    runtime: str
    runtime_version: str | None
    threads: int
    delegate: str | None
    params: int | None
    macs: int | None
    size_bytes: int
    sha256: str
    accuracy: float | None
    keras_accuracy: float | None
    agreement: float | None
    max_abs_diff: float | None
    median_ms: float
    ci95_low_ms: float | None
    ci95_high_ms: float | None
    p90_ms: float
    p99_ms: float
    iqr_ms: float
    n: int
    unstable: bool
    load_ms: float
    first_inference_ms: float
    preprocess_ms: float
    attained_gflops: float | None
    target: str
    parity_note: str | None = None
    device: str | None
    samples: str | None = None
    file: str
    bench_file: str
    environment: dict[str, Any]
    peak_memory_bytes: int | None = None
    model_memory_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "latency", **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                                      if not (f.name in _LEFT_OUT_WHEN_NONE and getattr(self, f.name) is None)}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LatencyRow:
        return cls(**{k: v for k, v in d.items() if k != "kind"})


@dataclass(frozen=True)
class ModelFile:
    """A model file as the report names it: its model, format and optimisation mode."""

    model: str
    format: str
    quantize: str


@dataclass(frozen=True)
class NodeTime:
    """One node of a per-operator profile: its op type, name, time per run and share of the profiler's total."""

    op_type: str
    node: str
    ms_per_run: float
    share: float


@dataclass(frozen=True)
class OpTypeShare:
    """One op type's share of the profiler's total."""

    op_type: str
    share: float


@dataclass(frozen=True)
class ProfiledOps:
    """What a runtime's profiler measured: the profiled runs and nodes, the files, the slowest nodes, the op types."""

    runtime_version: str | None
    runs: int
    nodes: int
    profile: str
    node_data: str  # Model Explorer node data
    top: tuple[NodeTime, ...]
    by_op_type: tuple[OpTypeShare, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "top": [dataclasses.asdict(n) for n in self.top],
                "by_op_type": [dataclasses.asdict(t) for t in self.by_op_type]}


@dataclass(frozen=True)
class OpProfileEntry:
    """One file × runtime's per-operator profile (its slowest nodes), or why the runtime could not profile it.

    ``timed``: the file as its latency rows name it (``None`` when it has none); profiles run on this machine.
    """

    file: str
    runtime: str
    threads: int
    timed: ModelFile | None
    unavailable: str | None = None
    ops: ProfiledOps | None = None

    @property
    def target(self) -> None:
        """Profiles run on this machine (as the timing rows' ``local``)."""
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "runtime": self.runtime, "threads": self.threads,
                **(dataclasses.asdict(self.timed) if self.timed is not None else {}),
                **({"unavailable": self.unavailable} if self.ops is None else self.ops.to_dict())}


@dataclass(frozen=True, kw_only=True)
class Recommendation:
    """The configuration to ship at or above the accuracy floor (:func:`convbench.report.study.recommend`).

    Attributes:
        accuracy_floor, candidates: the floor and how many configurations were ranked.
        shipped: the one to ship; picked_by: ``latency``, ``size`` or ``accuracy`` (the criterion that decided).
        clear: whether it is clearly ahead of every other (``None`` when not testable).
        tied: the configurations not clearly slower than the fastest; busy: why the machine was busy, if it was.
        verdicts: the fastest against each other one; fastest, runner_up, smallest, pareto: rows.
        sentence: the answer in words.
        per_target: each target's own recommendation when the study timed on several (the others are the first's).
    """

    accuracy_floor: float
    candidates: int
    shipped: LatencyRow | None = None
    picked_by: str | None = None
    clear: bool | None = None
    tied: tuple[LatencyRow, ...] = ()
    busy: str | None = None
    verdicts: tuple[Verdict, ...] = ()
    fastest: LatencyRow | None = None
    runner_up: LatencyRow | None = None
    smallest: LatencyRow | None = None
    pareto: tuple[LatencyRow, ...] = ()
    sentence: str = ""
    per_target: dict[str, Recommendation] | None = None

    def to_dict(self) -> dict[str, Any]:
        def row(r: LatencyRow | None) -> dict[str, Any] | None:
            return None if r is None else r.to_dict()

        return {"accuracy_floor": self.accuracy_floor, "candidates": self.candidates, "shipped": row(self.shipped),
                "picked_by": self.picked_by, "clear": self.clear, "tied": [r.to_dict() for r in self.tied],
                "busy": self.busy, "verdicts": [v.to_dict() for v in self.verdicts], "fastest": row(self.fastest),
                "runner_up": row(self.runner_up), "smallest": row(self.smallest),
                "pareto": [r.to_dict() for r in self.pareto], "sentence": self.sentence,
                **({"per_target": {t: r.to_dict() for t, r in self.per_target.items()}}
                   if self.per_target is not None else {})}


@dataclass(frozen=True)
class EarlyExitTraining:
    """An early-exit training step's figures (both models' files, accuracies and sizes, the MAC split, where the
    exit sits, the sources it was trained on, its threshold calibration and placement sweep when it has them)."""

    model: str
    baseline: str
    training: str
    test_accuracy: float
    baseline_test_accuracy: float
    exit_accuracy: float | None
    threshold: float  # the one exit_accuracy was scored at: the calibrated one when calibrated
    params: int
    baseline_params: int
    stem_share: float
    exit_share: float
    backbone: str
    width: float
    exit_after: str
    trained_on: tuple[str, ...] = ()
    calibration: Calibration | None = None
    placement: PlacementSweep | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
                "trained_on": list(self.trained_on),
                "calibration": None if self.calibration is None else self.calibration.to_dict(),
                "placement": None if self.placement is None else self.placement.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EarlyExitTraining:
        """The figures in ``d`` (the training step's outputs as JSON)."""
        calibration, placement = d.get("calibration"), d.get("placement")
        return cls(**{**d, "trained_on": tuple(d.get("trained_on", ())),
                      "calibration": None if calibration is None else Calibration.from_dict(calibration),
                      "placement": None if placement is None else PlacementSweep.from_dict(placement)})


@dataclass(frozen=True)
class EarlyExitEntry:
    """One early-exit evaluation of a study (a trained exit, in one LiteRT form at one thread count): the training
    figures of both models, the evaluation, the sweep when the study swept it, and the summary sentence."""

    model: str
    training: EarlyExitTraining
    evaluation: Evaluation
    summary: str
    sweep: Sweep | None = None

    def to_dict(self) -> dict[str, Any]:
        evaluation = self.evaluation.to_dict(sweep=None if self.sweep is None else self.sweep.to_dict())
        return {"model": self.model, "training": self.training.to_dict(), **evaluation, "summary": self.summary}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EarlyExitEntry:
        """The entry in ``d`` (one of ``results.json``'s ``early_exit``)."""
        sweep = d.get("sweep")
        return cls(d["model"], EarlyExitTraining.from_dict(d["training"]), Evaluation.from_dict(d), d["summary"],
                   None if sweep is None else Sweep.from_dict(sweep))


@dataclass(frozen=True)
class StepCounts:
    """How many steps the study has, and how many were reused, run now, failed or skipped."""

    total: int
    cached: int
    ran: int
    failed: int
    skipped: int


@dataclass(frozen=True)
class StudyInfo:
    """What the study was and how this run of it went: its experiment (as JSON), the command that reproduces it,
    the output folder, when it started and how long it took."""

    name: str
    description: str
    command: str
    out: str
    started: str
    wall_seconds: float
    steps: StepCounts
    experiment: dict[str, Any]  # the validated experiment, as JSON

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class StepError:
    """A step that failed or was skipped, and why."""

    step: str
    error: str | None


@dataclass(frozen=True)
class StudyReport:
    """Everything a study's report shows (``results.json`` is its :meth:`to_dict`).

    Attributes:
        study: the study and this run of it; environment: the machine and software the report was written on.
        models: one row per trained candidate; latency: one row per timed file × runtime × threads × target.
        early_exit: the early-exit evaluations; recommendation: the configuration to ship.
        rows: the rows of results.csv and of the history beyond the latency rows (early-exit evaluations …).
        errors: the steps that failed or were skipped.
        op_profiles: per file × runtime, its slowest nodes; searches: the architecture searches' results.
    """

    study: StudyInfo
    environment: dict[str, Any]
    recommendation: Recommendation
    models: list[ModelRow] = field(default_factory=list)
    latency: list[LatencyRow] = field(default_factory=list)
    early_exit: list[EarlyExitEntry] = field(default_factory=list)
    rows: list[FlatRow] = field(default_factory=list)
    errors: list[StepError] = field(default_factory=list)
    op_profiles: list[OpProfileEntry] = field(default_factory=list)
    searches: list[SearchResult] = field(default_factory=list)

    def flat_rows(self) -> list[dict[str, Any]]:
        """The rows of results.csv and of the history: the latency rows, then the other kinds' rows."""
        return [r.to_dict() for r in self.latency] + [r.to_dict() for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """``results.json``: the op profiles and searches only when the study has them (a study without keeps its
        results.json as before)."""
        return {
            "schema": SCHEMA, "study": self.study.to_dict(), "environment": self.environment,
            "models": [m.to_dict() for m in self.models], "latency": [r.to_dict() for r in self.latency],
            "early_exit": [e.to_dict() for e in self.early_exit], "recommendation": self.recommendation.to_dict(),
            "rows": self.flat_rows(), "errors": [dataclasses.asdict(e) for e in self.errors],
            **({"op_profiles": [p.to_dict() for p in self.op_profiles]} if self.op_profiles else {}),
            **({"searches": [s.model_dump(mode="json") for s in self.searches]} if self.searches else {}),
        }
