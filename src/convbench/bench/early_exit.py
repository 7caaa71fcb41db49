"""Evaluating early-exit networks: decisions, per-image latency on a real test mix, and the ideal saving.

Time is measured where the saving is real: the deployed LiteRT files at batch 1, one image at a time,
each image timed ``repeats`` times (its median counts), the baseline and the early-exit model
alternating image by image so that a change in machine load hits both alike. The exit and full
paths are also timed on their own (every image forced down one path) with :class:`~convbench.bench.Timer`.

Analytic model: with s the share of the backbone's MACs spent up to the exit and h the exit head's
share, an image that exits costs s + h and one that does not costs 1 + h, so at redundancy r the
ideal saving is ``r·(1 − s − h) − (1 − r)·h``; ``measured / ideal`` says how much of it LiteRT delivers.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from convbench.bench.measurement import Measurement
from convbench.bench.timer import Timer
from convbench.data import Dataset, Preprocessing, Split, load
from convbench.env import environment
from convbench.errors import ConfigError, ModelError
from convbench.export.early_exit import FORMS, early_exit_card, export_early_exit
from convbench.io import write_json
from convbench.models.early_exit import EXIT_REDUNDANT, MacSplit, loss_terms
from convbench.runtime.base import Runner
from convbench.runtime.early_exit import EarlyExitRunner, check_threshold, open_early_exit_runner
from convbench.train.early_exit import (
    BASELINE_DIR,
    EARLY_EXIT_DIR,
    MixSettings,
    check_redundancy,
    held_out_mix,
    load_pools,
    read_mix_settings,
)
from convbench.train.loop import MODEL_FILE

SWEEP_REDUNDANCIES = tuple(i / 10 for i in range(10))  # 0 … 0.9
SWEEP_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
RESULT_FILE = "eval.json"


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
    """Per-image results of :func:`time_mix` (seconds are each image's median over its repeats)."""

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


def time_mix(early_exit: EarlyExitRunner, baseline: Runner, images: np.ndarray, repeats: int = 3) -> MixTiming:
    """Time both runners image by image on ``images`` (float32 ``(N, H, W, C)``), ``repeats`` timed calls each
    after one warm-up call; both runners must be loaded."""
    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1, got repeats={repeats!r}")
    count = len(images)
    ee_s, base_s, exited, predicted = np.zeros(count), np.zeros(count), np.zeros(count, bool), np.zeros(count, int)
    base_probs = np.zeros((count, len(baseline.card.class_names)), np.float32)
    for i, image in enumerate(images[:, None]):  # (1, H, W, C) each
        base_s[i] = _median_call(baseline, image, repeats)
        base_probs[i] = baseline.get_output()[0]
        ee_s[i] = _median_call(early_exit, image, repeats)
        predicted[i] = int(np.argmax(early_exit.get_output()))
        exited[i] = early_exit.exited
    return MixTiming(ee_s, base_s, exited, predicted, base_probs)


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


@dataclass(frozen=True)
class _Opened:
    """A training folder opened for evaluation: both LiteRT runners (loaded), the data pools, the MAC split."""

    runner: EarlyExitRunner
    baseline: Runner
    preprocessing: Preprocessing
    num_classes: int
    macs: MacSplit
    settings: MixSettings
    pools: tuple[Dataset, Dataset]

    def test_mix(self, redundancy: float, limit: int | None) -> Split:
        return held_out_mix(*self.pools, redundancy, self.settings.seed, limit)

    def ideal(self, redundancy: float) -> float:
        return ideal_saving(redundancy, self.macs.stem_share, self.macs.exit_share)


def evaluate_early_exit(directory: str | os.PathLike[str], main: str | Dataset | None = None,
                        redundant: str | Dataset | None = None, *, redundancy: float | None = None,
                        threshold: float = 0.5, form: str = "single", sweep: bool = False, repeats: int = 3,
                        limit: int | None = None, threads: int = 1,
                        out: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Evaluate a :func:`~convbench.train.early_exit.train_early_exit` folder against its baseline in LiteRT.

    Rebuilds the test mix the models were trained for (test splits only: held-out redundant groups stay
    unseen), exports both models to LiteRT (``form``: the single file or the chained segments; files
    exported earlier from the same models are reused), times them image by image at batch 1
    (:func:`time_mix`) and each path alone (:func:`time_paths`). Every figure comes from the deployed
    files: the losses (L = L1 + δ·L2 for the early-exit model, cross-entropy for the baseline) from their
    probabilities, the main head's forced to run on every image (:func:`full_outputs`).

    Args:
        directory: the training output folder.
        main, redundant: data specs or datasets (``None``: the specs it was trained on, from its ``training.json``).
        redundancy: redundant share of the test mix in [0, 1) (``None``: as trained).
        threshold: exit when P(redundant) ≥ threshold, in (0, 1).
        form: ``"single"`` or ``"chained"``.
        sweep: also time redundancies 0 … 0.9 and sweep thresholds, with plots ``time_vs_redundancy.png``
            and ``accuracy_vs_threshold.png``.
        repeats: timed calls per image (after one warm-up call).
        limit: time at most this many images of each test mix (a stratified, seeded subset).
        threads: LiteRT threads.
        out: folder for ``eval.json`` and the plots (default: ``directory``).

    Returns:
        The content of ``eval.json``: ``rows`` (baseline and early exit, in the reference table's layout),
        ``timing`` (totals and the split of images between the paths), ``paths`` (each path timed alone),
        ``analytic`` (s, h, ideal and measured saving, their ratio), ``sweep`` when asked, the environment.

    Raises:
        ModelError: the folder holds no early-exit model (e.g. a plain model's folder).
        ConfigError: redundancy outside [0, 1), threshold outside (0, 1), an unknown form, a bad limit.
        DataError: data that cannot be loaded, or a redundant set sharing classes with the main set.
    """
    check_threshold(threshold)
    check_redundancy(redundancy)
    if form not in FORMS:
        raise ConfigError(f"form must be one of {', '.join(FORMS)}, got form={form!r}")
    if limit is not None and limit < 2:
        raise ConfigError(f"limit must be at least 2, got limit={limit!r}")
    opened = _open(Path(directory), main, redundant, form=form, threads=threads, threshold=threshold)
    redundancy = opened.settings.redundancy if redundancy is None else redundancy
    out = Path(out) if out is not None else Path(directory)

    test = opened.test_mix(redundancy, limit)
    images = opened.preprocessing(test.images)
    timing = time_mix(opened.runner, opened.baseline, images, repeats)
    paths = time_paths(opened.runner, opened.baseline, images[:1])
    exit_probs, main_probs = full_outputs(opened.runner, images)
    times = timing.summary()
    l1, l2 = (np.asarray(term) for term in loss_terms(test.labels, exit_probs, main_probs))
    baseline_loss = np.asarray(keras.losses.sparse_categorical_crossentropy(test.labels, timing.baseline_probs))
    common = {"redundancy": redundancy, "images": len(test)}
    rows = [{"model": "baseline", **common, "loss": float(baseline_loss.mean()),
             **decision_metrics(test.labels, np.argmax(timing.baseline_probs, axis=1), opened.num_classes),
             "total_s": times["baseline_total_s"], "time_ms_per_image": times["baseline_time_ms_per_image"]},
            {"model": "early exit", **common, "loss": float(l1.mean() + l2.mean()), "l1": float(l1.mean()),
             "l2": float(l2.mean()), **decision_metrics(test.labels, timing.predicted, opened.num_classes),
             "total_s": times["total_s"], "time_ms_per_image": times["time_ms_per_image"]}]
    ideal = opened.ideal(redundancy)
    result = {"directory": str(directory), "form": form, "threshold": threshold, "threads": threads,
              "runtime": f"{opened.runner.name} {opened.runner.version} ({opened.runner.delegate})",
              "repeats": repeats, "mix": {**opened.settings.to_dict(), "redundancy": redundancy},
              "rows": rows, "timing": times, "paths": {k: _summary_ms(m) for k, m in paths.items()},
              "analytic": {"stem_share": opened.macs.stem_share, "exit_share": opened.macs.exit_share,
                           "ideal_saving": ideal, "saving": times["saving"],
                           "saving_vs_ideal": times["saving"] / ideal if ideal > 0 else None,
                           "saving_from_paths": saving_from_paths(paths, float(np.mean(timing.exited)))}}
    if sweep:
        by_threshold = threshold_sweep(test.labels, exit_probs[:, EXIT_REDUNDANT], main_probs)
        result["sweep"] = _sweep_redundancy(opened, limit, repeats, by_threshold, out)
    result["environment"] = environment()
    write_json(out / RESULT_FILE, result)
    return result


def _open(directory: Path, main: str | Dataset | None, redundant: str | Dataset | None, *, form: str, threads: int,
          threshold: float) -> _Opened:
    from convbench.runtime import open_runner

    model_path, baseline_path = directory / EARLY_EXIT_DIR / MODEL_FILE, directory / BASELINE_DIR / MODEL_FILE
    if not model_path.is_file():
        raise ModelError(_not_early_exit(directory))
    card = early_exit_card(model_path)
    settings = read_mix_settings(directory)
    pools = load_pools(settings, *(d if isinstance(d, Dataset) else load(d) if d else None for d in (main, redundant)))
    settings = dataclasses.replace(settings, main=_name(main, settings.main), redundant=_name(redundant,
                                                                                             settings.redundant))
    exported = export_early_exit(model_path, forms=(form,))
    runner = open_early_exit_runner(exported.single or exported.stem, threads=threads, threshold=threshold)
    baseline = open_runner(_baseline_tflite(baseline_path, pools, settings), threads=threads)
    runner.load()
    baseline.load()
    return _Opened(runner, baseline, card.preprocessing, len(card.class_names),
                   MacSplit(**card.extra["early_exit"]["macs"]), settings, pools)


def _sweep_redundancy(opened: _Opened, limit: int | None, repeats: int, by_threshold: list[dict[str, float]],
                      out: Path) -> dict[str, Any]:
    """Time vs redundancy (0 … 0.9) on fresh test mixes, and the plots of both sweeps."""
    by_redundancy = []
    for r in SWEEP_REDUNDANCIES:
        images = opened.preprocessing(opened.test_mix(r, limit).images)
        summary = time_mix(opened.runner, opened.baseline, images, repeats).summary()
        by_redundancy.append({"redundancy": r, **summary, "ideal_saving": opened.ideal(r)})
    from convbench.report.study_plots import accuracy_vs_threshold, time_vs_redundancy  # matplotlib: lazy

    plots = [time_vs_redundancy(by_redundancy, out / "time_vs_redundancy.png"),
             accuracy_vs_threshold(by_threshold, out / "accuracy_vs_threshold.png")]
    return {"by_redundancy": by_redundancy, "by_threshold": by_threshold, "plots": [str(p) for p in plots]}


def _baseline_tflite(model_path: Path, pools: tuple[Dataset, Dataset], settings: MixSettings) -> Path:
    """The baseline's float32 ``.tflite`` beside it: exported (parity-checked on test-mix images) unless a file
    exported from the same model is already there."""
    from convbench.artifacts import read_card
    from convbench.export import export
    from convbench.export.samples import PARITY_IMAGES
    from convbench.io import sha256_file

    path = model_path.with_suffix(".tflite")
    if path.is_file():
        card = read_card(path)
        if card.extra.get("source", {}).get("sha256") == read_card(model_path).sha256 == sha256_file(model_path) \
                and card.sha256 == sha256_file(path):
            return path
    parity_images = held_out_mix(*pools, settings.redundancy, settings.seed, limit=PARITY_IMAGES)
    return export(model_path, to="tflite", out=path, data=parity_images).path


def _not_early_exit(directory: Path) -> str:
    from convbench.artifacts import read_card

    if directory.is_file():
        try:
            arch = read_card(directory).arch
        except ModelError:
            arch = None
        what = f"a plain {arch} model" if arch else "a file"
        return f"{directory} is {what}, not an early-exit training folder (from `convbench early-exit train`)"
    return f"{directory}: no early_exit/model.keras inside; expected the folder written by `convbench early-exit train`"


def _median_call(runner: Runner, image: np.ndarray, repeats: int) -> float:
    return Timer(runner.invoke, setup=lambda: runner.set_input(image)).timeit(repeats).median


def _name(given: str | Dataset | None, trained: str) -> str:
    if isinstance(given, Dataset):
        return given.source or given.name
    return given or trained


def _mean_ms(seconds: np.ndarray) -> float | None:
    return 1e3 * float(seconds.mean()) if len(seconds) else None


def _summary_ms(m: Measurement) -> dict[str, Any]:
    return {"median_ms": 1e3 * m.median, "iqr_ms": 1e3 * m.iqr, "n": m.n, "unstable": m.unstable}
