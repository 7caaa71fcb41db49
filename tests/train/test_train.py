"""Training end to end on a small subset of the embedded digits with a tiny model (a few seconds)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from convbench.artifacts import SplitSettings, read_card
from convbench.errors import ConfigError, DataError, ModelError
from convbench.io import read_json, sha256_file
from convbench.train import evaluate, keras_probabilities, load_model, model_splits, train
from convbench.train.splits import SPLITS, training_splits

TINY = {"input_size": 8, "batch_size": 32, "progress": False}


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    """Two epochs of tiny_cnn on 400 digits, seed 0."""
    return train("tiny_cnn", digits, out=tmp_path_factory.mktemp("run"), epochs=2, seed=0, **TINY)


def test_writes_model_card_and_report(trained, digits):
    out = trained.model_path.parent
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint", "model.keras", "model.keras.json", "training.json"]
    card = read_card(trained.model_path)
    assert card == trained.card
    assert (card.arch, card.width, card.input_shape, card.format) == ("tiny_cnn", 1.0, (8, 8, 1), "keras")
    assert card.class_names == digits.class_names
    assert card.preprocessing.size == (8, 8) and card.preprocessing.channels == 1
    assert card.params == trained.model.count_params() and card.macs > 0
    assert card.sha256 == sha256_file(trained.model_path)
    assert set(card.metrics) == {"train_accuracy", "val_accuracy", "test_accuracy"}
    assert card.data == "digits"
    assert card.split == SplitSettings(seed=0, val_fraction=0.1, test="held out (20% of train)")

    report = read_json(out / "training.json")
    assert report["config"]["epochs"] == 2 and report["config"]["arch"] == "tiny_cnn" and report["seed"] == 0
    assert set(report["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(report["history"]["val_accuracy"]) == report["epochs_run"] == 2
    history = report["history"]
    best = 1 + min(range(2), key=lambda i: (-history["val_accuracy"][i], history["val_loss"][i]))
    assert report["best_epoch"] == best and report["val_accuracy"] == pytest.approx(
        report["history"]["val_accuracy"][best - 1], abs=1e-6)  # best weights restored
    for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
        assert 0 <= report[key] <= 1 and report[key] == card.metrics[key]
    assert report["params"] == card.params and report["macs"] == card.macs
    assert report["train_seconds"] > 0 and report["wall_seconds"] >= report["train_seconds"]
    assert {"cpu", "libraries", "timestamp"} <= set(report["environment"])


def test_load_model_and_evaluate(trained, digits):
    model, card = load_model(trained.model_path)
    assert card == trained.card and model.count_params() == card.params
    result = evaluate(trained.model_path, digits)
    assert result["split"] == "test" and result["count"] == 80  # 20 % of 400 held out: digits has no test split
    assert result["accuracy"] == pytest.approx(trained.report["test_accuracy"])
    assert evaluate(trained.model_path, digits, split="val")["accuracy"] == pytest.approx(
        trained.report["val_accuracy"])


def test_load_model_errors(tmp_path, trained):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing.keras")
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"not a zip")
    fake.with_name("fake.keras.json").write_text(trained.model_path.with_name("model.keras.json").read_text())
    with pytest.raises(ModelError, match=r"fake\.keras"):
        load_model(fake)
    lonely = tmp_path / "lonely.keras"
    lonely.write_bytes(trained.model_path.read_bytes())
    with pytest.raises(ModelError, match="no model card"):
        load_model(lonely)
    with pytest.raises(DataError, match="unknown split"):
        evaluate(trained.model_path, split="holdout")


def test_same_seed_same_split_and_history(trained, digits, tmp_path):
    first, again = (training_splits(digits, val_fraction=0.1, seed=0) for _ in range(2))
    assert all(np.array_equal(first[k].labels, again[k].labels) and np.array_equal(first[k].images, again[k].images)
               for k in first)
    other = training_splits(digits, val_fraction=0.1, seed=1)
    assert not np.array_equal(first["val"].images, other["val"].images)
    assert len(first["test"]) == 80 and len(first["train"]) + len(first["val"]) == 320
    assert 25 <= len(first["val"]) <= 40  # ~10 %, stratified (per-class rounding)

    repeat = train("tiny_cnn", digits, out=tmp_path, epochs=2, seed=0, **TINY)
    assert repeat.report["history"] == trained.report["history"]


def test_resume_continues_at_epoch_two(trained, digits, tmp_path):
    interrupted = train("tiny_cnn", digits, out=tmp_path, epochs=1, seed=0, **TINY)
    assert interrupted.report["epochs_run"] == 1
    resumed = train("tiny_cnn", digits, out=tmp_path, epochs=2, seed=0, **TINY)
    assert resumed.report["resumed_from_epoch"] == 1 and resumed.report["epochs_run"] == 2
    # Optimizer state, weights and the epoch-2 batch order came back: the same as never stopping.
    assert resumed.report["history"] == trained.report["history"]


def test_resume_refuses_a_different_run(trained, digits):
    with pytest.raises(ConfigError, match="batch_size: 32 -> 16"):
        train("tiny_cnn", digits, out=trained.model_path.parent, epochs=2, seed=0, **{**TINY, "batch_size": 16})


def test_failed_write_keeps_earlier_outputs(trained, digits, monkeypatch):
    out = trained.model_path.parent
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("convbench.train.loop.write_json", disk_full)
    with pytest.raises(OSError, match="No space"):
        train("tiny_cnn", digits, out=out, epochs=2, seed=0, **TINY)  # finished run: re-evaluates, then writes
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in out.iterdir()) == sorted([*before, "checkpoint"])  # no staging left behind


def test_model_splits_are_the_ones_training_drew(trained, digits):
    splits = model_splits(trained.card, digits)
    drawn = training_splits(digits, val_fraction=0.1, seed=0)
    assert all(np.array_equal(splits[k].images, drawn[k].images) for k in SPLITS)
    reseeded = replace(trained.card, split=SplitSettings(seed=1, val_fraction=0.2))
    assert len(model_splits(reseeded, digits)["val"]) > len(splits["val"])
    unrecorded = model_splits(replace(trained.card, split=None), digits)  # train()'s defaults
    assert all(np.array_equal(unrecorded[k].images, drawn[k].images) for k in SPLITS)


def test_keras_probabilities_of_a_split_or_its_preprocessed_images(trained, digits):
    test, preprocessing = model_splits(trained.card, digits)["test"], trained.card.preprocessing
    probabilities = keras_probabilities(trained.model, test, preprocessing)
    assert probabilities.dtype == np.float32 and probabilities.shape == (len(test), 10)
    np.testing.assert_array_equal(keras_probabilities(trained.model, preprocessing(test.images)), probabilities)
    assert np.mean(probabilities.argmax(axis=1) == test.labels) == trained.report["test_accuracy"]
    with pytest.raises(ValueError, match="needs its preprocessing"):
        keras_probabilities(trained.model, test)
    with pytest.raises(ValueError, match="model input already"):
        keras_probabilities(trained.model, preprocessing(test.images), preprocessing)
