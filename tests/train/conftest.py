"""Fixtures for the training tests: a tiny registered architecture and small real-data subsets."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from convbench.data import Dataset, load
from convbench.models import list_models, register_model

if "tiny_cnn" not in list_models():

    @register_model
    def tiny_cnn(input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0, *,
                 name: str | None = None) -> keras.Model:
        """Two small convs and a softmax: trains in a second on 8x8 digits (test stand-in)."""
        inputs = keras.Input(input_shape)
        x = layers.Conv2D(max(1, int(8 * width)), 3, padding="same", activation="relu", name="conv1")(inputs)
        x = layers.MaxPooling2D(name="pool1")(x)
        x = layers.Conv2D(max(1, int(16 * width)), 3, padding="same", activation="relu", name="conv2")(x)
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
        return keras.Model(inputs, outputs, name=name or "tiny_cnn")


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """A class-balanced 400-image subset of the embedded digits (no official test split)."""
    full = load()
    index = np.concatenate([np.flatnonzero(full.train.labels == c)[:40] for c in range(10)])
    return Dataset("digits", full.class_names, full.train.take(np.sort(index)), None, "digits", {})
