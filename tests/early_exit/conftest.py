"""Fixtures for the early-exit tests: real digits split into main (0-6) and redundant (7-9) sets, registered
as datasets so the CLI can name them, and one tiny early-exit run trained through the CLI.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from convbench.cli import main
from convbench.data import Dataset, MixSettings, Split, build_mix, list_datasets, load, load_pools, register_dataset
from convbench.models import ExitPoint, ModelDefaults, list_models, register_model

MAIN_DIGITS, REDUNDANT_DIGITS = tuple(range(7)), (7, 8, 9)
TINY_BACKBONE = "ee_tiny_vgg"
# register_model reads the registering module's DEFAULTS: the tiny backbone's exit points, one per block
DEFAULTS = {TINY_BACKBONE: ModelDefaults(exit_points=(ExitPoint("block1", "block1"), ExitPoint("block2", "block2")))}


def _digits_subset(digits: tuple[int, ...], name: str, class_names: tuple[str, ...]) -> Dataset:
    full = load("digits")
    keep = np.isin(full.train.labels, digits)
    part = full.train.take(keep)
    labels = np.searchsorted(np.array(digits), part.labels).astype(np.int64)
    return Dataset(name, class_names, Split(part.images, labels), None, name, {})


if "ee_main" not in {info.name for info in list_datasets()}:

    @register_dataset("ee_main", layout="test stand-in: embedded digits 0-6", needs_path=False)
    def _ee_main(path: Path | None = None, skip_bad_images: bool = False) -> Dataset:
        return _digits_subset(MAIN_DIGITS, "ee_main", tuple(str(d) for d in MAIN_DIGITS))

    @register_dataset("ee_redundant", layout="test stand-in: embedded digits 7-9 as one redundant set",
                      needs_path=False)
    def _ee_redundant(path: Path | None = None, skip_bad_images: bool = False) -> Dataset:
        return _digits_subset(REDUNDANT_DIGITS, "ee_redundant", ("seven", "eight", "nine"))


@pytest.fixture(scope="session")
def tiny_backbone() -> str:
    """A two-block VGG-like backbone (same layer names as VGG-19), registered while the tests run.

    Registered here rather than at import so that registry-wide tests collected later do not see it;
    it keeps tracing and training of the end-to-end tests to seconds.
    """
    if TINY_BACKBONE not in list_models():

        def ee_tiny_vgg(input_shape, num_classes, width=1.0, *, dropout=0.0, name=None):
            """Two conv blocks and a small VGG-style head."""
            inputs = keras.Input(input_shape, name="input")
            x = inputs
            for b, filters in enumerate((8, 16), start=1):
                x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{b}_conv1")(x)
                x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
            x = layers.Flatten(name="flatten")(x)
            x = layers.Dense(32, activation="relu", name="fc1")(x)
            outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
            return keras.Model(inputs, outputs, name=name or TINY_BACKBONE)

        register_model(ee_tiny_vgg)
    return TINY_BACKBONE


@pytest.fixture(scope="session")
def digit_mix() -> Dataset:
    """Digits 0-6 (main) + 7-9 (redundant, label 7), at the models' 32x32 input."""
    settings = MixSettings("ee_main", "ee_redundant", 0.5, False, (32, 32), 1, None, 0)
    return build_mix(*load_pools(settings), settings)


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory: pytest.TempPathFactory, tiny_backbone: str) -> Path:
    """A tiny early-exit model and its baseline on digits 0-6 + redundant 7-9, trained through the CLI."""
    out = tmp_path_factory.mktemp("early_exit_run")
    rc = main(["early-exit", "train", "--main", "ee_main", "--redundant", "ee_redundant", "--redundancy", "0.5",
               "--backbone", tiny_backbone, "--epochs", "3", "--out", str(out)])
    assert rc == 0
    return out
