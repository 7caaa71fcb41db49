"""Omniglot: the background/evaluation zips (or folders), one class by default, alphabets as groups."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.data import load, split
from convbench.errors import DataError


@pytest.fixture
def omniglot_dir(tmp_path, fmt):
    """Both official zips side by side, as downloaded."""
    background = fmt.omniglot_files("images_background", ("Latin", "Greek", "Futurama"))
    fmt.write_zip(tmp_path / "images_background.zip", background)
    fmt.write_zip(tmp_path / "images_evaluation.zip", fmt.omniglot_files("images_evaluation", ("Atlantean", "Kannada")))
    return tmp_path


def test_background_is_train_evaluation_is_test_one_class(omniglot_dir):
    ds = load(f"omniglot:{omniglot_dir}")
    assert ds.class_names == ("omniglot",)
    assert ds.train.images.shape == (12, 12, 12, 1) and ds.test.images.shape == (8, 12, 12, 1)
    assert set(np.unique(ds.train.images)) == {0, 255}  # 1-bit → black 0 / white 255
    assert (ds.train.labels == 0).all()
    alphabets = ds.meta["alphabets"]
    assert alphabets == ["Atlantean", "Futurama", "Greek", "Kannada", "Latin"]
    assert {alphabets[g] for g in ds.train.groups} == {"Latin", "Greek", "Futurama"}
    assert {alphabets[g] for g in ds.test.groups} == {"Atlantean", "Kannada"}
    assert ds.meta["sets"] == {"train": ["images_background"], "test": ["images_evaluation"]}


def test_alphabet_and_character_labels(omniglot_dir):
    ds = load(f"omniglot:{omniglot_dir}?labels=alphabet")
    assert ds.num_classes == 5 and [ds.class_names[label] for label in ds.train.labels[:4]] == ["Futurama"] * 4
    chars = load(f"omniglot:{omniglot_dir / 'images_background.zip'}?labels=character")
    assert chars.num_classes == 6 and chars.class_names[0] == "Futurama/character01" and chars.test is None


def test_group_split_keeps_alphabets_unseen(omniglot_dir):
    train = load(f"omniglot:{omniglot_dir / 'images_background.zip'}").train
    fit, held = split(train, (0.6, 0.4), seed=1, by_groups=True)
    assert not set(fit.groups) & set(held.groups) and len(fit) + len(held) == len(train)


def test_extracted_folder_and_evaluation_alone(tmp_path, fmt):
    fmt.write_tree(tmp_path, fmt.omniglot_files("images_evaluation", ("Atlantean",)))
    ds = load(f"omniglot:{tmp_path / 'images_evaluation'}")  # no set folder in the paths: named by the folder
    assert len(ds.train) == 4 and ds.test is None and ds.meta["sets"] == {"train": ["images_evaluation"]}


def test_omniglot_refuses_another_dataset(tmp_path, fmt):
    with pytest.raises(DataError, match=r"no <Alphabet>/<character>/\*\.png files in .*expected Omniglot"):
        load(f"omniglot:{fmt.write_zip(tmp_path / 'fruits.zip', fmt.fruits_files())}")
