"""Checkpoints: written whole, read back whole (every variable a resume needs), leftovers never read, stopping rule.

The end-to-end proof (a training process killed with SIGKILL, resumed, bit for bit) is in ``test_resume.py``.
"""

from __future__ import annotations

import errno
import shutil

import keras
import numpy as np
import pytest
from keras import layers

from convbench.errors import ConfigError, OutputError
from convbench.io import read_json, write_json
from convbench.train import checkpoint, train
from convbench.train.checkpoint import TrainingState

TINY = {"input_size": 8, "batch_size": 32, "progress": False}
CONFIG = {"arch": "small", "seed": 0}


def small_model() -> keras.Model:
    """Dense, batch norm and dropout: weights, statistics and a random generator, with Adam."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    x = layers.BatchNormalization()(layers.Dense(3)(inputs))
    outputs = layers.Dense(2, activation="softmax")(layers.Dropout(0.5)(x))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def state_after(epochs: int, val_accuracy: list[float] | None = None) -> TrainingState:
    accuracies = val_accuracy or [0.5] * epochs
    return TrainingState(dict(CONFIG), epoch=epochs, history={"val_accuracy": accuracies,
                                                              "val_loss": [1.0] * len(accuracies)})


@pytest.fixture(scope="module")
def fitted() -> keras.Model:
    """A small model after one epoch: every variable, the dropout generator's and Adam's included, has moved."""
    model = small_model()
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 2, 64), epochs=1, verbose=0)
    return model


def values(variables) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v.value) for v in variables]


def test_save_keeps_one_complete_checkpoint_and_reads_all_of_it_back(fitted, tmp_path):
    best = fitted.get_weights()
    checkpoint.save(tmp_path, fitted, state_after(1), best)
    state = state_after(2)
    path = checkpoint.save(tmp_path, fitted, state, best)
    assert [p.name for p in tmp_path.iterdir()] == ["epoch-0002"] == [path.name]  # older and staging removed
    saved = checkpoint.latest(tmp_path)
    assert saved.path == path and saved.state == state and state.kernels == checkpoint.kernels()
    seed_states = [v for v in fitted.variables if "seed_generator" in v.path]
    assert seed_states and len(saved.model_variables) == len(fitted.weights) + len(seed_states)
    for got, expected in ((saved.model_variables, values(fitted.variables)),
                          (saved.optimizer_variables, values(fitted.optimizer.variables)),
                          (saved.best_weights, best)):
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b, strict=True)


@pytest.mark.filterwarnings("error::convbench.train.checkpoint.ResumeNotice")  # same kernels: no notice
def test_restore_gives_every_variable_its_saved_value(fitted, tmp_path):
    saved_state = state_after(1)
    checkpoint.save(tmp_path, fitted, saved_state, fitted.get_weights())
    model, state, best = checkpoint.restore(tmp_path, dict(CONFIG), small_model, epochs=3, patience=2)
    assert all(np.array_equal(a, b) for a, b in zip(best, fitted.get_weights(), strict=True))
    assert state == saved_state
    assert int(model.optimizer.iterations.numpy()) == int(fitted.optimizer.iterations.numpy()) > 0
    for restored, original in ((model.variables, fitted.variables),
                               (model.optimizer.variables, fitted.optimizer.variables)):
        for a, b in zip(values(restored), values(original), strict=True):
            np.testing.assert_array_equal(a, b, strict=True)
    fresh = small_model()
    assert not all(np.array_equal(a, b) for a, b in zip(values(fresh.variables), values(fitted.variables),
                                                           strict=True))


def test_resuming_on_other_kernels_says_so(fitted, tmp_path):
    path = checkpoint.save(tmp_path, fitted, state_after(1), fitted.get_weights())
    state = read_json(path / checkpoint.STATE)
    state["kernels"]["intra_op_threads"] += 7
    write_json(path / checkpoint.STATE, state)
    with pytest.warns(checkpoint.ResumeNotice, match=r"other kernels than epoch 1 ran on \(intra_op_threads: \d+ -> "):
        _, restored, _ = checkpoint.restore(tmp_path, dict(CONFIG), small_model, epochs=3, patience=2)
    assert restored.epoch == 1


def test_leftovers_of_killed_saves_are_never_read_and_are_removed(fitted, tmp_path):
    folder = tmp_path / "checkpoint"
    complete = checkpoint.save(folder, fitted, state_after(1), fitted.get_weights())
    # A later save killed after writing everything but the rename, one killed while removing, an old version's.
    staged = folder / ".epoch-0002.tmp"
    shutil.copytree(complete, staged)
    write_json(staged / checkpoint.STATE, state_after(2).to_dict())
    shutil.copytree(complete, folder / ".epoch-0000.removed.tmp")
    (tmp_path / ".checkpoint.x1y2.tmp").mkdir()
    (tmp_path / ".checkpoint.x1y2.tmp" / "last.keras").write_bytes(b"PK cut short")
    assert checkpoint.latest(folder).state.epoch == 1
    _, state, _ = checkpoint.restore(folder, dict(CONFIG), small_model, epochs=3, patience=2)
    assert state.epoch == 1
    assert sorted(p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp")) == []
    assert [p.name for p in folder.iterdir()] == ["epoch-0001"]


def test_restore_refuses_a_checkpoint_past_the_stopping_rule(fitted, tmp_path):
    # Validation accuracy improves at epochs 1 and 4 only: waits 0, 1, 2, 0.
    checkpoint.save(tmp_path, fitted, state_after(4, [0.5, 0.4, 0.4, 0.6]), fitted.get_weights())
    with pytest.raises(ConfigError, match="at epoch 4, past epochs=3"):
        checkpoint.restore(tmp_path, dict(CONFIG), small_model, epochs=3, patience=5)
    with pytest.raises(ConfigError, match="patience=2 this run stops after epoch 3"):
        checkpoint.restore(tmp_path, dict(CONFIG), small_model, epochs=6, patience=2)
    assert checkpoint.restore(tmp_path, dict(CONFIG), small_model, epochs=4, patience=3)[1].epoch == 4
    with pytest.raises(ConfigError, match=r"different run \(seed: 0 -> 1\)"):
        checkpoint.restore(tmp_path, {**CONFIG, "seed": 1}, small_model, epochs=6, patience=5)


def test_unreadable_or_mismatched_checkpoint_is_one_clear_error(fitted, tmp_path):
    path = checkpoint.save(tmp_path, fitted, state_after(1), fitted.get_weights())
    (path / checkpoint.OPTIMIZER_VARIABLES).write_bytes(b"not an npz")
    with pytest.raises(ConfigError, match=r"epoch-0001: unreadable checkpoint"):
        checkpoint.latest(tmp_path)
    path = checkpoint.save(tmp_path, fitted, state_after(2), fitted.get_weights())

    def wider() -> keras.Model:
        model = keras.Sequential([keras.Input((4,)), layers.Dense(5), layers.Dense(2)])
        model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
        return model

    with pytest.raises(ConfigError, match=r"model\.npz: (\d+ saved variables|saved float32)"):
        checkpoint.restore(tmp_path, dict(CONFIG), wider, epochs=3, patience=2)


def test_older_layout_is_refused_and_start_over_clears_it(tmp_path):
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    write_json(folder / checkpoint.STATE, state_after(1).to_dict())
    (folder / "last.keras").write_bytes(b"PK")
    with pytest.raises(ConfigError, match=r"older convbench.*--no-resume"):
        checkpoint.restore(folder, dict(CONFIG), small_model, epochs=3, patience=2)
    checkpoint.start_over(folder)
    assert list(tmp_path.iterdir()) == []


def test_fewer_epochs_than_done_is_refused_and_no_resume_starts_over(digits, tmp_path):
    two = train("tiny_cnn", digits, out=tmp_path, epochs=2, seed=0, **TINY)
    with pytest.raises(ConfigError, match="epoch 2, past epochs=1"):
        train("tiny_cnn", digits, out=tmp_path, epochs=1, seed=0, **TINY)
    one = train("tiny_cnn", digits, out=tmp_path, epochs=1, seed=0, resume=False, **TINY)
    assert one.report["resumed_from_epoch"] == 0 and one.report["epochs_run"] == 1
    assert {k: v[:1] for k, v in two.report["history"].items()} == one.report["history"]
    assert [p.name for p in (tmp_path / "checkpoint").iterdir()] == ["epoch-0001"]
    assert read_json(tmp_path / "checkpoint" / "epoch-0001" / checkpoint.STATE)["epoch"] == 1


def test_a_full_disk_mid_save_names_the_checkpoint_and_keeps_the_previous_one(fitted, tmp_path, monkeypatch):
    checkpoint.save(tmp_path, fitted, state_after(1), fitted.get_weights())
    savez = np.savez

    def disk_full_at_the_second_file(file, *arrays):
        if str(file).endswith(checkpoint.OPTIMIZER_VARIABLES):
            raise OSError(errno.ENOSPC, "No space left on device")
        savez(file, *arrays)

    monkeypatch.setattr(np, "savez", disk_full_at_the_second_file)
    with pytest.raises(OutputError, match=r"cannot write the checkpoint .*epoch-0002: No space left on device"):
        checkpoint.save(tmp_path, fitted, state_after(2), fitted.get_weights())
    assert [p.name for p in tmp_path.iterdir()] == ["epoch-0001"]  # no staging left, the previous one whole
    assert checkpoint.latest(tmp_path).state.epoch == 1
