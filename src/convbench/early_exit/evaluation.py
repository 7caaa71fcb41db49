"""Evaluating a trained early-exit network against its baseline: export → test mix → timing → sweeps.

This is composition over the layers below the early-exit package: the mixes come from :mod:`convbench.data.mix`,
the files from :mod:`convbench.export.early_exit` and :func:`convbench.export.export`, the runners from
:mod:`convbench.runtime`, and every figure from the pure measurements in :mod:`convbench.early_exit.measurement`.
Plots are the report layer's: :func:`evaluate_early_exit` is handed the function that draws the sweep's
(``plot_sweep``, e.g. :func:`convbench.report.study_plots.sweep_plots`) by its caller above.

Two callers, one implementation of each part:

- a study's early-exit step kinds (``kinds/early_exit_*.py``) call :func:`export_for_evaluation`,
  :func:`evaluate_session` and :func:`sweep_session` one step at a time; whether an exported file is still
  current is the step cache's decision (an export step's key hashes its training step's key), never a file
  check here;
- :func:`evaluate_early_exit` (``convbench early-exit eval``) calls them all at once on a training folder
  and exports afresh into its output folder every time (a conversion takes seconds, a timing run minutes).

Each redundant source can be evaluated alone (:func:`evaluate_sources`: the main test images beside that source's
held-out images), so an exit trained on one source is also scored on sources it never saw; :func:`source_row` is
one row of the report's "trained on → tested on" table.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from convbench.artifacts import ModelCard, read_card
from convbench.checks import integer_in
from convbench.data import (
    Dataset,
    MixSettings,
    Preprocessing,
    Split,
    check_redundancy,
    held_out_mix,
    load,
    load_pools,
)
from convbench.data.mix import redundant_pool
from convbench.early_exit.measurement import (
    analytic,
    decision_metrics,
    full_outputs,
    ideal_saving,
    path_summary,
    threshold_sweep,
    time_mix,
    time_paths,
)
from convbench.early_exit.open_world import rejection
from convbench.early_exit.records import (
    Analytic,
    Evaluation,
    EvaluationRow,
    PathTimes,
    PathTiming,
    RedundancyPoint,
    SourceRow,
    Sweep,
    SweepPlotter,
    ThresholdPoint,
    TimingSummary,
)
from convbench.early_exit.training import BASELINE_DIR, EARLY_EXIT_DIR, read_mix_settings
from convbench.env import environment
from convbench.errors import ConfigError, ModelError
from convbench.export import export
from convbench.export.early_exit import early_exit_card, export_early_exit
from convbench.export.samples import PARITY_IMAGES
from convbench.io import write_json
from convbench.locks import locks_output
from convbench.models.early_exit import EXIT_REDUNDANT, MacSplit, loss_terms
from convbench.runtime import Runner, open_runner
from convbench.runtime.early_exit import EarlyExitRunner, check_threshold, open_early_exit_runner
from convbench.train.loop import MODEL_FILE
from convbench.vocabulary import EARLY_EXIT_FORMS

RESULT_FILE = "eval.json"
BASELINE_FILE = "baseline.tflite"  # the baseline's float32 LiteRT file, beside the early-exit files
SWEEP_REDUNDANCIES = tuple(i / 10 for i in range(10))  # 0 … 0.9


@dataclass(frozen=True)
class TrainedFolder:
    """A folder written by :func:`~convbench.early_exit.training.train_early_exit`: both models and their mix."""

    model: Path
    baseline: Path
    mix: MixSettings

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> TrainedFolder:
        """The training folder ``directory``.

        Raises:
            ModelError: no early-exit model inside (e.g. a plain model's folder, or a model file).
            DataError: no readable ``training.json``.
        """
        directory = Path(directory)
        model = directory / EARLY_EXIT_DIR / MODEL_FILE
        if not model.is_file():
            raise ModelError(_not_early_exit(directory))
        early_exit_card(model)
        return cls(model, directory / BASELINE_DIR / MODEL_FILE, read_mix_settings(directory))

    def pools(self, main: Dataset | None = None, redundant: Dataset | None = None) -> tuple[Dataset, Dataset]:
        """The pools its mix draws from (the mix's data specs are loaded unless the datasets are given)."""
        return load_pools(self.mix, main, redundant)


@dataclass(frozen=True)
class EvaluationFiles:
    """The LiteRT files an evaluation times.

    Attributes:
        forms: per deployed form, the file its runner opens (the single file, or the chained form's stem).
        baseline: the baseline's float32 ``.tflite``.
    """

    forms: dict[str, Path]
    baseline: Path


def export_for_evaluation(trained: TrainedFolder, pools: tuple[Dataset, Dataset], out: Path,
                          forms: tuple[str, ...]) -> EvaluationFiles:
    """Export the early-exit model in ``forms`` and the baseline in float32 into ``out``.

    The baseline's file is parity-checked against Keras on images of the test mix it will be timed on.
    """
    out.mkdir(parents=True, exist_ok=True)
    exported = export_early_exit(trained.model, out, forms)
    entries = {"single": exported.single, "chained": exported.stem}
    parity = held_out_mix(*pools, trained.mix.redundancy, trained.mix.seed, limit=PARITY_IMAGES)
    baseline = export(trained.baseline, to="tflite", out=out / BASELINE_FILE, data=parity).path
    return EvaluationFiles({form: Path(entries[form]) for form in forms}, Path(baseline))


@dataclass(frozen=True)
class Session:
    """Both runners loaded, with what the figures need: the pools the test mixes come from and the mix.

    ``threshold`` is the one in use: asked for, else the files' default (their calibrated threshold, if any);
    the runner holds it as float32, as the deployed graph compares.
    """

    runner: EarlyExitRunner
    baseline: Runner
    pools: tuple[Dataset, Dataset]
    mix: MixSettings
    threshold: float

    @property
    def card(self) -> ModelCard:
        """The early-exit file's card (preprocessing, classes, the MAC split)."""
        return self.runner.card

    @property
    def macs(self) -> MacSplit:
        return MacSplit(**self.card.early_exit.macs)

    def test_mix(self, redundancy: float | None, limit: int | None) -> Split:
        return held_out_mix(*self.pools, redundancy, self.mix.seed, limit)

    def ideal(self, redundancy: float) -> float:
        return ideal_saving(redundancy, self.macs.stem_share, self.macs.exit_share)


def open_session(files: EvaluationFiles, form: str, pools: tuple[Dataset, Dataset], mix: MixSettings, *,
                 threads: int, threshold: float | None) -> Session:
    """Open and load the runners of ``form`` and of the baseline (``threshold`` ``None``: the files' default)."""
    runner = open_early_exit_runner(files.forms[form], threads=threads, threshold=threshold)
    baseline = open_runner(files.baseline, threads=threads)
    runner.load()
    baseline.load()
    return Session(runner, baseline, pools, mix, runner.threshold if threshold is None else threshold)


def with_source(session: Session, name: str, pool: Dataset) -> Session:
    """The same loaded runners, their test mixes drawn with redundant images from ``pool`` (named ``name``)."""
    return dataclasses.replace(session, pools=(session.pools[0], pool),
                               mix=dataclasses.replace(session.mix, redundant=name, sources=()))


def evaluate_session(session: Session, redundancy: float, *, repeats: int, limit: int | None) -> Evaluation:
    """Time both models image by image on the test mix at ``redundancy`` and each path alone; every figure
    from the deployed files (the losses from their probabilities, the main head's forced to run on every image)."""
    runner, baseline = session.runner, session.baseline
    test = session.test_mix(redundancy, limit)
    images = session.card.preprocessing(test.images)
    timing = time_mix(runner, baseline, images, repeats)
    paths = time_paths(runner, baseline, images[:1])
    exit_probs, main_probs = full_outputs(runner, images)
    times = TimingSummary(**timing.summary())
    num_classes = len(session.card.class_names)
    l1, l2 = (np.asarray(term) for term in loss_terms(test.labels, exit_probs, main_probs))
    baseline_loss = np.asarray(keras.losses.sparse_categorical_crossentropy(test.labels, timing.baseline_probs))
    common = {"redundancy": redundancy, "images": len(test)}
    rows = (EvaluationRow(model="baseline", **common, loss=float(baseline_loss.mean()),
                          **decision_metrics(test.labels, np.argmax(timing.baseline_probs, axis=1), num_classes),
                          total_s=times.baseline_total_s, time_ms_per_image=times.baseline_time_ms_per_image),
            EvaluationRow(model="early exit", **common, loss=float(l1.mean() + l2.mean()), l1=float(l1.mean()),
                          l2=float(l2.mean()), **decision_metrics(test.labels, timing.predicted, num_classes),
                          total_s=times.total_s, time_ms_per_image=times.time_ms_per_image))
    macs = session.macs
    scored = rejection(test.labels == num_classes - 1, exit_probs[:, EXIT_REDUNDANT], session.threshold)
    return Evaluation(runner.form, session.threshold, runner.threads,
                      f"{runner.name} {runner.version} ({runner.delegate})", repeats,
                      dataclasses.replace(session.mix, redundancy=redundancy), rows, times,
                      PathTimes(**{name: PathTiming(**path_summary(m)) for name, m in paths.items()}),
                      Analytic(**analytic(redundancy, macs.stem_share, macs.exit_share, timing, paths)), scored,
                      environment())


def evaluate_sources(session: Session, sources: dict[str, Dataset], redundancy: float, *, repeats: int,
                     limit: int | None) -> dict[str, Evaluation]:
    """:func:`evaluate_session` once per redundant source (name → pool from :func:`~convbench.data.load_pools`),
    each test mix holding that source's held-out images alone beside the main test images."""
    return {name: evaluate_session(with_source(session, name, pool), redundancy, repeats=repeats, limit=limit)
            for name, pool in sources.items()}


def source_row(name: str, evaluation: Evaluation) -> SourceRow:
    """One row of the "tested on" table: the exit's decisions on one source's test mix and the time it saves."""
    early_exit = next(r for r in evaluation.rows if r.model != "baseline")
    return SourceRow(source=name, redundancy=early_exit.redundancy, threshold=evaluation.threshold,
                     accuracy=early_exit.accuracy, **evaluation.rejection.to_dict(),
                     saving=evaluation.analytic.saving, ideal_saving=evaluation.analytic.ideal_saving)


def with_sources(evaluation: Evaluation, by_source: dict[str, Evaluation]) -> Evaluation:
    """``evaluation`` with the "tested on" row of each source's evaluation (:func:`source_row`)."""
    return dataclasses.replace(evaluation, by_source=tuple(source_row(name, e) for name, e in by_source.items()))


def sweep_session(session: Session, redundancy: float, *, repeats: int, limit: int | None) -> Sweep:
    """Sweep the threshold on the test mix at ``redundancy`` and time every redundancy in ``SWEEP_REDUNDANCIES``."""
    test = session.test_mix(redundancy, limit)
    exit_probs, main_probs = full_outputs(session.runner, session.card.preprocessing(test.images))
    by_threshold = threshold_sweep(test.labels, exit_probs[:, EXIT_REDUNDANT], main_probs)
    by_redundancy = []
    for r in SWEEP_REDUNDANCIES:
        images = session.card.preprocessing(session.test_mix(r, limit).images)
        summary = time_mix(session.runner, session.baseline, images, repeats).summary()
        by_redundancy.append(RedundancyPoint(r, TimingSummary(**summary), session.ideal(r)))
    return Sweep(tuple(by_redundancy), tuple(ThresholdPoint(**point) for point in by_threshold))


@locks_output("out", "directory", existing=("directory",))  # one process at a time writes there (convbench.locks)
def evaluate_early_exit(directory: str | os.PathLike[str], main: str | Dataset | None = None,
                        redundant: str | Dataset | Sequence[str | Dataset] | None = None, *,
                        redundancy: float | None = None, threshold: float | None = None, form: str = "single",
                        sweep: bool = False, plot_sweep: SweepPlotter | None = None,
                        repeats: int = 3, limit: int | None = None, threads: int = 1,
                        out: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Evaluate a :func:`~convbench.early_exit.training.train_early_exit` folder against its baseline in LiteRT.

    Rebuilds the test mix the models were trained for (test splits only: held-out redundant groups stay
    unseen), exports both models to LiteRT into ``out`` (``form``: the single file or the chained segments;
    the baseline in float32, parity-checked), times them image by image at batch 1 and each path alone.

    Args:
        directory: the training output folder.
        main: data spec or dataset (``None``: the one it was trained on, from its ``training.json``).
        redundant: a data spec or dataset, or several: each is evaluated on its own test mix (``None``: the
            redundant images it was trained on).
        redundancy: redundant share of the test mix in [0, 1) (``None``: as trained).
        threshold: exit when P(redundant) ≥ threshold, in (0, 1) (``None``: the calibrated threshold when the model
            has one, else ``DEFAULT_THRESHOLD``).
        form: ``"single"`` or ``"chained"``.
        sweep: also time redundancies 0 … 0.9 and sweep thresholds.
        plot_sweep: draws the sweep's plots into ``out`` before ``eval.json`` is written, which lists them
            (:func:`convbench.report.study_plots.sweep_plots`: ``time_vs_redundancy.png`` and
            ``accuracy_vs_threshold.png``); ``None``: no plots.
        repeats: timed calls per image (after one warm-up call).
        limit: time at most this many images of each test mix (a stratified, seeded subset).
        threads: LiteRT threads.
        out: folder for the exported files, ``eval.json`` and the plots (default: ``directory``).

    Returns:
        The content of ``eval.json``: ``rows`` (baseline and early exit, in the reference table's layout),
        ``timing`` (totals and the split of images between the paths), ``paths`` (each path timed alone),
        ``analytic`` (s, h, ideal and measured saving, their ratio), ``rejection`` (AUROC, FPR at 95 % TPR …),
        all of the first redundant source; ``by_source``: per source, the exit's decisions and the saving
        (:func:`source_row`); ``sweep`` when asked, the environment.

    Raises:
        ModelError: the folder holds no early-exit model (e.g. a plain model's folder).
        ConfigError: redundancy outside [0, 1), threshold outside (0, 1), an unknown form, a bad limit.
        DataError: data that cannot be loaded, a redundant set sharing classes with the main set, an empty
            redundant source, or one whose images cannot be brought to the model's channels and size.
    """
    if threshold is not None:
        check_threshold(threshold)
    check_redundancy(redundancy)
    if form not in EARLY_EXIT_FORMS:
        raise ConfigError(f"form must be one of {', '.join(EARLY_EXIT_FORMS)}, got form={form!r}")
    if limit is not None:
        integer_in("limit", limit, 2)
    trained = TrainedFolder.open(directory)
    main_set = load(main) if isinstance(main, str) else main if main is not None else load(trained.mix.main)
    given = [redundant] if redundant is None or isinstance(redundant, (str, Dataset)) else list(redundant)
    if not given:
        raise ConfigError("redundant: name at least one redundant source to evaluate on")
    # every source is loaded and brought to the model's shape before the export and the timing start
    pools = trained.pools(main_set, _loaded(given[0]))
    shape = Preprocessing(trained.mix.size, trained.mix.channels)
    sources = {_name(given[0], trained.mix.redundant): pools[1],
               **{_name(d, ""): redundant_pool(_loaded(d), shape, trained.mix) for d in given[1:]}}
    first = next(iter(sources))
    mix = dataclasses.replace(trained.mix, main=_name(main, trained.mix.main))
    redundancy = trained.mix.redundancy if redundancy is None else redundancy
    out = Path(out) if out is not None else Path(directory)

    files = export_for_evaluation(trained, pools, out, (form,))
    session = open_session(files, form, pools, mix, threads=threads, threshold=threshold)
    evaluations = evaluate_sources(session, sources, redundancy, repeats=repeats, limit=limit)
    evaluation = evaluations[first]
    swept = None
    if sweep:
        found = sweep_session(session, redundancy, repeats=repeats, limit=limit)
        plots = [] if plot_sweep is None else plot_sweep(found.by_redundancy, found.by_threshold, out)
        swept = {**found.to_dict(), "plots": [str(p) for p in plots]}
    result = with_sources(evaluation, evaluations).to_dict(directory=str(directory), sweep=swept)
    write_json(out / RESULT_FILE, result)
    return result


def _not_early_exit(directory: Path) -> str:
    if directory.is_file():
        try:
            arch = read_card(directory).arch
        except ModelError:
            arch = None
        what = f"a plain {arch} model" if arch else "a file"
        return f"{directory} is {what}, not an early-exit training folder (from `convbench early-exit train`)"
    return f"{directory}: no early_exit/model.keras inside; expected the folder written by `convbench early-exit train`"


def _loaded(given: str | Dataset | None) -> Dataset | None:
    return load(given) if isinstance(given, str) else given


def _name(given: str | Dataset | None, trained: str) -> str:
    """How the mix names a data set: as given (a spec, or a dataset's source), else as trained."""
    if isinstance(given, Dataset):
        return given.source or given.name
    return given or trained
