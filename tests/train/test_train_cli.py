"""`convbench train`: a thin wrapper; every bad input is one line on stderr and leaves the output folder alone."""

from __future__ import annotations

import pytest
from support import assert_one_line_error

from convbench.artifacts import ModelCard, card_path, read_card, write_card
from convbench.data import Preprocessing
from convbench.io import read_json, write_json


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
    """An output folder holding earlier results (convbench's: the model has its card) that a failed command must
    leave as they were."""
    (tmp_path / "training.json").write_text('{"earlier": true}')
    (tmp_path / "model.keras").write_bytes(b"earlier model")
    write_card(tmp_path / "model.keras", ModelCard("tiny_cnn", 1.0, (8, 8, 1), ("0", "1"), Preprocessing((8, 8), 1)))
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


TINY = ("--arch", "tiny_cnn", "--input-size", "8", "--epochs", "1")


@pytest.mark.parametrize("name", ["model.keras", "training.json", "model.keras.json"])
def test_train_never_replaces_a_file_it_did_not_write(cli, tmp_path, name):
    (tmp_path / name).write_bytes(b"the user's own file")  # no model card beside it: convbench did not write it
    rc, out, err = cli("train", *TINY, "--out", tmp_path)
    assert_one_line_error(rc, err, str(tmp_path / name), "not written by convbench")
    assert out == "" and sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert (tmp_path / name).read_bytes() == b"the user's own file"


def test_train_never_removes_a_checkpoint_folder_it_did_not_write(cli, tmp_path):
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "notes.txt").write_text("mine")
    rc, _, err = cli("train", *TINY, "--no-resume", "--out", tmp_path)
    assert_one_line_error(rc, err, str(tmp_path / "checkpoint"), "not a checkpoint folder")
    assert (tmp_path / "checkpoint" / "notes.txt").read_text() == "mine"


def test_retraining_removes_the_old_models_exports_with_it(cli, tmp_path):
    assert cli("train", *TINY, "--out", tmp_path)[0] == 0
    model = tmp_path / "model.keras"
    card = read_card(model)
    exported = {}  # as `convbench export` writes them: each card names its source model
    for name, source in (("model.none.tflite", str(model.absolute())), ("model.onnx", str(model.absolute())),
                         ("other.none.tflite", str(tmp_path / "elsewhere" / "model.keras"))):
        (tmp_path / name).write_bytes(b"exported")
        exported[name] = write_json(card_path(tmp_path / name), {
            **card.to_dict(), "format": "tflite", "sha256": "0" * 64,
            "extra": {**card.to_dict()["extra"], "source": {"path": source, "sha256": card.sha256 if
                                                            name != "other.none.tflite" else "1" * 64}}})
    (tmp_path / "mine.tflite").write_bytes(b"the user's own file, no card")
    rc, _, err = cli("train", *TINY, "--seed", "7", "--no-resume", "--out", tmp_path)
    assert rc == 0, err
    assert not (tmp_path / "model.none.tflite").exists() and not exported["model.none.tflite"].exists()
    assert not (tmp_path / "model.onnx").exists() and not exported["model.onnx"].exists()
    assert "removed" in err and "model.none.tflite" in err and "model.onnx" in err  # said, in one warning line
    assert (tmp_path / "other.none.tflite").exists() and exported["other.none.tflite"].exists()  # another model's
    assert (tmp_path / "mine.tflite").read_bytes() == b"the user's own file, no card"
    assert read_card(model).extra["training"]["seed"] == 7
