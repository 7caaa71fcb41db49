"""``run``: the whole study in one call: validate, plan, run what is not cached, report, record history.

Finished steps are reused on every run (their keys say exactly what they were computed from), so
re-running after an interruption resumes, and a changed setting redoes only the steps that depend
on it. A step that fails with a user error (:class:`~convbench.errors.ConvbenchError`) is recorded
and the steps that need it are skipped; the rest of the study goes on. A disk-full or permission
error stops the run with one line; every step finished before it stays valid.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convbench.checks import output_file, output_folder
from convbench.env import environment
from convbench.errors import ConfigError, ConvbenchError, OutputError
from convbench.experiment.cache import STUDY_FILE, StudyFolder
from convbench.experiment.display import Display
from convbench.experiment.files import find_experiment, load_experiment, shipped_dir, validate_experiment
from convbench.experiment.history import append_history
from convbench.experiment.plan import make_plan
from convbench.experiment.results import collect
from convbench.experiment.schema import Experiment
from convbench.experiment.step import DataCache, Done, Step, StepContext, step_kind
from convbench.io import write_text
from convbench.locks import output_lock
from convbench.report.records import StudyReport
from convbench.report.study import write_reports
from convbench.vocabulary import RESULTS_ROOT


@dataclass
class StudyRun:
    """What :func:`run` did.

    Attributes:
        experiment: the validated experiment.
        out: the study's output folder.
        plan: every step, in order.
        cached: keys of the steps that were already finished.
        ran: keys of the steps run now.
        failed: key → error message of the steps that failed (and ``skipped`` those that needed them).
        report: what the report shows, as typed records (``None`` for a dry run).
        results: the content of ``results.json`` (the report's ``to_dict()``; ``None`` for a dry run).
        files: the report files written.
        wall_seconds: time of the whole run.
    """

    experiment: Experiment
    out: Path
    plan: list[Step[Any]]
    cached: set[str] = field(default_factory=set)
    ran: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    report: StudyReport | None = None
    results: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def dry_run(self) -> bool:
        return self.results is None


def run(experiment: str | os.PathLike[str] | None = None, *, out: str | os.PathLike[str] | None = None,
        data: dict[str, str] | None = None, settings: dict[str, Any] | None = None, resume: bool = False,
        force: bool = False, dry_run: bool = False, history: str | os.PathLike[str] | None = None,
        record_history: bool = True, progress: bool = True) -> StudyRun:
    """Run a study: train, export, check parity, time, and write the report into ``out``.

    Args:
        experiment: a TOML file or a shipped experiment's name; ``None`` → ``default`` (or, with ``resume``,
            the study saved in ``out``).
        out: output folder (default ``results/<study name>``).
        data: data path overrides, ``{"main": PATH}`` (see :func:`~convbench.experiment.load_experiment`).
        settings: setting overrides, ``{"train.epochs": 1}``.
        resume: continue the study saved in ``out`` with its saved settings (finished steps are always reused).
        force: take over an output folder that holds another study's results (nothing is deleted).
        dry_run: validate and plan only; report which steps are cached.
        history: the SQLite history (default ``$CONVBENCH_HISTORY`` or ``~/.convbench/results.sqlite``).
        record_history: append the results to the history.
        progress: show progress bars and the log on the terminal (``OUT/run.log`` is written regardless).

    Returns:
        A :class:`StudyRun`.

    Raises:
        ConfigError: an invalid experiment, an output folder holding another study (without ``force``) or, with
            ``resume``, none; a damaged ``study.json`` (naming it and what is wrong).
        OSError: disk full or permission denied while running (finished steps stay valid).

    Example:
        >>> study = run("fruits360-architectures", out="results/fruits")
        >>> study.results["recommendation"]["sentence"]
    """
    started = time.perf_counter()
    if out is not None:
        output_folder(out, "--out")
    if history is not None and record_history:
        output_file(Path(history).expanduser(), "--history")
    exp, source = _experiment(experiment, out, data, settings, resume)
    root = output_folder(Path(out) if out is not None else Path(RESULTS_ROOT) / exp.name, "--out")
    folder = StudyFolder(root)
    if resume and folder.owner() is None:  # else it would silently start the study afresh
        raise ConfigError(f"--resume: {root} holds no convbench study to resume; run without --resume to start it")
    folder.check_owner(exp.name, force=force)
    plan = make_plan(exp)
    study = StudyRun(exp, root, plan, cached={s.key for s in plan if folder.done(s) is not None})
    if dry_run:
        return study
    with output_lock(root):
        folder.check_owner(exp.name, force=force)  # again: another study may have claimed it meanwhile
        study.cached = {s.key for s in plan if folder.done(s) is not None}
        set_aside = folder.set_aside(exp.name) if force else None
        _run_study(study, folder, experiment, source, data, settings, resume, history, record_history, progress,
                   set_aside, started)
    return study


def _run_study(study: StudyRun, folder: StudyFolder, experiment: str | os.PathLike[str] | None, source: str,
               data: dict[str, str] | None, settings: dict[str, Any] | None, resume: bool,
               history: str | os.PathLike[str] | None, record_history: bool, progress: bool,
               set_aside: Path | None, started: float) -> None:
    """Run the steps not cached, then collect, report and record (the folder's lock is held)."""
    exp, root, plan = study.experiment, study.out, study.plan
    saved = folder.owner() if resume and experiment is None else None
    command = saved["command"] if saved and saved.get("command") else _command(source, root, data, settings)
    started_at = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    folder.claim({"name": exp.name, "experiment": exp.model_dump(mode="json"), "source": source, "command": command,
                  "updated": started_at})
    if source and Path(source).is_file():
        write_text(root / "experiment.toml", Path(source).read_text(encoding="utf-8"))
    display = Display(exp.name, len(plan), len(study.cached), root / "run.log", enabled=progress)
    with display:
        if set_aside is not None:
            display.log(f"--force: the files of the study that was in {root} moved to {set_aside}")
        display.log(f"study {exp.name}: {len(plan)} steps, {len(study.cached)} already done; output in {root}")
        _execute(plan, folder, study, display, progress)
    study.wall_seconds = time.perf_counter() - started
    study.report = report = collect(exp, plan, folder, study, command=command, started=started_at)
    study.results = report.to_dict()
    study.files = write_reports(report, root)
    if record_history:
        append_history(report.flat_rows(), {"study": exp.name, "timestamp": started_at, "command": command,
                                            "out_dir": str(root.resolve()), "wall_seconds": study.wall_seconds,
                                            "experiment": report.study.experiment,
                                            "environment": report.environment}, history)
    display.log(f"study {exp.name} done in {study.wall_seconds:.0f} s: {len(study.ran)} steps run, "
                f"{len(study.cached)} cached, {len(study.failed)} failed; report: {root / 'report.html'}")


def _experiment(ref: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None,
                data: dict[str, str] | None, settings: dict[str, Any] | None, resume: bool) -> tuple[Experiment, str]:
    """The experiment to run and the file it came from (``""`` when resumed from a saved study)."""
    if not (resume and ref is None):
        return load_experiment(ref, data=data, settings=settings), str(find_experiment(ref))
    if out is None:
        raise ConfigError("--resume without an EXPERIMENT continues the study saved in --out DIR: give --out")
    owner = StudyFolder(out).owner()
    if owner is None:
        raise ConfigError(f"--resume: {out} holds no convbench study to resume")
    if not isinstance(owner.get("experiment"), dict):
        raise ConfigError(f"--resume: {Path(out) / STUDY_FILE} records no experiment settings to resume; give the "
                          "EXPERIMENT file")
    if data or settings:
        raise ConfigError("--resume continues the saved study as it was; give the EXPERIMENT file to change settings")
    return validate_experiment(owner["experiment"], f"study saved in {out}"), owner.get("source", "")


def _execute(plan: list[Step[Any]], folder: StudyFolder, study: StudyRun, display: Display, progress: bool) -> None:
    datasets = DataCache()
    finished: dict[str, Done[Any]] = {s.key: done for s in plan if s.key in study.cached
                                      and (done := folder.done(s)) is not None}
    todo = [s for s in plan if s.key not in study.cached]
    for number, step in enumerate(todo, 1):
        kind = step_kind(step.kind)
        blocked = next((k for k in step.needs if k in study.failed or k in study.skipped), None)
        if blocked is not None:
            usable = [s for s in plan if s.key in step.needs and s.key in finished]
            narrowed = kind.narrow(step, usable) if usable else None
            if narrowed is None:
                study.skipped[step.key] = f"needs a step that failed ({_name(plan, blocked)})"
                display.skip(step, "skipped")
                continue
            plan[plan.index(step)] = step = narrowed  # the study's results and report read the narrowed step
            if (done := folder.done(step)) is not None:
                finished[step.key] = done
                study.cached.add(step.key)
                display.skip(step, "cached")
                continue
        display.start(step, number, len(todo), kind.draws_own_progress)
        ctx = StepContext(folder.step_dir(step), tuple(finished[k] for k in step.needs), datasets, progress)
        began = time.perf_counter()
        try:
            ctx.dir.mkdir(parents=True, exist_ok=True)
            outputs = kind.run(step, ctx)
            finished[step.key] = folder.finish(step, outputs, time.perf_counter() - began, environment())
        except OutputError as e:  # a write failed (disk full, read-only): stop here, keep what is finished
            display.finish(step, f"✗ {e}", kind.draws_own_progress)
            raise OutputError(f"{e} while running step {step.describe()!r}; finished steps are kept: run the same "
                              f"command again to resume") from None
        except ConvbenchError as e:
            study.failed[step.key] = str(e)
            display.finish(step, f"✗ failed: {e}", kind.draws_own_progress)
            continue
        except OSError as e:  # disk full, permission denied: stop here, keep what is finished
            display.finish(step, f"✗ {e}", kind.draws_own_progress)
            raise OSError(e.errno, f"{e.strerror or e} while running step {step.describe()!r}; finished steps are "
                                   f"kept: run the same command again to resume", e.filename) from None
        study.ran.append(step.key)
        display.finish(step, f"✓ {kind.summary(outputs)} ({time.perf_counter() - began:.1f} s)",
                       kind.draws_own_progress)


def _name(plan: list[Step[Any]], key: str) -> str:
    return next(s.describe() for s in plan if s.key == key)


def _command(source: str, out: Path, data: dict[str, str] | None, settings: dict[str, Any] | None) -> str:
    """The command that reproduces this run."""
    ref = Path(source).stem if source and Path(source).parent == shipped_dir() else source
    args = ["convbench", "run", *([ref] if ref else []), "--out", str(out)]
    for key, value in (data or {}).items():
        args += ["--data", f"{key}={value}"]
    for key, value in (settings or {}).items():
        args += ["--set", f"{key}={_toml(value)}"]
    return shlex.join(args)


def _toml(value: Any, nested: bool = False) -> str:
    """``value`` as ``--set`` reads it back: a TOML value (a top-level string stays bare)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value) if nested else value
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v, True) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v, True)}" for k, v in value.items()) + "}"
    return str(value)
