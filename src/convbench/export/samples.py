"""Real images for an export: labelled test images for the parity check, training images for int8 calibration.

Both come from the data the model was trained on (its card's ``data`` and ``split`` settings) unless
given: the same stratified, seeded splits training used, so parity never scores on training images and
calibration never sees test images. A few hundred of each are plenty and keep an export quick.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from convbench.artifacts import ModelCard
from convbench.data import Dataset, Preprocessing, Split, load
from convbench.errors import ConfigError, DataError
from convbench.train.splits import model_splits

PARITY_IMAGES = 300  # labelled test images the exported file is checked on
CALIBRATION_IMAGES = 200  # training images int8 calibration sees (TF suggests ~100-500)
SAMPLE_SEED = 0

DataSource = str | Dataset | Split | None  # a data spec, a loaded dataset, or a split of one


@dataclass(frozen=True)
class Images:
    """Labelled images as a model sees them: the raw ``split`` through ``preprocessing``, and where it came from.

    Preprocessing happens on use, all at once (:attr:`x`, for the few hundred images an export samples)
    or a chunk at a time (:meth:`chunks`, which bounds memory on a whole test split at a large input size).
    """

    split: Split
    preprocessing: Preprocessing
    source: str

    def __len__(self) -> int:
        return len(self.split)

    @property
    def labels(self) -> np.ndarray:
        return self.split.labels

    @functools.cached_property
    def x(self) -> np.ndarray:
        """All the images as float32 model input ``(N, H, W, C)``."""
        return self.preprocessing(self.split.images)

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        """The images as float32 model input, ``size`` at a time, in order."""
        for start in range(0, len(self), size):
            yield self.preprocessing(self.split.images[start:start + size])


def parity_images(card: ModelCard, data: DataSource = None, limit: int | None = PARITY_IMAGES) -> Images:
    """Up to ``limit`` (None: all) test images of ``data`` (None: the model's training data), as the card preprocesses.

    Raises:
        ConfigError: no data given and none recorded in the card.
        DataError: the data cannot be loaded, or its classes differ from the model's.
    """
    split, source = _split(card, data, "test", purpose="the parity check (pass data=SPEC / --data, or check=False)")
    return _sample(split, card, limit, source)


def calibration_images(card: ModelCard, calibration: DataSource = None, limit: int = CALIBRATION_IMAGES) -> Images:
    """Up to ``limit`` training images for int8 calibration (None: the model's own training split).

    Raises:
        ConfigError: no calibration data given and none recorded in the card.
        DataError: the data cannot be loaded.
    """
    split, source = _split(card, calibration, "train", purpose="int8 calibration (pass calibration=SPEC / "
                                                                "--calibration)", check_classes=False)
    return _sample(split, card, limit, source)


def _split(card: ModelCard, data: DataSource, which: str, *, purpose: str,
           check_classes: bool = True) -> tuple[Split, str]:
    if isinstance(data, Split):
        return data, "given split"
    if data is None and not card.data:
        raise ConfigError(f"{purpose}: the model card records no training data, so real images must be given")
    dataset = data if isinstance(data, Dataset) else load(data if data is not None else card.data)
    source = dataset.source or dataset.name
    if check_classes and tuple(dataset.class_names) != tuple(card.class_names):
        raise DataError(f"{source}: classes {list(dataset.class_names)} do not match the model's "
                        f"{list(card.class_names)}")
    # The card's split settings describe only the data it was trained on; other data is split with the defaults.
    splits = model_splits(card if data is None else replace(card, split=None), dataset)
    return splits[which], f"{source} ({which} split)"


def _sample(split: Split, card: ModelCard, limit: int | None, source: str) -> Images:
    if len(split) == 0:
        raise DataError(f"{source}: no images")
    index = np.arange(len(split))
    if limit is not None and len(split) > limit:
        index = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(split), limit, replace=False))
    return Images(split.take(index), card.preprocessing, source)
