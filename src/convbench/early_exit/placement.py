"""Where to put the exit: train one at each candidate point, time each as deployed, keep the fastest good one.

An early exit after block 1 of VGG-19 is cheap but may miss redundant images a later one would catch; a later
exit catches more but costs more before it decides. The analytic saving ``r·(1 − s − h) − (1 − r)·h`` ranks the
points only as far as MACs predict LiteRT time, which they do poorly for small maps and depthwise layers, so the
sweep measures. For every candidate point (``exit_after="auto"``: every point the backbone declares; or a list):

1. train the early-exit network with the exit there (the same mix, splits, seed and budget for every point);
2. calibrate its threshold on the validation split when a calibration goal is given;
3. score it on the validation split under that threshold: accuracy over the C classes (the deployed decision),
   exit accuracy, AUROC of P(redundant), main images exiting;
4. once every point is trained, export each to the study's deployed form and time them together at batch 1,
   image by image, on validation images at the study's redundancy, the candidates taking turns chunk by chunk
   (:mod:`convbench.early_exit.placement_timing`: timed one after another, the machine's drift between them
   would be larger than the differences between neighbouring points);

then choose the fastest point whose validation accuracy meets the goal (``min_accuracy``; by default the
baseline's validation accuracy: an exit should cost no accuracy). The test split steers nothing. The sweep is a
:class:`PlacementSweep` written to ``OUT/placement.json``, into the chosen model's card (``extra.placement``) and
into ``OUT/training.json``; the study report shows it as a table.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from convbench.checks import MAX_THREADS, integer_in
from convbench.data import Preprocessing, Split
from convbench.early_exit.open_world import Rejection, rejection
from convbench.errors import ConfigError
from convbench.io import read_json, write_json
from convbench.models.early_exit import (
    EXIT_OUTPUT,
    EXIT_REDUNDANT,
    EarlyExitModel,
    MacSplit,
    exit_point,
    exit_points,
)
from convbench.vocabulary import EARLY_EXIT_FORMS

AUTO = "auto"  # exit_after: sweep every point the backbone declares
PLACEMENT_DIR, PLACEMENT_FILE = "placement", "placement.json"  # OUT/placement/<point>/…, OUT/placement.json


class PlacementTimes(Protocol):
    """What the sweep reads of a candidate's timing (:class:`convbench.early_exit.placement_timing.ImageTimes`)."""

    @property
    def mean_ms(self) -> float: ...

    @property
    def exit_share(self) -> float: ...


class PlacementTimer(Protocol):
    """Exports every candidate's saved model to the deployed ``form`` and times them on ``images`` at batch 1, each
    at its threshold, interleaved (all at once, so that the machine's drift hits them alike); one result per
    candidate, in order.

    The sweep is handed its measurement (:func:`convbench.early_exit.placement_timing.time_placement`) instead of
    importing it: the sweep and the training around it stay free of the exporter and the runtimes, and a test can
    time stand-ins.
    """

    def __call__(self, model_paths: Sequence[Path], images: np.ndarray, *, form: str, threads: int, repeats: int,
                 thresholds: Sequence[float]) -> Sequence[PlacementTimes]: ...


class PlacementError(ConfigError):
    """No candidate exit placement meets the accuracy goal on validation (the message names the best one)."""


@dataclass(frozen=True)
class PlacementOptions:
    """How the sweep judges and times the candidates.

    Attributes:
        min_accuracy: validation accuracy over the C classes a placement must reach; ``None``: the baseline's.
        form: the deployed form timed (``single`` or ``chained``).
        threads: LiteRT threads for the timing.
        repeats: timed rounds over the images, one call per image each (its median counts).
        limit: time at most this many validation images per candidate (the same ones for every candidate).
        timer: the measurement (:func:`convbench.early_exit.placement_timing.time_placement`); a sweep needs one.
    """

    min_accuracy: float | None = None
    form: str = EARLY_EXIT_FORMS[0]
    threads: int = 1
    repeats: int = 3
    limit: int = 200
    timer: PlacementTimer | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.min_accuracy is not None and not 0 <= self.min_accuracy <= 1:  # also rejects NaN
            raise ConfigError(f"min_accuracy must be in [0, 1], got min_accuracy={self.min_accuracy!r}")
        if self.form not in EARLY_EXIT_FORMS:
            raise ConfigError(f"form must be one of {', '.join(EARLY_EXIT_FORMS)}, got form={self.form!r}")
        for name, low, high in (("threads", 1, MAX_THREADS), ("repeats", 1, None), ("limit", 2, None)):
            integer_in(name, getattr(self, name), low, high)


@dataclass(frozen=True)
class Placement:
    """One candidate point of the sweep (validation figures under its threshold; time at batch 1 as deployed).

    Attributes:
        exit_after: the point.
        macs: per-image MACs of ``stem``, ``exit_head`` and ``rest``; stem_share, exit_share: s and h.
        threshold: the threshold it was scored and timed at (calibrated on validation when a goal was given).
        val_accuracy: accuracy over the C classes under the deployed decision rule.
        val_exit_accuracy, val_auroc, val_false_exit_rate: the exit's side of it (AUROC of P(redundant); the share
            of main images that exit).
        time_ms_per_image: mean over the timed validation images of each one's median time.
        exit_path_share: share of the timed images that took the exit path.
        meets_goal: ``val_accuracy`` ≥ the sweep's ``min_accuracy``; chosen: the sweep's pick.
    """

    exit_after: str
    macs: dict[str, int]
    stem_share: float
    exit_share: float
    threshold: float
    val_accuracy: float
    val_exit_accuracy: float
    val_auroc: float | None
    val_false_exit_rate: float
    time_ms_per_image: float
    exit_path_share: float
    meets_goal: bool
    chosen: bool = False


@dataclass(frozen=True)
class PlacementSweep:
    """The whole sweep: the goal, how it was timed, a row per candidate, and the pick.

    Attributes:
        backbone: the registered backbone.
        min_accuracy: the validation accuracy a placement had to reach; goal: where it came from (``given`` by the
            user, or the ``baseline``'s validation accuracy).
        redundancy: the redundant share of the mix the candidates were scored and timed on (``None``: as loaded).
        form, threads, repeats, images: the deployed form timed, LiteRT threads, timed calls per image, images timed.
        rows: one :class:`Placement` per candidate, in graph order.
        chosen: the fastest point meeting the goal; ``None`` when none does.
    """

    backbone: str
    min_accuracy: float
    goal: str
    redundancy: float | None
    form: str
    threads: int
    repeats: int
    images: int
    rows: tuple[Placement, ...]
    chosen: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "rows": [dataclasses.asdict(row) for row in self.rows]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlacementSweep:
        return cls(**{**d, "rows": tuple(Placement(**row) for row in d["rows"])})

    def write(self, path: str | os.PathLike[str]) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> PlacementSweep:
        return cls.from_dict(read_json(path))


@dataclass(frozen=True)
class Candidate:
    """One trained candidate, as the trainer hands it to the sweep: the model (threshold set), its saved file
    (with card) and the validation split it was chosen on."""

    model: EarlyExitModel
    model_path: Path
    val_accuracy: float
    val: Split


def candidate_points(backbone: str, exit_after: str | Sequence[str]) -> tuple[str, ...]:
    """The points to try: ``"auto"`` → every point ``backbone`` declares; a name or a list → those, checked.

    Raises:
        ModelError: a backbone without exit points, or a point it does not have (listing the ones it has).
        ConfigError: an empty list or a point named twice.
    """
    if isinstance(exit_after, str):
        names = exit_points(backbone) if exit_after == AUTO else [exit_after]
        if not names:
            exit_point(backbone, exit_after)  # raises: the backbone has no exit point
    else:
        names = list(exit_after)
        if not names:
            raise ConfigError(f"exit_after: name at least one exit point, or {AUTO!r} for all of {backbone}'s")
        if len(set(names)) < len(names):
            raise ConfigError(f"exit_after: each point once, got exit_after={names!r}")
    for name in names:
        exit_point(backbone, name)
    return tuple(names)


def sweep_timer(options: PlacementOptions) -> PlacementTimer:
    """The sweep's measurement; checked before any training, since a sweep without one could not choose.

    Raises:
        ConfigError: ``options.timer`` is not set.
    """
    if options.timer is None:
        raise ConfigError("a placement sweep times each point as deployed: pass placement=PlacementOptions("
                          "timer=convbench.early_exit.placement_timing.time_placement)")
    return options.timer


def place_exit(points: Sequence[str], fit_at: Callable[[str], Candidate], preprocessing: Preprocessing, *,
               backbone: str, min_accuracy: float, goal: str, redundancy: float | None, options: PlacementOptions,
               seed: int = 0) -> PlacementSweep:
    """Train (``fit_at``) and score on validation every point, then export and time them together; pick the
    fastest meeting the goal.

    Args:
        points: candidate exit points (:func:`candidate_points`).
        fit_at: trains the early-exit network with its exit at a point and returns it (threshold set).
        preprocessing: turns the validation images into model input.
        min_accuracy: validation accuracy over the C classes a placement must reach; goal: ``given``/``baseline``.
        redundancy: the mix's redundant share, recorded.
        options: form, threads, repeats and image limit of the timing.
        seed: draws the timed subset of validation images (the same one for every candidate).
    """
    timer = sweep_timer(options)
    scored: list[_Scored] = []
    images: np.ndarray | None = None
    for point in points:
        candidate = fit_at(point)
        model, val = candidate.model, candidate.val
        x = preprocessing(val.images)
        p_redundant = model.predict(x, batch_size=256, verbose=0)[EXIT_OUTPUT][:, EXIT_REDUNDANT]
        if images is None:  # the same images for every candidate, drawn once
            count = min(options.limit, len(x))
            images = x[np.sort(np.random.default_rng([seed, 2]).choice(len(x), count, replace=False))]
        scored.append(_Scored(point, model.mac_split(), float(model.threshold), candidate.val_accuracy,
                              rejection(val.labels == model.num_classes - 1, p_redundant, model.threshold),
                              candidate.model_path))
    # timed together once all are trained: timed one by one, the machine's drift would pick the exit
    times = [] if images is None else timer([s.model_path for s in scored], images, form=options.form,
                                            threads=options.threads, repeats=options.repeats,
                                            thresholds=[s.threshold for s in scored])
    rows = [s.placement(t, min_accuracy) for s, t in zip(scored, times, strict=True)]
    meeting = [row for row in rows if row.meets_goal]
    chosen = min(meeting, key=lambda row: row.time_ms_per_image).exit_after if meeting else None
    rows = [dataclasses.replace(row, chosen=row.exit_after == chosen) for row in rows]
    return PlacementSweep(backbone, float(min_accuracy), goal, redundancy, options.form, options.threads,
                          options.repeats, 0 if images is None else len(images), tuple(rows), chosen)


@dataclass(frozen=True)
class _Scored:
    """A trained candidate scored on validation, waiting for the timing that starts once every one is trained."""

    point: str
    macs: MacSplit
    threshold: float
    val_accuracy: float
    scored: Rejection
    model_path: Path

    def placement(self, times: PlacementTimes, min_accuracy: float) -> Placement:
        return Placement(self.point, dataclasses.asdict(self.macs), self.macs.stem_share, self.macs.exit_share,
                         self.threshold, self.val_accuracy, self.scored.exit_accuracy, self.scored.auroc,
                         self.scored.false_exit_rate, times.mean_ms, times.exit_share,
                         self.val_accuracy >= min_accuracy)
