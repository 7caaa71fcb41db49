"""The typed records a search produces: one :class:`TrialRecord` per trial, and the :class:`SearchResult`.

Pydantic models so that ``search.json`` round-trips (:meth:`SearchResult.save` / :meth:`SearchResult.load`) and the
report reads fields, never dict keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from convbench.errors import DataError
from convbench.io import read_json, write_json
from convbench.search.space import SearchSpace

SCHEMA = "convbench.search_result/1"
TrialState = Literal["complete", "pruned", "failed", "infeasible"]


class Deployment(BaseModel):
    """How the found model will run: a runtime and its thread count (``--target litert:1``). Not a target in
    convbench's sense (the device that times, ``bench --on``): the search times on this machine or its Ray timing
    node."""

    model_config = ConfigDict(frozen=True)

    runtime: str = "litert"
    threads: int = 1

    def __str__(self) -> str:
        return f"{self.runtime}:{self.threads}"


class TrialParams(BaseModel):
    """One point of the space: what a trial builds, trains, exports and times."""

    model_config = ConfigDict(frozen=True)

    arch: str
    width: float
    input_size: int
    options: dict[str, Any] = {}
    quantize: str = "none"
    threads: int = 1

    @property
    def label(self) -> str:
        """``mobilenet_v2 α0.31 48px float16 t1 pooling=avg``."""
        options = " ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.arch} α{self.width:.2f} {self.input_size}px {self.quantize} t{self.threads} {options}".strip()


class Latency(BaseModel):
    """Median batch-1 latency of the exported file with its 95 % confidence interval, in milliseconds."""

    model_config = ConfigDict(frozen=True)

    median_ms: float
    ci95_low_ms: float
    ci95_high_ms: float


class TrialRecord(BaseModel):
    """One trial as the study keeps it.

    Attributes:
        number: Optuna's trial number.
        state: ``complete`` (trained, exported, timed), ``pruned`` (stopped by the pruning rule, or before
            training by the latency screen), ``failed`` (an error, or a search killed while it ran) or
            ``infeasible`` (the builder rejects the point).
        val_accuracy, val_loss: of the best epoch (validation split only); with repeated validation splits, the
            worst split's.
        val_accuracy_repeats: the exported file's validation accuracy on each repeated split, the shipped
            model's first (empty: one split, or not trained to the end).
        val_accuracy_per_epoch: what the pruning rule saw.
        latency: of the exported file on the target runtime (complete trials): the definitive figure.
        screen_latency: of the untrained model's export, timed briefly before training (the latency screen; None
            when nothing could be pruned yet: no feasible trial and no ``max_latency``).
        prune_reason: why a pruned trial was stopped (before training: which faster feasible trial, or the cap).
        seeded: one of the cheap seed trials enqueued before the sampler's own (:mod:`convbench.search.seeds`).
        file_size_bytes, params: of the exported file and the model.
        trained_on, timed_on: the node (host, and Ray node id under Ray) that trained / timed it.
        duration_s: wall time of the trial.
        folder: its folder, relative to the search's output folder.
        error: why it failed or is infeasible.
        retry_of: the number of the trial it re-runs (a trial left RUNNING by a killed search).
    """

    number: int
    params: TrialParams
    state: TrialState
    val_accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy_per_epoch: list[float] = []
    val_accuracy_repeats: list[float] = []
    epochs_run: int = 0
    latency: Latency | None = None
    screen_latency: Latency | None = None
    prune_reason: str | None = None
    seeded: bool = False
    file_size_bytes: int | None = None
    params_count: int | None = None
    trained_on: str | None = None
    timed_on: str | None = None
    duration_s: float | None = None
    folder: str | None = None
    model_file: str | None = None
    error: str | None = None
    retry_of: int | None = None

    def feasible(self, floor: float, max_latency_ms: float | None = None) -> bool:
        """Complete, at or above the accuracy floor on validation, and (with a cap) timed at or under the cap."""
        return (self.state == "complete" and self.val_accuracy is not None and self.val_accuracy >= floor
                and (max_latency_ms is None or (self.latency is not None and self.latency.median_ms <= max_latency_ms)))

    @property
    def pruned_before_training(self) -> bool:
        """Stopped by the latency screen: its untrained export could not beat a feasible trial (or the cap)."""
        return self.state == "pruned" and self.epochs_run == 0


class TestScore(BaseModel):
    """Accuracy of a trial's exported file on the test split, in the target runtime, scored once at the end."""

    model_config = ConfigDict(frozen=True)

    number: int
    accuracy: float
    count: int


class SearchSettings(BaseModel):
    """What a search was asked to do (recorded with its result)."""

    model_config = ConfigDict(frozen=True)

    data: str
    floor: float
    target: Deployment
    budget_s: float
    max_trials: int | None = None
    epochs: int
    patience: int
    batch_size: int
    seed: int
    val_fraction: float
    val_split: str = "random"
    val_repeats: int = 1  # validation splits a feasible trial meets the floor on
    max_latency_ms: float | None = None  # hard cap on the median latency (checked before training, too)
    space: SearchSpace
    storage: str
    study_name: str
    ray: str | None = None


class FinalTiming(BaseModel):
    """The fastest feasible trials timed again side by side, in interleaved rounds, for the recommendation.

    Each trial was timed on its own during the search, each in its own stretch of the machine (medians drift 26-50 %
    between stretches on a VM), so their figures rank them but cannot decide between close ones. At the end the
    finalists are timed together and :func:`convbench.bench.verdict.rank` says which the fastest is clearly ahead of;
    a tie goes to the higher validation accuracy, then the lower validation loss, then the smaller file.

    Attributes:
        finalists: the trials timed, fastest by their search timing first.
        latency: each finalist's median and 95 % CI in this timing, in the same order.
        rounds: interleaved rounds.
        tied: the finalists not clearly slower than the fastest (the fastest first).
        clear: the fastest is clearly ahead of every other finalist, on a quiet machine.
        statements: the fastest against each other finalist, in words.
        busy: the machine load, in words, when it was busy while they were timed.
    """

    model_config = ConfigDict(frozen=True)

    finalists: list[int]
    latency: list[Latency]
    rounds: int
    tied: list[int]
    clear: bool
    statements: list[str]
    busy: str | None = None


class SearchResult(BaseModel):
    """What :func:`convbench.search.search` returns and writes as ``OUT/search.json``.

    Attributes:
        trials: every trial, in the order they were asked.
        pareto: numbers of the complete trials on the Pareto front of (val accuracy ↑, latency ↓, file size ↓).
        recommendation: number of the fastest trial meeting the floor on validation (None: none met it).
        test_scores: test accuracy of the recommendation and the front, scored after the last trial ended.
        importance: parameter importance for latency and for validation accuracy (``optuna.importance``).
        search_seconds: wall time of the trials (over every session of a resumed search).
        trials_ended_at, test_read_at: Unix times: the test split was read only after every trial ended.
        final_timing: the fastest feasible trials timed side by side for the recommendation (None: fewer than two).
    """

    settings: SearchSettings
    trials: list[TrialRecord]
    pareto: list[int]
    recommendation: int | None
    test_scores: list[TestScore]
    importance: dict[str, dict[str, float]] = {}
    search_seconds: float
    trials_ended_at: float
    test_read_at: float | None = None
    final_timing: FinalTiming | None = None
    environment: dict[str, Any] = {}

    def trial(self, number: int) -> TrialRecord:
        return next(t for t in self.trials if t.number == number)

    def test_accuracy(self, number: int) -> float | None:
        return next((s.accuracy for s in self.test_scores if s.number == number), None)

    @property
    def recommended(self) -> TrialRecord | None:
        return None if self.recommendation is None else self.trial(self.recommendation)

    def count(self, state: TrialState) -> int:
        return sum(t.state == state for t in self.trials)

    @property
    def pruned_before_training(self) -> int:
        """How many trials the latency screen stopped before any training."""
        return sum(t.pruned_before_training for t in self.trials)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write as JSON, atomically."""
        return write_json(path, {"schema": SCHEMA, **self.model_dump(mode="json")})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SearchResult:
        """Read a result written by :meth:`save`; :class:`DataError` naming the file when it is not one."""
        try:
            raw = read_json(path)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: not a readable search result ({e})") from None
        if not isinstance(raw, dict) or raw.pop("schema", None) != SCHEMA:
            raise DataError(f"{path}: not a search result (expected schema {SCHEMA!r})")
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise DataError(f"{path}: malformed search result ({e.errors()[0]['msg']})") from None
