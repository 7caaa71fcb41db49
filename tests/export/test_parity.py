"""The parity record and its one measurement, with a stand-in runner (no model, no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.data import Preprocessing, Split
from convbench.errors import DataError, ModelError
from convbench.export import Images, Parity, measure_parity

PREPROCESSING = Preprocessing((2, 2), 1)


class Identity:
    """Reads each image's first two pixels as its two class probabilities, and counts the batches it got."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.batches.append(len(x))
        return x.reshape(len(x), -1)[:, :2]


def images(count: int) -> Images:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (count, 2, 2, 1), dtype=np.uint8)
    return Images(Split(pixels, rng.integers(0, 2, count)), PREPROCESSING, "made up (test split)")


def test_figures_and_chunks():
    checked = images(20)
    expected = checked.x[:, :, :, 0].reshape(20, -1)[:, :2]
    reference = expected.copy()
    reference[:5] = reference[:5, ::-1]  # Keras disagrees on 5 images (where the two pixels differ)
    runner = Identity()
    parity = measure_parity(runner, reference, checked, chunk=8)
    assert runner.batches == [8, 8, 4]
    assert parity.max_abs_diff == pytest.approx(np.max(np.abs(expected - reference)))
    assert parity.top1_agreement == pytest.approx(np.mean(expected.argmax(1) == reference.argmax(1)))
    assert parity.accuracy == pytest.approx(np.mean(expected.argmax(1) == checked.labels))
    assert parity.keras_accuracy == pytest.approx(np.mean(reference.argmax(1) == checked.labels))
    assert (parity.images, parity.data) == (20, "made up (test split)")
    assert measure_parity(Identity(), reference, checked) == parity  # chunking never changes a figure


def test_card_metrics_round_trip_under_the_names_cards_use():
    parity = Parity(max_abs_diff=1e-6, top1_agreement=1.0, accuracy=0.9, keras_accuracy=0.9, images=300,
                    data="digits (test split)")
    metrics = parity.to_metrics()
    assert list(metrics) == ["parity_max_abs_diff", "parity_top1_agreement", "accuracy", "keras_accuracy",
                             "parity_images", "parity_data"]
    assert Parity.from_metrics({**metrics, "test_accuracy": 0.5}) == parity
    with pytest.raises(KeyError):
        Parity.from_metrics({"test_accuracy": 0.5})  # a file exported without the check


def test_images_chunks_are_the_whole_preprocessing():
    checked = images(11)
    np.testing.assert_array_equal(np.concatenate(list(checked.chunks(4))), checked.x)
    assert len(checked) == 11 and checked.x.dtype == np.float32


def test_mismatched_reference_and_no_images():
    with pytest.raises(ModelError, match=r"reference probabilities for 3 images, but 20 images"):
        measure_parity(Identity(), np.zeros((3, 2), np.float32), images(20))
    with pytest.raises(DataError, match="no images to check parity on"):
        measure_parity(Identity(), np.zeros((0, 2), np.float32), images(0))
