"""The tf.data pipeline: same pixels as Preprocessing, seeded order and augmentation, replayable epochs."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.data import Preprocessing, Split
from convbench.errors import ConfigError
from convbench.train import make_dataset
from convbench.train.pipeline import steps_per_epoch


@pytest.fixture(scope="module")
def split() -> Split:
    rng = np.random.default_rng(0)
    return Split(rng.integers(0, 256, (45, 12, 10, 3), dtype=np.uint8), np.arange(45, dtype=np.int64) % 3)


def batches(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def test_normalisation_equals_preprocessing(split):
    preprocessing = Preprocessing((8, 6), channels=1, scale=1 / 127.5, offset=-1.0)
    (x, y), = batches(make_dataset(split, preprocessing, batch_size=len(split), shuffle=False))
    assert x.dtype == np.float32 and x.shape == (45, 8, 6, 1)
    assert np.array_equal(x, preprocessing(split.images))  # bit for bit: resize, grey, x * scale + offset
    assert np.array_equal(y, split.labels)


def test_batches_cover_each_epoch_once(split):
    data = batches(make_dataset(split, Preprocessing((12, 10)), batch_size=16, shuffle=True, seed=1, epochs=2))
    assert steps_per_epoch(split, 16) == 3 and [len(y) for _, y in data] == [16, 16, 13] * 2
    first, second = (np.concatenate([y for _, y in data[i:i + 3]]) for i in (0, 3))
    assert sorted(first) == sorted(second) == sorted(split.labels)
    assert not np.array_equal(first, second)  # reshuffled every epoch


def test_seeded_order_and_epoch_replay(split):
    def run(**kw):
        return batches(make_dataset(split, Preprocessing((12, 10)), batch_size=16, shuffle=True, augment=True, **kw))

    three_epochs = run(seed=3, epochs=3)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
               for a, b in zip(three_epochs, run(seed=3, epochs=3), strict=True))
    # The third epoch alone is the third epoch of the longer run: what resuming relies on.
    replay = run(seed=3, epochs=1, first_epoch=2)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(three_epochs[6:], replay, strict=True))
    assert not np.array_equal(three_epochs[0][1], run(seed=4, epochs=1)[0][1])


def test_augmentation_flips_and_shifts_within_bounds():
    # Every row of the image is 0, 10, …, 190: a flip reverses it, a column shift dx moves it (edges repeated).
    image = np.broadcast_to(np.arange(0, 200, 10, dtype=np.uint8)[None, :, None], (20, 20, 3))
    split = Split(np.repeat(image[None], 64, axis=0), np.zeros(64, np.int64))
    preprocessing = Preprocessing((20, 20), scale=1.0)
    (moved, _), = batches(make_dataset(split, preprocessing, batch_size=64, shuffle=False, augment=True, seed=0))
    assert moved.shape == (64, 20, 20, 3) and set(np.unique(moved)) <= set(range(0, 200, 10))
    flipped = moved[:, 5, 0, 0] > moved[:, 5, -1, 0]
    centre = moved[:, 5, 10, 0] / 10
    shift = np.where(flipped, 9 - centre, centre - 10)
    assert flipped.any() and not flipped.all()
    assert (shift != 0).any() and np.abs(shift).max() <= 2  # at most 10 % of the 20-pixel side


@pytest.mark.parametrize(("option", "value"), [("batch_size", 0), ("epochs", 0), ("first_epoch", -1)])
def test_bad_options(split, option, value):
    kwargs = {"batch_size": 8, "shuffle": True, option: value}
    with pytest.raises(ConfigError, match=option):
        make_dataset(split, Preprocessing((12, 10)), **kwargs)
