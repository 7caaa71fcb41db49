"""The three splits a training run uses: train, validation (held apart from test) and test.

Test is the dataset's official test split; a dataset without one (the embedded digits) gives up a
stratified, seeded ``TEST_FRACTION`` of its images first, so the test set does not depend on the
validation fraction. Validation then comes out of what is left, stratified and seeded too (never
keras' ``validation_split``, which takes the unshuffled tail: one class only on class-ordered data).
"""

from __future__ import annotations

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
