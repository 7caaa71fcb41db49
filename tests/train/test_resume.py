"""A training process killed with SIGKILL and run again ends as the run that was never interrupted, bit for bit.

The run is ``resume_run.py`` (a tiny network with batch norm and dropout on the embedded digits, through
:func:`convbench.train.train`). The killed run is a real ``python resume_run.py OUT EPOCHS`` process; the kill
lands at a known point (the script pauses there and says so), mid-epoch or mid-checkpoint-write. The
uninterrupted reference and the reruns run in the test's own process, which has trained other models before:
nothing but the files may carry over (one more process per test would double the test's time).
"""

from __future__ import annotations

import importlib.util
import os
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from convbench.io import read_json
from convbench.train import checkpoint

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("resume_run.py")
EPOCHS = 4
TIMEOUT_S = 300  # a whole run takes ~10 s; this only keeps a hung process from hanging the suite
UNTIMED = ("train_seconds", "wall_seconds", "environment", "resumed_from_epoch")


def _import_script():
    spec = importlib.util.spec_from_file_location("resume_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


resume_run = _import_script()


def start(out: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SCRIPT), str(out), str(EPOCHS)], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_to_the_end(out: Path) -> None:
    process = start(out)
    _, stderr = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0, stderr[-3000:]


def kill_when_paused(out: Path, **env: str) -> None:
    """Run until the script pauses where ``env`` says, then SIGKILL it."""
    process = start(out, **env)
    try:
        ready, _, _ = select.select([process.stdout], [], [], TIMEOUT_S)
        line = process.stdout.readline() if ready else ""
        assert line.strip() == "PAUSED", f"the run did not pause: {line!r}"
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=TIMEOUT_S) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def outcome(out: Path) -> tuple[dict, checkpoint.Saved, list[np.ndarray]]:
    """The report, the last checkpoint (every model, optimizer and random-generator variable) and the saved model."""
    report = {k: v for k, v in read_json(out / "training.json").items() if k not in UNTIMED}
    saved = checkpoint.latest(out / "checkpoint")
    return report, saved, keras.models.load_model(out / "model.keras").get_weights()


def assert_identical(resumed: Path, uninterrupted: Path) -> None:
    report, saved, weights = outcome(resumed)
    expected_report, expected_saved, expected_weights = outcome(uninterrupted)
    assert report == expected_report  # history, best epoch and every accuracy
    assert saved.state.epoch == expected_saved.state.epoch == EPOCHS
    for name in ("model_variables", "optimizer_variables", "best_weights"):
        got, expected = getattr(saved, name), getattr(expected_saved, name)
        assert len(got) == len(expected) > 0
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b, strict=True, err_msg=name)
    for a, b in zip(weights, expected_weights, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    resume_run.train_run(out, EPOCHS)
    return out


def test_uninterrupted_runs_are_bit_identical(uninterrupted, tmp_path):
    run_to_the_end(tmp_path)  # a fresh process
    assert_identical(tmp_path, uninterrupted)


def test_killed_mid_epoch_resumes_bit_for_bit(uninterrupted, tmp_path):
    kill_when_paused(tmp_path, RESUME_TEST_PAUSE_AT="3:5")
    assert checkpoint.latest(tmp_path / "checkpoint").state.epoch == 2 and not (tmp_path / "model.keras").exists()
    resume_run.train_run(tmp_path, EPOCHS)
    assert read_json(tmp_path / "training.json")["resumed_from_epoch"] == 2
    assert_identical(tmp_path, uninterrupted)


def test_killed_mid_save_leaves_nothing_that_steers_the_rerun(uninterrupted, tmp_path):
    kill_when_paused(tmp_path, RESUME_TEST_PAUSE_IN_SAVE="3")
    folder = tmp_path / "checkpoint"
    partial = folder / ".epoch-0003.tmp"
    assert sorted(p.name for p in partial.iterdir()) == [checkpoint.MODEL_VARIABLES]  # half written
    assert checkpoint.latest(folder).state.epoch == 2  # the previous checkpoint is whole and current
    # What earlier versions left when killed mid-save: the whole checkpoint folder half written beside it.
    legacy = tmp_path / ".checkpoint.k1lled.tmp"
    shutil.copytree(partial, legacy)
    (legacy / "last.keras").write_bytes(b"PK\x03\x04 cut short")
    resume_run.train_run(tmp_path, EPOCHS)
    assert read_json(tmp_path / "training.json")["resumed_from_epoch"] == 2
    assert_identical(tmp_path, uninterrupted)
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]  # leftovers removed
    assert [p.name for p in folder.iterdir()] == [f"epoch-{EPOCHS:04d}"]


def test_two_epochs_then_four_is_the_four_epoch_run(uninterrupted, tmp_path):
    resume_run.train_run(tmp_path, 2)
    assert read_json(tmp_path / "training.json")["epochs_run"] == 2
    resume_run.train_run(tmp_path, EPOCHS)
    assert read_json(tmp_path / "training.json")["resumed_from_epoch"] == 2
    assert_identical(tmp_path, uninterrupted)
