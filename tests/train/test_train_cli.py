"""`convbench train`: a thin wrapper; every bad input is one line on stderr and leaves the output folder alone."""

from __future__ import annotations

import pytest
from support import assert_one_line_error

from convbench.io import read_json


def test_train_command(cli, tmp_path):
    rc, out, err = cli("train", "--arch", "tiny_cnn", "--data", "digits", "--input-size", "8", "--epochs", "1",
                       "--seed", "3", "--out", tmp_path)
    assert rc == 0, err
    assert "test accuracy" in out and "model.keras" in out
    report = read_json(tmp_path / "training.json")
    assert report["config"]["seed"] == 3 and report["config"]["epochs"] == 1 and report["epochs_run"] == 1
    assert (tmp_path / "model.keras.json").exists()


@pytest.fixture
def previous_run(tmp_path):
    """An output folder holding earlier results that a failed command must leave as they were."""
    (tmp_path / "training.json").write_text('{"earlier": true}')
    (tmp_path / "model.keras").write_bytes(b"earlier model")
    return tmp_path


@pytest.mark.parametrize(("args", "culprit"), [
    (["--arch", "no_such_net"], "no_such_net"),
    (["--arch", "tiny_cnn", "--data", "digits:/no/such/digits.zip"], "/no/such/digits.zip"),
    (["--arch", "tiny_cnn", "--data", "no_such_set"], "no_such_set"),
    (["--arch", "tiny_cnn", "--width", "0"], "width=0"),
    (["--arch", "tiny_cnn", "--width", "-1.5"], "width=-1.5"),
    (["--arch", "alexnet", "--input-size", "8"], "input_shape"),
    (["--arch", "tiny_cnn", "--input-size", "0"], "size"),
    (["--arch", "tiny_cnn", "--channels", "2"], "channels=2"),
    (["--arch", "tiny_cnn", "--epochs", "0"], "epochs=0"),
    (["--arch", "tiny_cnn", "--batch-size", "0"], "batch_size=0"),
    (["--arch", "tiny_cnn", "--patience", "0"], "patience=0"),
])
def test_bad_input_is_one_line_and_keeps_outputs(cli, previous_run, args, culprit):
    before = {p.name: p.read_bytes() for p in previous_run.iterdir()}
    rc, _, err = cli("train", *args, "--out", previous_run)
    assert_one_line_error(rc, err, culprit)
    assert {p.name: p.read_bytes() for p in previous_run.iterdir()} == before
