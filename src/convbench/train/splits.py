"""The three splits a training run uses: train, validation (held apart from test) and test.

Test is the dataset's official test split; a dataset without one (the embedded digits) gives up a
stratified, seeded ``TEST_FRACTION`` of its images first, so the test set does not depend on the
validation fraction. Validation then comes out of what is left, stratified and seeded too (never
keras' ``validation_split``, which takes the unshuffled tail: one class only on class-ordered data).

A model card records the settings (:func:`split_settings`), and every later step that needs the
model's own splits (export, evaluation, the study) draws them again with :func:`model_splits`.
"""

from __future__ import annotations

from convbench.artifacts import ModelCard, SplitSettings
from convbench.data import Dataset, Split, split
from convbench.errors import ConfigError

TEST_FRACTION = 0.2  # held out for testing when the dataset has no official test split
SPLITS = ("train", "val", "test")


def training_splits(dataset: Dataset, *, val_fraction: float, seed: int) -> dict[str, Split]:
    """``{"train", "val", "test"}`` splits of ``dataset``: disjoint, stratified by class, fixed by ``seed``."""
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must be between 0 and 1 (exclusive), got val_fraction={val_fraction!r}")
    pool, test = (dataset.train, dataset.test) if dataset.test is not None else \
        split(dataset.train, fractions=(1 - TEST_FRACTION, TEST_FRACTION), seed=seed)
    train, val = split(pool, fractions=(1 - val_fraction, val_fraction), seed=seed)
    return {"train": train, "val": val, "test": test}


def split_settings(dataset: Dataset, *, val_fraction: float, seed: int) -> SplitSettings:
    """What a card records about ``training_splits(dataset, val_fraction=…, seed=…)``."""
    test = "official" if dataset.test is not None else f"held out ({TEST_FRACTION:.0%} of train)"
    return SplitSettings(seed=seed, val_fraction=val_fraction, test=test)


def model_splits(card: ModelCard, dataset: Dataset) -> dict[str, Split]:
    """The splits of ``dataset`` drawn as ``card``'s model's were (``card.split``; unrecorded: the defaults).

    On the data the model was trained on, ``"test"`` holds none of its training or validation images.
    """
    settings = card.split or SplitSettings()
    return training_splits(dataset, val_fraction=settings.val_fraction, seed=settings.seed)
