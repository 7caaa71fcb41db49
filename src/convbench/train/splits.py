"""The three splits a training run uses: train, validation (held apart from test) and test.

Test is the dataset's official test split; a dataset without one (the embedded digits) gives up a
stratified, seeded ``TEST_FRACTION`` of its images first, so the test set does not depend on the
validation fraction. Validation then comes out of what is left, stratified and seeded too (never
keras' ``validation_split``, which takes the unshuffled tail: one class only on class-ordered data).

``val_split="groups"`` holds out whole groups of images instead of single images (the groups the loader
gives, e.g. Fruits-360's frame sequences): when the training pool holds near-copies of each image (the
neighbouring frames of a video), a random validation split is made of images training has all but seen,
and saturates at 100 % within a few epochs, so it cannot tell two candidates apart. Groups the model has
not seen make validation a question it can still fail (``benchmarks/validation_split.py`` measures both).

A model card records the settings (:func:`split_settings`), and every later step that needs the
model's own splits (export, evaluation, the study) draws them again with :func:`model_splits`.
"""

from __future__ import annotations

from convbench.artifacts import ModelCard, SplitSettings
from convbench.data import Dataset, Split, split
from convbench.errors import ConfigError
from convbench.vocabulary import VAL_SPLITS

TEST_FRACTION = 0.2  # held out for testing when the dataset has no official test split
SPLITS = ("train", "val", "test")


def training_splits(dataset: Dataset, *, val_fraction: float, seed: int, val_split: str = "random",
                    val_seed: int | None = None) -> dict[str, Split]:
    """``{"train", "val", "test"}`` splits of ``dataset``: disjoint, stratified by class, fixed by ``seed``.

    Args:
        val_split: ``random`` (images) or ``groups`` (whole groups of ``dataset``'s images, stratified by
            class where the groups allow it; ``val_fraction`` then counts groups).
        val_seed: seed of the validation draw alone (None: ``seed``); the test split is ``seed``'s whatever it is,
            so validation splits drawn with other ``val_seed`` never hold a test image.

    Raises:
        ConfigError: ``val_fraction`` outside (0, 1), an unknown ``val_split``, or ``groups`` on data without
            groups (or with too few of them).
    """
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must be between 0 and 1 (exclusive), got val_fraction={val_fraction!r}")
    check_val_split(val_split)
    if val_split == "groups" and dataset.train.groups is None:
        raise ConfigError(f"val_split='groups' needs images in groups (e.g. fruits360's frame sequences), but "
                          f"{dataset.source or dataset.name} gives none; use val_split='random'")
    pool, test = (dataset.train, dataset.test) if dataset.test is not None else \
        split(dataset.train, fractions=(1 - TEST_FRACTION, TEST_FRACTION), seed=seed)
    train, val = split(pool, fractions=(1 - val_fraction, val_fraction), seed=seed if val_seed is None else val_seed,
                       by_groups=val_split == "groups")
    return {"train": train, "val": val, "test": test}


def check_val_split(val_split: str) -> None:
    """Raise :class:`ConfigError` unless ``val_split`` is one of ``VAL_SPLITS`` (checkable before loading data)."""
    if val_split not in VAL_SPLITS:
        raise ConfigError(f"val_split must be one of {', '.join(VAL_SPLITS)}, got val_split={val_split!r}")


def split_settings(dataset: Dataset, *, val_fraction: float, seed: int, val_split: str = "random",
                   val_seed: int | None = None) -> SplitSettings:
    """What a card records about ``training_splits(dataset, val_fraction=…, seed=…, val_split=…, val_seed=…)``."""
    test = "official" if dataset.test is not None else f"held out ({TEST_FRACTION:.0%} of train)"
    grouping = (dataset.grouping or "group") if val_split == "groups" else None
    return SplitSettings(seed=seed, val_fraction=val_fraction, test=test, val_split=val_split, grouping=grouping,
                         val_seed=val_seed)


def model_splits(card: ModelCard, dataset: Dataset) -> dict[str, Split]:
    """The splits of ``dataset`` drawn as ``card``'s model's were (``card.split``; unrecorded: the defaults).

    On the data the model was trained on, ``"test"`` holds none of its training or validation images.
    """
    settings = card.split or SplitSettings()
    return training_splits(dataset, val_fraction=settings.val_fraction, seed=settings.seed,
                           val_split=settings.val_split, val_seed=settings.val_seed)
