"""Real images for parity and calibration: the model's own splits, given data, and mismatches."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from convbench.artifacts import ModelCard, SplitSettings
from convbench.data import Dataset, Preprocessing, load
from convbench.errors import ConfigError, DataError
from convbench.export import calibration_images, parity_images

CARD = ModelCard("m", 1.0, (16, 16, 1), tuple("0123456789"), Preprocessing((16, 16), 1),
                 data="digits", split=SplitSettings(seed=0, val_fraction=0.1))


def test_parity_uses_preprocessed_test_images_and_calibration_training_images():
    test, train = parity_images(CARD, limit=50), calibration_images(CARD, limit=40)
    assert test.x.shape == (50, 16, 16, 1) and test.x.dtype == np.float32 and 0 <= test.x.min() <= test.x.max() <= 1
    assert test.source == "digits (test split)" and train.source == "digits (train split)"
    assert train.x.shape == (40, 16, 16, 1)
    assert not {x.tobytes() for x in test.x} & {x.tobytes() for x in train.x}  # never the same image
    np.testing.assert_array_equal(parity_images(CARD, limit=50).labels, test.labels)  # seeded


def test_given_split_is_used_as_is():
    split = load().train.take(np.arange(7))
    images = parity_images(CARD, split)
    assert images.source == "given split" and len(images.labels) == 7


def test_other_classes_are_refused():
    digits = load()
    letters = Dataset("letters", tuple("abcdefghij"), digits.train, None, "letters")
    with pytest.raises(DataError, match=r"letters: classes \['a'"):
        parity_images(CARD, letters)
    assert len(calibration_images(CARD, letters, limit=5).labels) == 5  # calibration needs pixels, not labels


def test_no_recorded_data():
    card = replace(CARD, data=None, split=None)
    with pytest.raises(ConfigError, match=r"parity check.*--data"):
        parity_images(card)
    with pytest.raises(ConfigError, match=r"int8 calibration.*--calibration"):
        calibration_images(card)


def test_the_cards_split_settings_apply_to_its_own_data_only():
    reseeded = replace(CARD, split=SplitSettings(seed=5, val_fraction=0.1))
    own, default = parity_images(reseeded, limit=None), parity_images(CARD, limit=None)
    # seed 5 holds out other test images of the same size
    assert len(own.labels) == len(default.labels) and not np.array_equal(own.x, default.x)
    given = parity_images(reseeded, "digits", limit=None)  # given data: split with the defaults
    np.testing.assert_array_equal(given.x, default.x)
