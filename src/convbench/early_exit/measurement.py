"""Measuring early-exit networks: decisions, per-image latency on a test mix, each path alone, the ideal saving.

Pure measurement: every function takes loaded runners and images (or probabilities) and returns figures;
which files are timed, on which mix, and where results go is decided by the evaluation
(:mod:`convbench.early_exit.evaluation`).

Time is measured where the saving is real: the deployed LiteRT files at batch 1, one image per call, each
model processing the test mix as a stream by itself, as a deployed model processes its camera stream (models
alternating image by image would evict each other's weights from the caches at every switch and charge the
short exit path a cold start no deployment pays). The stream is cut into chunks of consecutive images (tens of
milliseconds of calls); in each of ``repeats`` rounds the models (an early exit and its baseline, or the
placement sweep's candidates) take turns chunk by chunk, in a seeded shuffled order per chunk, so that drift of
the machine slower than a chunk hits them all alike (this VM drifts 20-30 % between passes of a whole stream,
more than the savings at stake); each chunk starts with one untimed call of its first image, so that no timed
call follows another model's. An image's time is its median over the rounds. The exit and full paths are also
timed on their own (every call forced down one path, on one image) with :class:`~convbench.bench.Timer`.

Analytic model: with s the share of the backbone's MACs spent up to the exit and h the exit head's
share, an image that exits costs s + h and one that does not costs 1 + h, so at redundancy r the
ideal saving is ``r·(1 − s − h) − (1 − r)·h``; ``measured / ideal`` says how much of it LiteRT delivers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from convbench.bench.measurement import Measurement
from convbench.bench.rounds import round_orders
from convbench.bench.timer import Timer
from convbench.checks import integer_in
from convbench.errors import ConfigError
from convbench.runtime.base import Runner
from convbench.runtime.early_exit import EarlyExitRunner, check_threshold

MIX_CHUNK = 50  # images per turn in time_stream: ~15 ms of calls for the studies' VGG-19 α 0.25 at 32 px
SWEEP_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def ideal_saving(redundancy: float, stem_share: float, exit_share: float) -> float:
    """The analytic saving ``r·(1 − s − h) − (1 − r)·h`` (a fraction of the backbone's time; < 0 means a loss)."""
    return redundancy * (1 - stem_share - exit_share) - (1 - redundancy) * exit_share


def decide(p_redundant: np.ndarray, main_probs: np.ndarray, threshold: float) -> np.ndarray:
    """C-class decisions under the inference rule: ``C-1`` where P(redundant) ≥ threshold, else the main argmax."""
    exits = np.asarray(p_redundant, np.float32) >= np.float32(threshold)  # float32, as the deployed graph compares
    return np.where(exits, main_probs.shape[1], np.argmax(main_probs, axis=1))


def decision_metrics(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy over the C classes, and the exit's accuracy, precision and recall ("redundant" is positive).

    Works alike for the early-exit model (``predicted`` from :func:`decide`: class C-1 means it exited)
    and the baseline (its argmax: class C-1 means it called the image redundant). Precision is 0 when
    nothing is called redundant, as Keras reports it.
    """
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    redundant, called = labels == num_classes - 1, predicted == num_classes - 1
    hits = int(np.sum(redundant & called))
    return {"accuracy": float(np.mean(predicted == labels)), "exit_accuracy": float(np.mean(redundant == called)),
            "exit_precision": hits / max(int(called.sum()), 1), "exit_recall": hits / max(int(redundant.sum()), 1),
            "exit_share": float(np.mean(called))}


@dataclass(frozen=True)
class MixTiming:
    """Per-image results of :func:`time_mix` (seconds are each image's median over the rounds)."""

    early_exit_s: np.ndarray  # (N,)
    baseline_s: np.ndarray  # (N,)
    exited: np.ndarray  # (N,) bool
    predicted: np.ndarray  # (N,) early-exit decisions over C classes
    baseline_probs: np.ndarray  # (N, C) the baseline's probabilities

    def summary(self) -> dict[str, Any]:
        """Totals, per-image means, the saving and the split of images between the two paths."""
        exited, count = self.exited, len(self.exited)
        total, baseline_total = float(self.early_exit_s.sum()), float(self.baseline_s.sum())
        return {"images": count, "exit_path_images": int(exited.sum()), "full_path_images": int((~exited).sum()),
                "total_s": total, "baseline_total_s": baseline_total, "time_ms_per_image": 1e3 * total / count,
                "baseline_time_ms_per_image": 1e3 * baseline_total / count, "saving": 1 - total / baseline_total,
                "exit_path_ms": _mean_ms(self.early_exit_s[exited]),
                "full_path_ms": _mean_ms(self.early_exit_s[~exited])}


@dataclass(frozen=True)
class StreamTiming:
    """Per-runner results of :func:`time_stream`, in the order the runners were given."""

    outputs: tuple[np.ndarray, ...]  # (N, C) each: the runner's output for every image, from its warm-up pass
    seconds: np.ndarray  # (R, N): each image's median time over the rounds, per runner


def time_stream(runners: Sequence[Runner], images: np.ndarray, repeats: int = 3, *, seed: int = 0,
                chunk: int = MIX_CHUNK) -> StreamTiming:
    """Time the loaded ``runners`` on the stream ``images`` (float32 ``(N, H, W, C)``), one call per image, taking
    turns chunk by chunk: the protocol of the module docstring, for any number of models.

    Each runner first makes one untimed pass over the stream, which also gives every image's output (each from
    that image's own call); then ``repeats`` rounds time the stream in chunks of ``chunk`` consecutive images,
    the runners taking turns chunk by chunk in an order shuffled per chunk (seeded by ``seed``): within a chunk
    a runner's calls follow its own calls as in a deployment (the chunk's first image is called once untimed
    before it), and drift of the machine slower than a chunk hits every runner alike.

    Raises:
        ConfigError: ``repeats`` or ``chunk`` < 1, or no images.
    """
    integer_in("repeats", repeats, 1)
    integer_in("chunk", chunk, 1)
    if len(images) == 0:
        raise ConfigError("no images to time the mix on")
    outputs = tuple(runner.predict(images) for runner in runners)  # the warm-up passes: one call per image
    stream = images[:, None]  # (1, H, W, C) each
    seconds = np.zeros((len(runners), repeats, len(images)))
    starts = range(0, len(stream), chunk)
    orders = round_orders(len(runners), repeats * len(starts), seed)  # a round per chunk of each repeat
    for r in range(repeats):
        for start in starts:
            for k in next(orders):
                runners[k].set_input(stream[start])
                runners[k].invoke()  # back on its own weights before its first timed call
                seconds[k, r, start:start + chunk] = [median_call(runners[k], image, 1, warmup=0)
                                                      for image in stream[start:start + chunk]]
    return StreamTiming(outputs, np.median(seconds, axis=1))


def exit_decisions(early_exit: EarlyExitRunner, outputs: np.ndarray) -> np.ndarray:
    """Which images exited, from the early-exit runner's C-class ``outputs`` ``(N, C)``: they are one-hot on the
    redundant class C-1 exactly where the image exited, so their argmax is both decisions."""
    return np.argmax(outputs, axis=1) == len(early_exit.card.class_names) - 1


def time_mix(early_exit: EarlyExitRunner, baseline: Runner, images: np.ndarray, repeats: int = 3, *,
             seed: int = 0, chunk: int = MIX_CHUNK) -> MixTiming:
    """Time both loaded runners on the stream ``images`` (float32 ``(N, H, W, C)``), one call per image, taking
    turns chunk by chunk (:func:`time_stream`); the decisions are each image's own call's.

    Raises:
        ConfigError: ``repeats`` or ``chunk`` < 1, or no images.
    """
    timing = time_stream((baseline, early_exit), images, repeats, seed=seed, chunk=chunk)
    base_probs, ee_outputs = timing.outputs
    base_s, ee_s = timing.seconds
    return MixTiming(ee_s, base_s, exit_decisions(early_exit, ee_outputs), np.argmax(ee_outputs, axis=1), base_probs)


def time_paths(early_exit: EarlyExitRunner, baseline: Runner, image: np.ndarray, *, runs: int = 100,
               min_seconds: float = 0.5) -> dict[str, Measurement]:
    """Steady-state Measurements of the exit path and the full path (every call forced down it) and of the
    baseline, on one ``(1, H, W, C)`` image; both runners must be loaded."""
    def measure(runner: Runner, description: str) -> Measurement:
        timer = Timer(runner.invoke, setup=lambda: runner.set_input(image), label=runner.path.name,
                      sub_label=f"{runner.name} t{runner.threads}", description=description,
                      num_threads=runner.threads)
        return timer.run(runs=runs, min_seconds=min_seconds, warmup_seconds=0.2)

    with early_exit.forced_path("exit"):
        exit_path = measure(early_exit, "exit path")
    with early_exit.forced_path("full"):
        full_path = measure(early_exit, "full path")
    return {"exit_path": exit_path, "full_path": full_path, "baseline": measure(baseline, "baseline")}


def saving_from_paths(paths: dict[str, Measurement], exit_fraction: float) -> float:
    """The saving predicted by the steady-state path medians for a mix where ``exit_fraction`` of the images exit:
    a cross-check of the per-image figure that a busy machine disturbs less."""
    early_exit = exit_fraction * paths["exit_path"].median + (1 - exit_fraction) * paths["full_path"].median
    return 1 - early_exit / paths["baseline"].median


def analytic(redundancy: float, stem_share: float, exit_share: float, timing: MixTiming,
             paths: dict[str, Measurement]) -> dict[str, Any]:
    """The measured saving against the analytic ideal at ``redundancy``, and the saving the path medians predict."""
    ideal, saving = ideal_saving(redundancy, stem_share, exit_share), timing.summary()["saving"]
    return {"stem_share": stem_share, "exit_share": exit_share, "ideal_saving": ideal, "saving": saving,
            "saving_vs_ideal": saving / ideal if ideal > 0 else None,
            "saving_from_paths": saving_from_paths(paths, float(np.mean(timing.exited)))}


def full_outputs(early_exit: EarlyExitRunner, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exit probabilities ``(N, 2)`` and main-head probabilities ``(N, C-1)`` of every image, each forced
    down the full path (what the loss and a threshold sweep need); the runner must be loaded."""
    exit_probs, main_probs = [], []
    with early_exit.forced_path("full"):
        for image in images[:, None]:
            early_exit.set_input(image)
            early_exit.invoke()
            exit_probs.append(early_exit.exit_probabilities())
            main_probs.append(early_exit.main_probabilities())
    return np.array(exit_probs), np.array(main_probs)


def threshold_sweep(labels: np.ndarray, p_redundant: np.ndarray, main_probs: np.ndarray,
                    thresholds: tuple[float, ...] = SWEEP_THRESHOLDS) -> list[dict[str, float]]:
    """:func:`decision_metrics` at every threshold, from probabilities computed once for every image."""
    num_classes = main_probs.shape[1] + 1
    return [{"threshold": t, **decision_metrics(labels, decide(p_redundant, main_probs, check_threshold(t)),
                                                num_classes)} for t in thresholds]


def median_call(runner: Runner, image: np.ndarray, repeats: int, *, warmup: int = 1) -> float:
    """The median of ``repeats`` timed calls of the loaded ``runner`` on one ``(1, H, W, C)`` image (seconds),
    after ``warmup`` untimed calls (none: the call of an image in a stream, timed as it comes)."""
    timer = Timer(runner.invoke, setup=lambda: runner.set_input(image))
    return timer.run(runs=repeats, min_seconds=0.0, warmup=warmup, warmup_seconds=0.0).median


def _mean_ms(seconds: np.ndarray) -> float | None:
    return 1e3 * float(seconds.mean()) if len(seconds) else None


def path_summary(m: Measurement) -> dict[str, Any]:
    """A path's Measurement as the evaluation records it: median and IQR in ms, sample count, stability."""
    return {"median_ms": 1e3 * m.median, "iqr_ms": 1e3 * m.iqr, "n": m.n, "unstable": m.unstable}
