"""One training run in its own process, for tests/train/test_resume.py to kill with SIGKILL and run again.

Usage: ``python resume_run.py OUT EPOCHS`` trains a tiny network with batch norm and dropout (every kind of
state a resume must carry: weights, batch-norm statistics, dropout's random generator, Adam's moments), with
augmentation, on the embedded digits into ``OUT`` through :func:`convbench.train.train`. The test imports it
too, to run the same training in its own process.

Two environment variables, read only here, make the run stop at a known point, print ``PAUSED`` on stdout
and wait for the test to kill it (so what the kill interrupts does not depend on timing):

- ``RESUME_TEST_PAUSE_AT=E:B``: in epoch E (1-based) after batch B;
- ``RESUME_TEST_PAUSE_IN_SAVE=E``: while epoch E's checkpoint is being written, after its first file.
"""

from __future__ import annotations

import os
import sys
import time

import keras
import numpy as np
from keras import layers

from convbench.models import list_models, register_model
from convbench.train import train

PAUSED = "PAUSED"


def tiny_dropout_cnn(input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0, *,
                     name: str | None = None) -> keras.Model:
    """A conv with batch norm, pooling, dropout and a softmax: a second per epoch on 8x8 digits."""
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(max(1, int(8 * width)), 3, padding="same", name="conv1")(inputs)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.ReLU(name="conv1_relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name or "tiny_dropout_cnn")


if "tiny_dropout_cnn" not in list_models():  # imported by the test as well
    register_model(tiny_dropout_cnn)


def pause() -> None:
    print(PAUSED, flush=True)
    while True:
        time.sleep(60)


class PauseAt(keras.callbacks.Callback):
    """Pause after batch ``batch`` of epoch ``epoch`` (both 1-based)."""

    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.current = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if (self.current, batch + 1) == (self.epoch, self.batch):
            pause()


def pause_in_save(epoch: int) -> None:
    """Pause once the first file of epoch ``epoch``'s checkpoint is written (numpy's savez, wrapped)."""
    savez = np.savez

    def savez_then_pause(file, *args, **kwargs):
        savez(file, *args, **kwargs)
        if f"epoch-{epoch:04d}" in os.fspath(file):
            pause()

    np.savez = savez_then_pause


def train_run(out: str | os.PathLike[str], epochs: int) -> None:
    """The run itself (the test also runs it in its own process, as the uninterrupted reference)."""
    train("tiny_dropout_cnn", None, out=out, input_size=8, epochs=epochs, batch_size=32, patience=10, seed=3,
          augment=True, progress=False)


def main(out: str, epochs: int) -> None:
    if "RESUME_TEST_PAUSE_AT" in os.environ:
        pause_epoch, pause_batch = map(int, os.environ["RESUME_TEST_PAUSE_AT"].split(":"))
        fit = keras.Model.fit

        def fit_with_pause(self, *args, callbacks=(), **kwargs):
            return fit(self, *args, callbacks=[*callbacks, PauseAt(pause_epoch, pause_batch)], **kwargs)

        keras.Model.fit = fit_with_pause
    if "RESUME_TEST_PAUSE_IN_SAVE" in os.environ:
        pause_in_save(int(os.environ["RESUME_TEST_PAUSE_IN_SAVE"]))
    train_run(out, epochs)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
