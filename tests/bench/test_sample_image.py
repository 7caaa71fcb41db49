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


def test_unloadable_card_data_falls_back_with_a_note_and_no_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a raw Python warning is not how a user should learn of the fallback
        image = sample_image(replace(CARD, data="mnist:/nonexistent"), tmp_path)
    assert image.source.startswith("embedded digits") and image.path.is_file()
    assert "the model card's data cannot be loaded" in image.note and "/nonexistent" in image.note
    assert image.to_dict()["note"] == image.note  # kept in the bench result
    assert "note" not in sample_image(CARD, tmp_path).to_dict()
