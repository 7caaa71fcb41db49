"""The image file preprocessing is timed on: the card's recorded training data, else the embedded digits."""

from __future__ import annotations

import warnings
from dataclasses import replace

from convbench.artifacts import ModelCard
from convbench.bench.sample_image import sample_image
from convbench.data import Preprocessing

CARD = ModelCard("m", 1.0, (8, 8, 1), tuple("0123456789"), Preprocessing((8, 8), 1), data="digits")


def test_the_cards_data_then_the_last_resort(tmp_path):
    assert sample_image(CARD, tmp_path).source == "model card data digits, first training image"
    assert sample_image(replace(CARD, data=None), tmp_path).source.startswith("embedded digits (last resort)")


def test_unloadable_card_data_warns_and_falls_back(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = sample_image(replace(CARD, data="mnist:/nonexistent"), tmp_path)
    assert image.source.startswith("embedded digits") and image.path.is_file()
    assert any("cannot load the model card's data" in str(w.message) for w in caught)
