"""Reading trained models back: the Keras model with its card, its probabilities and accuracy on a dataset split."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import keras
import numpy as np

from convbench.artifacts import ModelCard, read_card
from convbench.data import Dataset, Preprocessing, Split, load
from convbench.errors import DataError, ModelError
from convbench.models import early_exit  # noqa: F401  (registers EarlyExitModel with Keras: load_model reads it)
from convbench.train.pipeline import make_dataset
from convbench.train.splits import SPLITS, model_splits

EVAL_BATCH_SIZE = 256


def load_model(path: str | os.PathLike[str]) -> tuple[keras.Model, ModelCard]:
    """A trained ``.keras`` model and its card.

    Raises:
        ModelError: the file is missing, is not a Keras model, or has no card beside it.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    card = read_card(path)
    try:
        model = keras.models.load_model(path)
    except (ValueError, OSError, zipfile.BadZipFile, KeyError, TypeError) as e:
        # Keras's messages can carry the whole model config (tens of kB): one short line is what a user can read
        reason = " ".join(str(e).split())
        reason = reason if len(reason) <= 300 else reason[:300] + " …"
        raise ModelError(f"{path}: not a loadable Keras model file ({type(e).__name__}: {reason})") from None
    return model, card


def keras_probabilities(model: keras.Model, images: Split | np.ndarray, preprocessing: Preprocessing | None = None,
                        *, batch_size: int = EVAL_BATCH_SIZE) -> np.ndarray:
    """Keras's float32 class probabilities ``(N, classes)``, ``batch_size`` images at a time.

    The one way convbench asks a Keras model for probabilities: training's recorded accuracies, the
    exporter's parity reference and the study's saved reference all come from here, so they agree to the
    bit on the same images. It is ``model.predict``: one compiled function per model (traced once,
    then fast on a whole split), and what training's accuracies have always been computed with.

    Args:
        model: a Keras model with softmax output.
        images: a raw :class:`Split` (preprocessed by ``preprocessing`` in the training pipeline, no
            augmentation), or float32 ``(N, H, W, C)`` model input, already preprocessed.
        preprocessing: how to turn a Split's pixels into model input; only with a Split.
        batch_size: images per model call.
    """
    if isinstance(images, Split):
        if preprocessing is None:
            raise ValueError("keras_probabilities of a Split needs its preprocessing, got preprocessing=None")
        batches = make_dataset(images, preprocessing, batch_size=batch_size, shuffle=False).map(lambda x, _: x)
        return np.asarray(model.predict(batches, verbose=0), np.float32)
    if preprocessing is not None:
        raise ValueError(f"images given as an array are model input already; got preprocessing={preprocessing!r}")
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0), np.float32)


def accuracy(model: keras.Model, split: Split, preprocessing: Preprocessing) -> float:
    """Top-1 accuracy of ``model`` on ``split`` (the images go through ``preprocessing``, no augmentation)."""
    return float(np.mean(np.argmax(keras_probabilities(model, split, preprocessing), axis=1) == split.labels))


def evaluate(model_path: str | os.PathLike[str], data: str | Dataset | None = None, split: str = "test",
             **data_options: Any) -> dict[str, Any]:
    """Accuracy of a trained model on one split of a dataset, preprocessed as its card says.

    The splits are the ones training used (see :func:`convbench.train.splits.model_splits`), rebuilt
    from the seed and fractions in the card, so ``split="test"`` never touches training images.

    Args:
        model_path: a ``.keras`` file written by :func:`convbench.train.train`.
        data: data spec or :class:`Dataset` (``None`` → the data the model was trained on, from its card).
        split: ``"train"``, ``"val"`` or ``"test"``.
        **data_options: loader options (e.g. ``skip_bad_images=True``).

    Returns:
        ``{"accuracy", "count", "split", "data", "model"}``.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    model, card = load_model(model_path)
    data = card.data if data is None else data
    dataset = data if isinstance(data, Dataset) else load(data, **data_options)
    if tuple(dataset.class_names) != tuple(card.class_names):
        raise DataError(f"{dataset.source or dataset.name}: classes {list(dataset.class_names)} do not match the "
                        f"model's {list(card.class_names)} ({model_path})")
    chosen = model_splits(card, dataset)[split]
    return {"accuracy": accuracy(model, chosen, card.preprocessing), "count": len(chosen), "split": split,
            "data": dataset.source or dataset.name, "model": str(model_path)}
