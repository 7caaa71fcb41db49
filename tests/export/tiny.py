"""One tiny model trained per test session and exported once per mode, shared by tests/export and tests/runtime.

Conversion costs seconds, so every file is made once (on first use) and cached for the whole session.
Import as ``from export.tiny import artifacts`` (tests/ is on pytest's pythonpath).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

ARCH = "export_test_cnn"
INPUT_SIZE = 16  # the embedded 8x8 digits, resized as a real deployment would
EPOCHS = 8  # an epoch is ~1 s here; training's fixed cost (tracing, evaluation) dominates
LEARNING_RATE = 1e-2  # high: a few epochs must give a model whose top-1 means something


def export_test_cnn(input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0, *,
                    name: str | None = None):
    """Conv, pool, depthwise and pointwise conv, softmax: the op kinds of the zoo, trained in seconds."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = layers.Conv2D(max(1, int(8 * width)), 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(name="pool1")(x)
    # ≥ 1,024 weights in a tensor: TFLite's dynamic-range mode leaves smaller ones in float32
    x = layers.Conv2D(max(1, int(32 * width)), 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw3")(x)
    x = layers.Conv2D(max(1, int(32 * width)), 1, activation="relu", name="pw3")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name or ARCH)


class Artifacts:
    """The trained ``model.keras`` (with the card ``convbench.train`` writes) and its exports, made lazily."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @functools.cached_property
    def model_path(self) -> Path:
        from convbench.models import list_models, register_model
        from convbench.train import train

        if ARCH not in list_models():  # registered at run time, not import time: the zoo tests list the registry
            register_model(export_test_cnn)
        return train(ARCH, None, out=self.root / "tiny", input_size=INPUT_SIZE, channels=1, epochs=EPOCHS,
                     batch_size=32, learning_rate=LEARNING_RATE, progress=False,
                     resume=False).model_path

    @functools.cached_property
    def keras_model(self):
        from convbench.train import load_model

        return load_model(self.model_path)[0]

    @functools.cached_property
    def images(self):
        """100 preprocessed test images with labels (the parity check's source)."""
        from convbench.artifacts import read_card
        from convbench.export import parity_images

        return parity_images(read_card(self.model_path), limit=100)

    def keras_probs(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.keras_model.predict(x, verbose=0), np.float32)

    @functools.cache  # noqa: B019  (one instance per session: the cache is the point)
    def export(self, to: str = "tflite", quantize: str = "none", int8_io: bool = False):
        import warnings

        from convbench.export import ExportNote, export

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExportNote)
            return export(self.model_path, to=to, quantize=quantize, int8_io=int8_io,
                          out=self.root / "exports" / f"tiny.{quantize.lower()}{'.int8io' if int8_io else ''}.{to}")


_ARTIFACTS: list[Artifacts] = []


def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """The session's one :class:`Artifacts` (both test folders' fixtures return this same object)."""
    if not _ARTIFACTS:
        _ARTIFACTS.append(Artifacts(tmp_path_factory.mktemp("tiny_model")))
    return _ARTIFACTS[0]
