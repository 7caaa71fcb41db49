"""Integration: train a tiny model on the real Fruits-360 apples-and-pears zip (skipped without ../shared/data)."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.data import Dataset, list_datasets, load
from convbench.train import evaluate, train


@pytest.mark.shared_data
@pytest.mark.slow
def test_trains_on_real_fruits(shared_data, tmp_path):
    if "fruits360" not in {info.name for info in list_datasets()}:
        pytest.skip("the fruits360 loader is not registered")
    full = load(f"fruits360:{shared_data / 'fruits-360-apples-pears.zip'}")
    assert full.class_names == ("apple", "pear") and full.test is not None
    rng = np.random.default_rng(0)  # 800 training and 400 test images keep it to seconds
    subset = Dataset(full.name, full.class_names, full.train.take(rng.choice(len(full.train), 800, replace=False)),
                     full.test.take(rng.choice(len(full.test), 400, replace=False)), full.source, full.meta)

    result = train("tiny_cnn", subset, out=tmp_path, input_size=16, epochs=5, learning_rate=0.01, progress=False)
    assert result.card.class_names == ("apple", "pear") and result.card.input_shape == (16, 16, 3)
    assert result.card.split is not None and result.card.split.test == "official"
    assert result.test_accuracy > 0.85  # 71 % of the test images are apples: the model learned something
    assert evaluate(result.model_path, subset)["accuracy"] == pytest.approx(result.test_accuracy)
