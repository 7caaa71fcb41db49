"""The typed records of an early-exit evaluation, as ``eval.json`` and ``sweep.json`` hold them: the reference
table's rows, the timing on the test mix, each path alone, the analytic model, the exit's decisions (overall and per
redundant source) and the sweeps against redundancy and threshold.

Light to import (no Keras, no runtime): the report layer reads them (:mod:`convbench.report.early_exit_section`);
:mod:`convbench.early_exit.evaluation` measures them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convbench.data.mix import MixSettings
from convbench.early_exit.open_world import Rejection


@dataclass(frozen=True, kw_only=True)
class EvaluationRow:
    """One model of the reference table (the baseline, or the early exit with its two loss terms ``l1``, ``l2``):
    loss, decisions (:func:`~convbench.early_exit.measurement.decision_metrics`) and times on the test mix."""

    model: str
    redundancy: float
    images: int
    loss: float
    l1: float | None = None  # the early exit's own loss terms (None: the baseline's row)
    l2: float | None = None
    accuracy: float
    exit_accuracy: float
    exit_precision: float
    exit_recall: float
    exit_share: float
    total_s: float
    time_ms_per_image: float

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None or k not in ("l1", "l2")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvaluationRow:
        return cls(**d)


@dataclass(frozen=True)
class TimingSummary:
    """Both models on one test mix (:meth:`~convbench.early_exit.measurement.MixTiming.summary`): totals, per-image
    means, the measured saving and the split of images between the two paths (path means ``None`` when no image
    took that path)."""

    images: int
    exit_path_images: int
    full_path_images: int
    total_s: float
    baseline_total_s: float
    time_ms_per_image: float
    baseline_time_ms_per_image: float
    saving: float
    exit_path_ms: float | None
    full_path_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TimingSummary:
        """The summary's own fields of ``d`` (a sweep point holds them beside others)."""
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class PathTiming:
    """One path timed alone (:func:`~convbench.early_exit.measurement.path_summary`): median and IQR in ms, sample
    count, stability."""

    median_ms: float
    iqr_ms: float
    n: int
    unstable: bool


@dataclass(frozen=True)
class PathTimes:
    """The exit path and the full path (every call forced down it) and the baseline, each timed alone."""

    exit_path: PathTiming
    full_path: PathTiming
    baseline: PathTiming

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PathTimes:
        return cls(**{name: PathTiming(**d[name]) for name in ("exit_path", "full_path", "baseline")})


@dataclass(frozen=True)
class Analytic:
    """The analytic model (module docstring of :mod:`~convbench.early_exit.measurement`) against the measurement:
    s and h, the ideal and the measured saving, their ratio (``None`` when the ideal is no saving) and the saving
    the path medians predict."""

    stem_share: float
    exit_share: float
    ideal_saving: float
    saving: float
    saving_vs_ideal: float | None
    saving_from_paths: float


@dataclass(frozen=True)
class SourceRow:
    """One row of the "trained on → tested on" table (:func:`source_row`): the exit's decisions on one redundant
    source's test mix (the :class:`~convbench.early_exit.open_world.Rejection` figures) and the time it saves."""

    source: str
    redundancy: float
    threshold: float
    accuracy: float
    images: int
    redundant_images: int
    exit_accuracy: float
    exit_precision: float
    exit_recall: float
    false_exit_rate: float
    auroc: float | None
    fpr_at_95_tpr: float | None
    saving: float
    ideal_saving: float


@dataclass(frozen=True)
class Evaluation:
    """One evaluation (a form × threads at one redundancy and threshold), as ``eval.json`` records it.

    Attributes:
        mix: the test mix's settings (at the redundancy evaluated).
        rows: baseline and early exit in the reference table's layout (loss, accuracies, times).
        timing: totals and the split of images between the two paths.
        paths: each path timed alone.
        analytic: s, h, the ideal and measured saving, their ratio, the saving the path medians predict.
        rejection: how well the exit rejects this mix's redundant images (exit accuracy, precision, recall,
            false exits, AUROC of P(redundant), FPR at 95 % TPR).
        environment: the machine and software (:func:`convbench.env.environment`).
        by_source: per redundant source tested alone, its row of "trained on → tested on" (``None``: not given).
    """

    form: str
    threshold: float
    threads: int
    runtime: str
    repeats: int
    mix: MixSettings
    rows: tuple[EvaluationRow, ...]
    timing: TimingSummary
    paths: PathTimes
    analytic: Analytic
    rejection: Rejection
    environment: dict[str, Any]
    by_source: tuple[SourceRow, ...] | None = None

    def row(self, model: str) -> EvaluationRow:
        """The row of ``model`` (``baseline`` or ``early exit``)."""
        return next(r for r in self.rows if r.model == model)

    def to_dict(self, *, directory: str | None = None, sweep: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON form (``directory`` first, ``by_source`` and ``sweep`` before ``environment`` when given)."""
        return {**({"directory": directory} if directory is not None else {}), "form": self.form,
                "threshold": self.threshold, "threads": self.threads, "runtime": self.runtime,
                "repeats": self.repeats, "mix": self.mix.to_dict(), "rows": [r.to_dict() for r in self.rows],
                "timing": self.timing.to_dict(), "paths": self.paths.to_dict(),
                "analytic": dataclasses.asdict(self.analytic), "rejection": self.rejection.to_dict(),
                **({"by_source": [dataclasses.asdict(r) for r in self.by_source]} if self.by_source is not None
                   else {}),
                **({"sweep": sweep} if sweep is not None else {}), "environment": self.environment}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evaluation:
        """The evaluation in ``d`` (the content of ``eval.json``; its ``directory`` and ``sweep`` are not its own)."""
        by_source = d.get("by_source")
        return cls(d["form"], d["threshold"], d["threads"], d["runtime"], d["repeats"], MixSettings.from_dict(d["mix"]),
                   tuple(EvaluationRow.from_dict(r) for r in d["rows"]), TimingSummary.from_dict(d["timing"]),
                   PathTimes.from_dict(d["paths"]), Analytic(**d["analytic"]), Rejection(**d["rejection"]),
                   d["environment"], None if by_source is None else tuple(SourceRow(**r) for r in by_source))


@dataclass(frozen=True)
class RedundancyPoint:
    """Both models timed on a fresh test mix at one redundancy, with the analytic ideal saving there."""

    redundancy: float
    timing: TimingSummary
    ideal_saving: float

    def to_dict(self) -> dict[str, Any]:
        return {"redundancy": self.redundancy, **self.timing.to_dict(), "ideal_saving": self.ideal_saving}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RedundancyPoint:
        return cls(d["redundancy"], TimingSummary.from_dict(d), d["ideal_saving"])


@dataclass(frozen=True)
class ThresholdPoint:
    """The early exit's decisions at one exit threshold (:func:`~convbench.early_exit.measurement.decision_metrics`)."""

    threshold: float
    accuracy: float
    exit_accuracy: float
    exit_precision: float
    exit_recall: float
    exit_share: float


@dataclass(frozen=True)
class Sweep:
    """Time against redundancy (fresh test mixes at 0 … 0.9) and decisions against the exit threshold."""

    by_redundancy: tuple[RedundancyPoint, ...]
    by_threshold: tuple[ThresholdPoint, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"by_redundancy": [p.to_dict() for p in self.by_redundancy],
                "by_threshold": [dataclasses.asdict(p) for p in self.by_threshold]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sweep:
        """The sweep in ``d`` (``sweep.json``; the ``plots`` an ``eval.json`` lists beside it are not its own)."""
        return cls(tuple(RedundancyPoint.from_dict(p) for p in d["by_redundancy"]),
                   tuple(ThresholdPoint(**p) for p in d["by_threshold"]))


# draws a sweep's plots (its points against redundancy and threshold, into a folder) and returns their paths: the
# report layer's
SweepPlotter = Callable[[Sequence[RedundancyPoint], Sequence[ThresholdPoint], Path], Sequence[Path]]
