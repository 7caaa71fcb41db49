"""search(): find the fastest model that meets an accuracy floor, timed on the target runtime (Optuna; Ray optional).

The study. One Optuna multi-objective study, three objectives per trial: validation accuracy of the exported
file (up), its median batch-1 latency on the target runtime, timed with our harness (down), and its size (down).
The sampler is TPE with a constraint (validation accuracy ≥ floor, ``Trial.set_constraint``): on a budget of
tens of trials a model-based sampler beats NSGA-II, whose first generation alone is a random population of 50.
The study lives
in Optuna's RDB storage, SQLite in the output folder unless ``storage`` names another database, so a killed
search resumes: every finished trial stays as it is and is never re-run; a trial the kill left RUNNING is
marked failed and its params are asked again (``enqueue_trial``). Each trial's outcome is kept in the study
(trial user attributes) as the :class:`TrialRecord` it becomes, so the result is rebuilt from storage alone.

Latency first, cheap first. Latency does not depend on the weights, so before a trial trains, its untrained
model is exported as the trial would ship it and timed briefly on the target (:func:`convbench.search.trial.screen`,
a short protocol: a screen, not the final figure). A trial whose screened latency is clearly above the fastest
feasible trial's median (its 95 % CI's lower bound is above it) cannot be recommended, and one clearly above
``max_latency`` breaks the hard cap: both are pruned before any training, the reason recorded on the trial (TPE
ranks pruned trials below every complete one, so it learns to avoid their region). The screen runs only once it
can prune something (a feasible trial exists, or a cap is set). For it to bite early, the
search first enqueues cheap seed trials, one per architecture at its smallest point, cheapest first
(:mod:`convbench.search.seeds`); a resumed search never enqueues them again. Finished trials keep their
definitive timing (the longer :class:`Timing` protocol on the trained export).

The budget is wall time over every session of the search: no trial starts after it is spent, and a trial
running then stops training after its current epoch (then is exported and timed with its best epoch).
Pruning is explained in :mod:`convbench.search.trial`.

The recommendation follows the rule of every convbench recommendation (:func:`convbench.bench.verdict.rank`): once
the last trial has ended, the fastest feasible trials (validation accuracy at the floor, median within
``max_latency`` when set; at most :data:`MAX_FINALISTS`, within :data:`FINALIST_SPREAD` of the fastest) are timed
again side by side in interleaved rounds (:class:`~convbench.search.records.FinalTiming`): each was timed alone, in
its own stretch of the machine, and stretches drift apart by more than close trials differ. The fastest is
recommended when it is clearly ahead of every other finalist; otherwise the finalists it is not clearly ahead of
are tied on speed, and ties go to the higher validation accuracy, then the lower validation loss (validation
accuracy saturates on easy data), then the smaller file. Only after the last trial has ended are
the recommendation and the Pareto front scored on the test split, once, in the target runtime: the test split
never steers the search.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.trial import FrozenTrial, TrialState

from convbench.bench.verdict import rank
from convbench.checks import check_threads, integer_in
from convbench.data import Dataset, DataSpec, Split, load
from convbench.env import environment
from convbench.errors import ConfigError, ConvbenchError, OutputError
from convbench.export import PREDICT_CHUNK, Images
from convbench.locks import locks_output
from convbench.outputs import check_replaceable
from convbench.runtime import open_runner
from convbench.runtime.base import first_line
from convbench.search.progress import SearchProgress
from convbench.search.records import (
    SCHEMA,
    Deployment,
    FinalTiming,
    Latency,
    SearchResult,
    SearchSettings,
    TestScore,
    TrialParams,
    TrialRecord,
)
from convbench.search.seeds import cheap_seeds
from convbench.search.space import SearchSpace, load_space
from convbench.search.trial import (
    Fit,
    Trained,
    TrialJob,
    export_format,
    screen,
    time_exported,
    time_side_by_side,
    train_and_export,
)
from convbench.train.splits import check_val_split, training_splits
from convbench.vocabulary import DEFAULT_ROUNDS, RUNTIMES, TRAIN_DEFAULTS

STUDY_DB = "study.db"
RESULT_FILE = "search.json"
REPORT_FILES = ("report.md", "report.html")  # what the search report adds beside it (report.search_section)
TRIALS_DIR = "trials"
STUDY_NAME = "convbench-search"
SEEDS_ATTR = "seed"  # study: how many cheap seeds were enqueued (set once); trial: enqueued as a seed
DIRECTIONS = ("maximize", "minimize", "minimize")  # val accuracy, latency (ms), file size (bytes)
DEFAULT_EPOCHS = 9  # rungs at epochs 1 and 3, then up to 9
DEFAULT_PATIENCE = 3
TIMING_RUNS, TIMING_SECONDS = 50, 0.5  # per trial: enough for a median with a CI, short enough for many trials
SCREEN_RUNS, SCREEN_SECONDS = 20, 0.1  # the latency screen before training: enough to tell 2x apart, no more
MAX_FINALISTS = 6  # the fastest feasible trials timed again side by side for the recommendation
FINALIST_SPREAD = 1.5  # ... within this factor of the fastest's median: separate stretches drift apart 26-50 %
# Settings a resumed search must share with the one it continues (budget and trial cap may change).
SAME_ON_RESUME = ("data", "floor", "target", "epochs", "patience", "batch_size", "seed", "val_fraction", "val_split",
                  "val_repeats", "space")


@dataclass(frozen=True)
class Timing:
    """How each trial's exported file is timed (a short protocol of our harness), and the briefer screen of its
    untrained export before training."""

    runs: int = TIMING_RUNS
    min_seconds: float = TIMING_SECONDS
    screen_runs: int = SCREEN_RUNS
    screen_min_seconds: float = SCREEN_SECONDS


def parse_budget(budget: str | float | int) -> float:
    """``"60m"``, ``"90s"``, ``"1h30m"``, ``"2h"`` or a number of seconds → seconds (> 0).

    Raises:
        ConfigError: unreadable or not positive (a zero budget).
    """
    if isinstance(budget, int | float) and not isinstance(budget, bool):
        seconds = float(budget)
    else:
        text = str(budget).strip().lower()
        parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", text)
        if not text or parts is None:
            raise ConfigError(f"budget must look like 60m, 90s, 1h30m or a number of seconds, got {budget!r}")
        hours, minutes, secs = (float(p) if p else 0.0 for p in parts.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if not seconds > 0:
        raise ConfigError(f"budget must be positive, got budget={budget!r}")
    return seconds


def parse_deployment(target: str | Deployment) -> Deployment:
    """``"litert:1"`` → runtime litert, 1 thread. The runtime must run a file our exporter writes.

    Raises:
        ConfigError: unknown runtime, a runtime without an exportable format, or a bad thread count.
    """
    if isinstance(target, Deployment):
        return target
    runtime, _, threads = str(target).partition(":")
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown target runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
    if not any(f in ("tflite", "onnx") for f in RUNTIMES[runtime].file_formats):
        raise ConfigError(f"target runtime {runtime!r} runs no exported file (.tflite or .onnx)")
    if not threads:
        return Deployment(runtime=runtime, threads=1)
    try:
        return Deployment(runtime=runtime, threads=check_threads(int(threads) if threads.isdigit() else threads,
                                                                   "target threads"))
    except ConfigError as e:
        raise ConfigError(f"{e} in target={target!r}") from None


def check_floor(floor: float) -> float:
    if isinstance(floor, bool) or not isinstance(floor, int | float) or not 0 < floor <= 1:
        raise ConfigError(f"floor must be in (0, 1], got floor={floor!r}")
    return float(floor)


def check_max_latency(max_latency: float | None) -> float | None:
    """A latency cap in milliseconds: None (no cap) or a finite number > 0.

    Raises:
        ConfigError: anything else, naming the value.
    """
    if max_latency is None:
        return None
    if isinstance(max_latency, bool) or not isinstance(max_latency, int | float) or not 0 < max_latency < math.inf:
        raise ConfigError(f"max_latency must be a positive number of milliseconds, got max_latency={max_latency!r}")
    return float(max_latency)


@locks_output("out")  # one search at a time per output folder (convbench.locks)
def search(data: str | Dataset | None = None, *, floor: float, out: str | os.PathLike[str],
           target: str | Deployment = "litert:1", budget: str | float = "60m",
           space: SearchSpace | str | os.PathLike[str] | None = None, resume: bool = False,
           storage: str | None = None, ray: str | None = None, max_trials: int | None = None,
           epochs: int = DEFAULT_EPOCHS, patience: int = DEFAULT_PATIENCE,
           batch_size: int = TRAIN_DEFAULTS.batch_size, seed: int = TRAIN_DEFAULTS.seed,
           val_fraction: float = TRAIN_DEFAULTS.val_fraction, val_split: str = TRAIN_DEFAULTS.val_split,
           val_repeats: int = 1, max_latency: float | None = None, timing: Timing = Timing(),
           progress: bool = True) -> SearchResult:
    """Search the space for the fastest model whose validation accuracy meets ``floor`` on the target runtime.

    Args:
        data: data spec or loaded :class:`Dataset` (``None``: the embedded digits).
        floor: validation accuracy the recommendation must reach, in (0, 1].
        out: output folder: ``study.db`` (unless ``storage``), ``trials/NNNN/`` (model, exported file),
            ``search.json``.
        target: ``RUNTIME:THREADS`` the exported files are timed on (``litert:1``).
        budget: wall time of the search (``60m``, ``90s``, seconds), over every session when resumed.
        space: a :class:`SearchSpace`, a TOML file narrowing/widening the default, or None (the default).
        resume: continue the search already in ``out`` / ``storage`` (without it, an existing one is an error).
        storage: an Optuna storage URL (``postgresql://…``) to share one study between workers.
        ray: ``"auto"`` or ``HOST:PORT`` of a Ray cluster to run trials on (None: in-process, Ray not imported).
        max_trials: stop after this many trials in all (None: only the budget stops it).
        epochs, patience, batch_size, seed, val_fraction: how every trial trains (as :func:`convbench.train.train`).
        val_split: how validation is held out (as :func:`convbench.train.train`): ``groups`` holds out whole groups
            (Fruits-360's frame sequences), whose validation still discriminates where a random split of
            near-identical frames saturates at 100 %; a floor on a saturated validation cannot tell trials apart.
        val_repeats: how many validation splits a trial must meet the floor on (1: one). A trial meeting it on
            the first is trained again on the others, and its validation accuracy is the worst split's
            (:mod:`convbench.search.trial`): one lucky split does not make a configuration feasible.
        max_latency: a hard cap on the median latency in ms (None: none): a trial whose screen is clearly above it
            is pruned before training, and the recommendation's definitive median must be within it.
        timing: the per-trial timing protocol (and the screen's).
        progress: show the live view on stderr.

    Returns:
        The :class:`SearchResult` (also written to ``out/search.json``).

    Raises:
        ConfigError: floor outside (0, 1], zero budget, a max_latency that is not a positive number, unknown
            architecture/key in the space, an empty space, a dataset with one class, an unreachable Ray cluster, an
            existing search without ``resume`` (or one with other settings), a ``search.json`` or report in ``out``
            that convbench did not write (it never replaces one); all before any training.
        DataError: data that cannot be loaded.

    Example:
        >>> result = search("fruits360:../shared/data/fruits?classes=apple,pear", floor=0.998, out="runs/search")
        >>> result.recommended.params.label, result.test_accuracy(result.recommendation)
    """
    floor, budget_s, target = check_floor(floor), parse_budget(budget), parse_deployment(target)
    max_latency = check_max_latency(max_latency)
    space = space.check() if isinstance(space, SearchSpace) else load_space(space)
    if max_trials is not None:
        integer_in("max_trials", max_trials, 1)
    integer_in("epochs", epochs, 1)
    check_val_split(val_split)
    integer_in("val_repeats", val_repeats, 1)
    out = Path(out)
    storage_url = storage or f"sqlite:///{(out / STUDY_DB).resolve()}"
    _check_resume(out, storage, storage_url, resume)
    check_replaceable([out / RESULT_FILE, *(out / name for name in REPORT_FILES)],
                      own=lambda path: _is_search_result(out / RESULT_FILE),
                      kind=f"part of a convbench search: no search record {RESULT_FILE} there")
    cluster = None
    if ray is not None:
        from convbench.search.cluster import Cluster  # Ray is imported only here, only when asked for

        cluster = Cluster.connect(ray)
    dataset = data if isinstance(data, Dataset) else load(data)
    if dataset.num_classes < 2 or len(set(dataset.train.labels.tolist())) < 2:
        raise ConfigError(f"data {dataset.source or dataset.name!r} has one class; a search needs at least two")
    training_splits(dataset, val_fraction=val_fraction, seed=seed, val_split=val_split)  # ConfigError: can't be cut
    source = (dataset.source or dataset.name) if isinstance(data, Dataset) else str(DataSpec.parse(data))
    settings = SearchSettings(data=source, floor=floor, target=target, budget_s=budget_s, max_trials=max_trials,
                              epochs=epochs, patience=patience, batch_size=batch_size, seed=seed,
                              val_fraction=val_fraction, val_split=val_split, val_repeats=val_repeats,
                              max_latency_ms=max_latency, space=space,
                              storage=_redacted(storage_url),
                              study_name=STUDY_NAME, ray=ray)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # Optuna's notes on its experimental options and on importance with few trials
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message=".*have less than 2 trials.*")
        study = _open_study(storage_url, settings, seed, resume)
        _enqueue_seeds(study, settings, dataset)
        fit = Fit(epochs, patience, batch_size, seed, val_fraction, val_split, val_repeats=val_repeats)
        runner = _Search(study, settings, dataset, out, fit, timing)
        try:
            with SearchProgress(floor, max_latency_ms=max_latency, enabled=progress) as view:
                runner.view = view
                runner.retry_stale()
                runner.run_in_process() if cluster is None else runner.run_on(cluster)
            runner.time_finalists(cluster)
        finally:
            if cluster is not None:
                cluster.close()
        return runner.finish()


def _is_search_result(path: Path) -> bool:
    """Whether ``path`` is a search record convbench wrote (its schema), so the report beside it is convbench's too."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("schema") == SCHEMA


def _check_resume(out: Path, storage: str | None, url: str, resume: bool) -> None:
    """A search already there only with ``resume``, and ``resume`` only where a search is: checked before any data is
    loaded or any trial runs (``--resume`` on a folder without one would otherwise start a new search silently).

    Raises:
        ConfigError: naming the folder or the storage.
    """
    if storage is None:
        there, where = (out / STUDY_DB).exists(), f"{out} ({STUDY_DB})"
    else:
        try:
            there = STUDY_NAME in {s.study_name for s in optuna.get_all_study_summaries(_storage(url))}
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as e:
            raise ConfigError(f"--storage {_redacted(url)}: cannot open it ({first_line(e)})") from None
        where = f"the storage {_redacted(url)}"
    if there and not resume:
        raise ConfigError(f"{where} already holds a search; pass --resume to continue it"
                          + (", or choose another --out" if storage is None else ""))
    if resume and not there:
        raise ConfigError(f"--resume: {out if storage is None else where} holds no search to resume; run without "
                          "--resume to start one")


def _redacted(url: str) -> str:
    """The storage URL without a password (it is recorded in search.json)."""
    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)


def _storage(url: str, attempts: int = 3) -> optuna.storages.RDBStorage:
    """Optuna's storage on ``url``, opened even while another process opens the same new database.

    Opening a new database creates Optuna's tables and stamps its schema version; two processes doing so at the
    same moment (workers sharing one study, a second search started beside the first) race on that stamp, and the
    loser fails on the winner's row. Opened again, it finds the schema in place and stamps nothing.
    """
    for attempt in range(1, attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):
            time.sleep(0.2 * attempt)
    return optuna.storages.RDBStorage(url)  # the last attempt's error, if any, is the caller's


def _open_study(url: str, settings: SearchSettings, seed: int, resume: bool) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True,
                                         n_startup_trials=8)
    storage = _storage(url)
    existing = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if STUDY_NAME in existing and not resume:
        raise ConfigError(f"the storage {_redacted(url)} already holds a search; pass --resume to continue it")
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME, directions=list(DIRECTIONS),
                                sampler=sampler, load_if_exists=True)
    recorded = study.user_attrs.get("settings")
    current = settings.model_dump(mode="json")
    if recorded is None:
        study.set_user_attr("settings", current)
        study.set_user_attr("spent_seconds", 0.0)
    else:
        for key in SAME_ON_RESUME:  # a setting added since the search started: it ran with the default
            was = recorded.get(key, SearchSettings.model_fields[key].default)
            if was != current[key]:
                raise ConfigError(f"cannot resume: this search was started with {key}={json.dumps(was)}"
                                  f", not {json.dumps(current[key])}")
    return study


def _enqueue_seeds(study: optuna.Study, settings: SearchSettings, dataset: Dataset) -> None:
    """Enqueue the cheap seeds (:mod:`convbench.search.seeds`) into a study that has no trial yet, once: a resumed
    search finds them recorded, or already waiting, and enqueues none (those not yet asked still wait their turn)."""
    if study.user_attrs.get(SEEDS_ATTR) is not None or study.get_trials(deepcopy=False):
        return
    seeds = cheap_seeds(settings.space, settings.target, _quantize_modes(settings.space, settings.target),
                        dataset.image_shape[2], dataset.num_classes)
    for params in seeds:
        study.enqueue_trial(_optuna_params(params, settings.space), user_attrs={SEEDS_ATTR: True},
                            skip_if_exists=False)
    study.set_user_attr(SEEDS_ATTR, len(seeds))


def _quantize_modes(space: SearchSpace, target: Deployment) -> list[str]:
    """The space's export modes the target runs, in the space's order (a non-TFLite target: float32 only)."""
    return [q for q in space.quantize if export_format(target.runtime) == "tflite" or q == "none"] or ["none"]


def _optuna_params(params: TrialParams, space: SearchSpace) -> dict[str, Any]:
    """The Optuna parameters :func:`suggest` draws for ``params`` (the inverse of :func:`suggest`)."""
    low, high = space.architectures[params.arch].width
    found: dict[str, Any] = {"arch": params.arch, "input_size": params.input_size, "quantize": params.quantize,
                             "threads": params.threads}
    if low < high:
        found[f"{params.arch}.width"] = params.width
    found.update({f"{params.arch}.{name}": _choice_text(value) for name, value in params.options.items()})
    return found


def suggest(trial: optuna.Trial, space: SearchSpace, target: Deployment) -> TrialParams:
    """Draw a point of ``space`` (conditional parameters are named ``ARCH.width``, ``ARCH.OPTION``)."""
    arch = trial.suggest_categorical("arch", sorted(space.architectures))
    arch_space = space.architectures[arch]
    low, high = arch_space.width
    width = trial.suggest_float(f"{arch}.width", low, high, log=True) if low < high else low
    options = {name: _suggest_value(trial, f"{arch}.{name}", values)
               for name, values in sorted(arch_space.options.items())}
    input_size = trial.suggest_categorical("input_size", sorted(space.input_sizes))
    quantize = trial.suggest_categorical("quantize", _quantize_modes(space, target))
    threads = trial.suggest_categorical("threads", list(space.threads or (target.threads,)))
    return TrialParams(arch=arch, width=round(width, 4), input_size=input_size, options=options, quantize=quantize,
                       threads=threads)


def _suggest_value(trial: optuna.Trial, name: str, values: tuple[Any, ...]) -> Any:
    """``suggest_categorical`` for any JSON value: Optuna takes only scalars, so a list (stage channels …) is
    suggested by its JSON text and given back as the value."""
    by_text = {_choice_text(v): v for v in values}
    return by_text[trial.suggest_categorical(name, list(by_text))]


def _choice_text(value: Any) -> Any:
    """How a value is one of Optuna's categorical choices: scalars as they are, anything else as JSON text."""
    return value if value is None or isinstance(value, bool | int | float | str) else json.dumps(value)


class _Search:
    """One session of a search: asks, runs and tells trials, keeps the budget, rebuilds the result."""

    def __init__(self, study: optuna.Study, settings: SearchSettings, dataset: Dataset, out: Path, fit: Fit,
                 timing: Timing) -> None:
        self.study, self.settings, self.dataset, self.out, self.fit, self.timing = (
            study, settings, dataset, out, fit, timing)
        self.started = time.time()
        self.spent_before = float(study.user_attrs.get("spent_seconds", 0.0))
        self.running: dict[int, str] = {}
        self.view: SearchProgress | None = None
        self.final_timing: FinalTiming | None = None  # the finalists timed side by side, once every trial ended

    # -- budget and bookkeeping ----------------------------------------------------------------------------------

    def time_left(self) -> float:
        return self.settings.budget_s - self.spent_before - (time.time() - self.started)

    def may_start(self) -> bool:
        cap = self.settings.max_trials
        trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get("retry_of") for t in trials}  # a retried trial counts once, with its retry
        asked = [t for t in trials if t.state != TrialState.WAITING and t.number not in retried]
        return self.time_left() > 0 and (cap is None or len(asked) < cap)

    def _save_spent(self) -> None:
        self.study.set_user_attr("spent_seconds", self.spent_before + time.time() - self.started)

    def records(self) -> list[TrialRecord]:
        trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
        return [r for r in (_record_of(t, t.number in retried) for t in trials) if r is not None]

    def refresh(self) -> None:
        if self.view is not None:
            self.view.update(self.records(), list(self.running.values()), time_left_s=self.time_left(),
                             pareto_size=len(self.pareto()))

    def pareto(self) -> list[int]:
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return sorted(t.number for t in self.study.best_trials) if complete else []

    def earlier_scores(self) -> tuple[tuple[float, ...], ...]:
        return tuple(tuple(t.user_attrs["scores"]) for t in self.study.get_trials(deepcopy=False)
                     if t.state.is_finished() and t.user_attrs.get("scores"))

    # -- resume ------------------------------------------------------------------------------------------------

    def retry_stale(self) -> None:
        """Trials left RUNNING by a killed search of this host: marked failed, their params asked again."""
        host = socket.gethostname()
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            owner = t.user_attrs.get("owner", {})
            if owner.get("host") != host or _alive(owner.get("pid")):
                continue  # another live worker's trial (a shared storage)
            self.study.tell(t.number, state=TrialState.FAIL)  # its record says why (see _record_of)
            self.study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)

    # -- one trial ---------------------------------------------------------------------------------------------

    def ask(self) -> tuple[optuna.Trial, TrialJob]:
        trial = self.study.ask()
        params = suggest(trial, self.settings.space, self.settings.target)
        folder = self.out / TRIALS_DIR / f"{trial.number:04d}"
        trial.set_user_attr("params", params.model_dump(mode="json"))
        trial.set_user_attr("owner", {"host": socket.gethostname(), "pid": os.getpid()})
        trial.set_user_attr("folder", str(folder.relative_to(self.out)))
        trial.set_user_attr("started", time.time())
        self.running[trial.number] = f"#{trial.number} {params.arch}" + (" (seed)" if self._seeded(trial) else "")
        job = TrialJob(trial.number, params, folder.resolve(), self.fit, self.settings.data,
                       export_format(self.settings.target.runtime), self.earlier_scores(),
                       deadline=time.time() + self.time_left(), floor=self.settings.floor)
        return trial, job

    def tell(self, trial: optuna.Trial, job: TrialJob, trained: Trained, latency: Latency | None = None,
             timed_on: str | None = None, error: str | None = None, prune_reason: str | None = None) -> TrialRecord:
        state = "failed" if error else trained.state
        attrs = trial.user_attrs
        started = attrs.get("started", time.time())
        if state == "pruned" and prune_reason is None:
            prune_reason = f"successive halving: below the best third of earlier trials at epoch {trained.epochs_run}"
        screened = attrs.get("screen_latency")
        record = TrialRecord(
            number=trial.number, params=job.params, state=state, val_accuracy=trained.val_accuracy,
            val_loss=trained.val_loss, val_accuracy_per_epoch=trained.val_accuracy_per_epoch,
            val_accuracy_repeats=trained.val_accuracy_repeats,
            epochs_run=trained.epochs_run, latency=latency,
            screen_latency=Latency.model_validate(screened) if screened else None, prune_reason=prune_reason,
            seeded=self._seeded(trial), file_size_bytes=trained.size_bytes,
            params_count=trained.params_count, trained_on=trained.node or None, timed_on=timed_on,
            duration_s=round(time.time() - started, 3), folder=str(job.folder.relative_to(self.out.resolve())),
            model_file=str(trained.exported.relative_to(self.out.resolve())) if trained.exported else None,
            error=error or trained.error, retry_of=attrs.get("retry_of"))
        trial.set_user_attr("record", record.model_dump(mode="json"))
        if trained.scores:
            trial.set_user_attr("scores", trained.scores)
        if state == "complete":
            trial.set_constraint("val_accuracy_floor", self.settings.floor - record.val_accuracy)  # ≤ 0: feasible
            if self.settings.max_latency_ms is not None:
                trial.set_constraint("latency_cap", latency.median_ms - self.settings.max_latency_ms)
            self.study.tell(trial, [record.val_accuracy, latency.median_ms, record.file_size_bytes])
        else:
            self.study.tell(trial, state=TrialState.PRUNED if state == "pruned" else TrialState.FAIL)
        self.running.pop(trial.number, None)
        self._save_spent()
        self.refresh()
        return record

    @staticmethod
    def _seeded(trial: optuna.Trial) -> bool:
        return bool(trial.user_attrs.get(SEEDS_ATTR, False))

    # -- the latency screen ------------------------------------------------------------------------------------

    def best_feasible(self) -> TrialRecord | None:
        """The fastest trial so far that meets the floor (and the cap), by its definitive median."""
        feasible = [r for r in self.records() if r.feasible(self.settings.floor, self.settings.max_latency_ms)
                    and r.latency is not None]
        return min(feasible, key=lambda r: r.latency.median_ms, default=None)  # type: ignore[union-attr]

    def screens(self) -> bool:
        """Whether a screen could prune now: a cap is set, or some trial meets the floor (else it is wasted time)."""
        return self.settings.max_latency_ms is not None or self.best_feasible() is not None

    def screen_verdict(self, latency: Latency) -> str | None:
        """Why a trial whose untrained export screened at ``latency`` is not worth training; None: train it.

        Clearly slower only: the screen's 95 % CI must lie wholly above the cap, or above the fastest feasible
        trial's median (a trial within noise of it could still be recommended, on validation accuracy)."""
        cap = self.settings.max_latency_ms
        screened = (f"{latency.median_ms:.4g} ms untrained (95 % CI {latency.ci95_low_ms:.4g}–"
                    f"{latency.ci95_high_ms:.4g})")
        if cap is not None and latency.ci95_low_ms > cap:
            return f"over the latency cap of {cap:g} ms: {screened}"
        best = self.best_feasible()
        if best is not None and latency.ci95_low_ms > best.latency.median_ms:  # type: ignore[union-attr]
            return (f"slower than trial #{best.number}, which meets the floor: {screened} against its "
                    f"{best.latency.median_ms:.4g} ms")  # type: ignore[union-attr]
        return None

    def after_screen(self, trial: optuna.Trial, job: TrialJob, screened: tuple[Latency, str] | str | None) -> bool:
        """Record a trial's screen; prune it (tell, True) when :meth:`screen_verdict` says so, or fail it (a
        screen error, given as text). False: train it (also when the builder rejected the point: None)."""
        if isinstance(screened, str):
            self.tell(trial, job, Trained("failed"), error=f"latency screen failed: {screened}")
            return True
        if screened is None:
            return False
        latency, node = screened
        trial.set_user_attr("screen_latency", latency.model_dump(mode="json"))
        why = self.screen_verdict(latency)
        if why is None:
            return False
        self.tell(trial, job, Trained("pruned"), timed_on=node, prune_reason=why)
        return True

    def time_file(self, trained: Trained, threads: int) -> tuple[Latency, str]:
        return time_exported(trained.exported, self.settings.target.runtime, threads, runs=self.timing.runs,
                             min_seconds=self.timing.min_seconds)

    # -- the loops -----------------------------------------------------------------------------------------------

    def run_in_process(self) -> None:
        self.refresh()
        while self.may_start():
            trial, job = self.ask()
            self.refresh()
            if self.screens():
                try:
                    screened: tuple[Latency, str] | str | None = screen(
                        job, self.dataset, self.settings.target.runtime, runs=self.timing.screen_runs,
                        min_seconds=self.timing.screen_min_seconds)
                except OutputError:  # a full or read-only disk: every later trial would fail too
                    raise
                except (ConvbenchError, RuntimeError) as e:  # one bad export does not end the search
                    screened = f"{type(e).__name__}: {e}"
                if self.after_screen(trial, job, screened):
                    continue
            trained = train_and_export(job, self.dataset)
            if trained.state != "complete":
                self.tell(trial, job, trained)
                continue
            try:
                latency, node = self.time_file(trained, job.params.threads)
            except (ConvbenchError, RuntimeError) as e:  # one bad file does not end the search; its trial says why
                self.tell(trial, job, trained, error=f"timing failed: {type(e).__name__}: {e}")
                continue
            self.tell(trial, job, trained, latency, node)

    def run_on(self, cluster: Any) -> None:
        cluster.run(self)

    # -- the end -------------------------------------------------------------------------------------------------

    def time_finalists(self, cluster: Any = None) -> None:
        """Time the fastest feasible trials side by side, on the timing node (once every trial has ended): what
        the recommendation ranks them by (:class:`~convbench.search.records.FinalTiming`)."""
        chosen = finalists(self.records(), self.settings.floor, self.settings.max_latency_ms)
        if len(chosen) < 2:
            return
        timer = time_side_by_side if cluster is None else cluster.time_side_by_side
        measured = timer([self.out / r.model_file for r in chosen], self.settings.target.runtime,  # type: ignore[operator]
                         [r.params.threads for r in chosen], runs=2 * self.timing.runs,
                         min_seconds=2 * self.timing.min_seconds)
        ranking = rank([f"trial #{r.number} ({r.params.label})" for r in chosen], measured)
        self.final_timing = FinalTiming(
            finalists=[r.number for r in chosen],
            latency=[Latency(median_ms=1e3 * m.median, ci95_low_ms=1e3 * m.ci95.low, ci95_high_ms=1e3 * m.ci95.high)
                     for m in measured],
            rounds=DEFAULT_ROUNDS, tied=[chosen[i].number for i in ranking.tied], clear=ranking.clear,
            statements=[v.statement for v in ranking.verdicts],
            busy=ranking.busy.description if ranking.busy else None)

    def finish(self) -> SearchResult:
        """Recommend, then (only now) score the recommendation and the front on the test split; write search.json."""
        self._save_spent()
        trials_ended_at = time.time()
        records = self.records()
        pareto = self.pareto()
        recommendation = recommend(records, self.settings.floor, self.settings.max_latency_ms, self.final_timing)
        to_score = sorted({*pareto, *([recommendation] if recommendation is not None else [])})
        test_read_at = time.time() if to_score else None
        scores = self._score_on_test([r for r in records if r.number in to_score]) if to_score else []
        result = SearchResult(settings=self.settings, trials=records, pareto=pareto, recommendation=recommendation,
                              test_scores=scores, importance=_importance(self.study),
                              final_timing=self.final_timing,
                              search_seconds=round(self.spent_before + time.time() - self.started, 3),
                              trials_ended_at=trials_ended_at, test_read_at=test_read_at, environment=environment())
        result.save(self.out / RESULT_FILE)
        return result

    def _score_on_test(self, records: list[TrialRecord]) -> list[TestScore]:
        """The one place a search reads the test split: after every trial has ended."""
        test: Split = training_splits(self.dataset, val_fraction=self.fit.val_fraction, seed=self.fit.seed,
                                      val_split=self.fit.val_split)["test"]
        scores = []
        for record in records:
            path = self.out / record.model_file  # type: ignore[operator]
            runner = open_runner(path, runtime=self.settings.target.runtime, threads=record.params.threads)
            images = Images(test, runner.card.preprocessing, "test split")
            correct = sum(int((runner.predict(x).argmax(axis=1) == labels).sum())
                          for x, labels in zip(images.chunks(PREDICT_CHUNK), _chunks(test.labels, PREDICT_CHUNK),
                                               strict=True))
            scores.append(TestScore(number=record.number, accuracy=correct / len(test), count=len(test)))
        return scores


def _chunks(values: Any, size: int) -> list[Any]:
    return [values[i:i + size] for i in range(0, len(values), size)]


def finalists(records: list[TrialRecord], floor: float, max_latency_ms: float | None = None) -> list[TrialRecord]:
    """The feasible trials the recommendation chooses among, fastest by their own timing first: at most
    :data:`MAX_FINALISTS`, within :data:`FINALIST_SPREAD` of the fastest's median."""
    feasible = sorted((r for r in records if r.feasible(floor, max_latency_ms) and r.latency is not None),
                      key=lambda r: r.latency.median_ms)  # type: ignore[union-attr]
    if not feasible:
        return []
    limit = FINALIST_SPREAD * feasible[0].latency.median_ms  # type: ignore[union-attr]
    return [r for r in feasible if r.latency.median_ms <= limit][:MAX_FINALISTS]  # type: ignore[union-attr]


def recommend(records: list[TrialRecord], floor: float, max_latency_ms: float | None = None,
              final_timing: FinalTiming | None = None) -> int | None:
    """The trial to ship (see the module docstring): among the finalists the fastest is not clearly ahead of in
    ``final_timing`` (without one: the single finalist), the highest validation accuracy, then the lowest validation
    loss, then the smallest file."""
    chosen = finalists(records, floor, max_latency_ms)
    if final_timing is not None and {r.number for r in chosen} == set(final_timing.finalists):
        chosen = [r for r in chosen if r.number in final_timing.tied]
    elif len(chosen) > 1:  # no side-by-side timing of these finalists: a verdict on separate stretches is none
        chosen = chosen[:1]
    if not chosen:
        return None
    return min(chosen, key=lambda r: (-(r.val_accuracy or 0.0), r.val_loss or 0.0, r.file_size_bytes or 0,
                                      r.latency.median_ms)).number  # type: ignore[union-attr]


# PED-ANOVA (Optuna's default evaluator) measures how much each parameter matters for reaching the *low* values of a
# target: validation accuracy is given negated, latency as it is. It says so in a warning whenever a target is given;
# with the targets oriented so, that warning is known and heeded, and kept off the terminal.
_PED_ANOVA_TARGET_NOTE = r".*computes the importances of params to achieve low `target` values"
IMPORTANCE_TARGETS = (("val_accuracy", 0, -1.0), ("latency", 1, 1.0))  # (name, objective index, sign: low is good)


def _importance(study: optuna.Study) -> dict[str, dict[str, float]]:
    """Parameter importance (Optuna's PED-ANOVA evaluator, named) for reaching a high validation accuracy and a low
    latency; {} with too few complete trials."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 3:
        return {}
    found = {}
    for name, index, sign in IMPORTANCE_TARGETS:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_PED_ANOVA_TARGET_NOTE)
                importances = optuna.importance.get_param_importances(
                    study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(),
                    target=lambda t, i=index, s=sign: s * t.values[i])
            found[name] = {k: round(float(v), 4) for k, v in importances.items()}
        except (ValueError, RuntimeError, ZeroDivisionError):  # e.g. one value for every parameter
            continue
    return found


def _record_of(trial: FrozenTrial, retried: bool) -> TrialRecord | None:
    """A finished trial's record (a RUNNING or WAITING one has none yet); a trial a killed search left behind has
    none either and becomes a failed record (``retried``: its params were asked again)."""
    if "record" in trial.user_attrs:
        return TrialRecord.model_validate(trial.user_attrs["record"])
    if trial.state == TrialState.FAIL and "params" in trial.user_attrs:
        why = "the search was killed while this trial ran" + ("; its params were asked again" if retried else "")
        screened = trial.user_attrs.get("screen_latency")
        return TrialRecord(number=trial.number, params=TrialParams(**trial.user_attrs["params"]), state="failed",
                           error=why, folder=trial.user_attrs.get("folder"),
                           screen_latency=Latency.model_validate(screened) if screened else None,
                           seeded=bool(trial.user_attrs.get(SEEDS_ATTR, False)),
                           retry_of=trial.user_attrs.get("retry_of"))
    return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()
