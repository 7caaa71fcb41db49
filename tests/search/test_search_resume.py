"""A search killed with SIGKILL mid-trial resumes: finished trials kept as they were and never re-run, the trial the
kill interrupted marked failed and its params asked again; through the real CLI in a subprocess, which never
imports Ray without --ray."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc
from search.searchkit import write_space

from convbench.io import sha256_file
from convbench.search import RESULT_FILE, STUDY_DB, SearchResult

pytestmark = pytest.mark.slow

# The CLI in a fresh interpreter; afterwards it says whether Ray was ever imported.
CLI = ("import sys\nfrom convbench.cli import main\nstatus = main(sys.argv[1:])\n"
       "print('ray imported:', 'ray' in sys.modules)\nsys.exit(status)\n")
KILL_WITHIN_S = 240


def _cli(*args: object) -> list[str]:
    return [sys.executable, "-c", CLI, "search", *map(str, args)]


def _trials(out: Path) -> list[optuna.trial.FrozenTrial]:
    try:
        storage = optuna.storages.RDBStorage(f"sqlite:///{out / STUDY_DB}")
        return optuna.load_study(study_name="convbench-search", storage=storage).get_trials()
    # The database file exists a moment before the study's record does (KeyError), and before the search has
    # finished creating its tables, which opening the storage here would then try to create too (OperationalError),
    # or stamp with its schema version a moment after the search did (IntegrityError on alembic_version).
    except (KeyError, sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError):
        return []


def _wait_for_a_running_trial_after_a_finished_one(process: subprocess.Popen[bytes], out: Path,
                                                   stderr: Path) -> None:
    deadline = time.monotonic() + KILL_WITHIN_S
    while time.monotonic() < deadline:
        status = process.poll()
        assert status is None, (f"the search exited with {status} before it could be killed; its stderr:\n"
                                f"{stderr.read_text(encoding='utf-8', errors='replace')[-4000:]}")
        if (out / STUDY_DB).exists():
            trials = _trials(out)
            running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
            if any(t.state.is_finished() for t in trials) and running and \
                    time.time() - running[0].user_attrs.get("started", time.time()) > 1:  # well into it
                return
        time.sleep(0.2)
    pytest.fail(f"no trial was running after a finished one in time; the search's stderr:\n"
                f"{stderr.read_text(encoding='utf-8', errors='replace')[-4000:]}")


def test_a_search_killed_mid_trial_resumes_without_rerunning_finished_trials(tmp_path: Path):
    out = tmp_path / "search"
    # One epoch a trial: no pruning rung; and a floor no one-epoch trial meets, so no trial is feasible and the
    # latency screen never runs: the second trial cannot be pruned and end before the kill (exit 1: none met it).
    args = ("--floor", "1.0", "--out", out, "--space", write_space(tmp_path), "--trials", "2", "--epochs", "1",
            "--quiet")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    stderr = tmp_path / "first.stderr"  # kept: a search that exits before the kill says why in the failure
    with stderr.open("wb") as sink:
        process = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=sink, env=env)
        try:
            _wait_for_a_running_trial_after_a_finished_one(process, out, stderr)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()

    before = _trials(out)
    finished = {t.number: t for t in before if t.state.is_finished()}
    (killed,) = [t for t in before if t.state == optuna.trial.TrialState.RUNNING]
    files = {p: sha256_file(p) for t in finished.values() for p in (out / t.user_attrs["folder"]).rglob("*.tflite")}


    resumed = subprocess.run(_cli(*args, "--resume"), capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode in (0, 1), \
        f"the resumed search exited with {resumed.returncode}; its stderr:\n{resumed.stderr[-4000:]}"
    assert "ray imported: False" in resumed.stdout

    result = SearchResult.load(out / RESULT_FILE)
    after = {t.number: t for t in _trials(out)}
    for number, trial in finished.items():  # kept as they were: same state, values and record
        assert after[number].state == trial.state
        assert after[number].values == trial.values
        assert after[number].user_attrs["record"] == trial.user_attrs["record"]
    assert all(sha256_file(p) == sha for p, sha in files.items())  # never re-run: their files untouched
    assert after[killed.number].state == optuna.trial.TrialState.FAIL
    assert "killed" in result.trial(killed.number).error
    (retry,) = [t for t in result.trials if t.retry_of == killed.number]
    assert retry.params.model_dump() == killed.user_attrs["params"]
    assert retry.state != "failed"
