"""GTSRB: ppm images with ';'-separated csv files, from the three official zips or their folders."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from convbench.data import load
from convbench.errors import DataError


def test_gtsrb_from_the_three_zips(tmp_path, fmt):
    ds = load(f"gtsrb:{fmt.write_gtsrb(tmp_path / 'gtsrb')}")
    assert ds.class_names == ("00000", "00001", "00002")  # folder names: never clash with digit classes
    assert ds.train.images.shape == (9, 10, 10, 3)  # the one 12x14 image resized to the most common size
    assert ds.test.images.shape == (3, 10, 10, 3) and ds.test.labels.tolist() == [0, 1, 2]
    assert ds.train.images[ds.train.labels == 2, 5, 5, 0].tolist() == [fmt.pixel(2)] * 3


def test_gtsrb_roi_crop_and_size(tmp_path, fmt):
    path = fmt.write_gtsrb(tmp_path / "gtsrb")
    cropped = load(f"gtsrb:{path}?crop=roi")
    assert cropped.image_shape == (8, 8, 3)  # ROI 1..8 inclusive of a 10x10 image
    assert load(f"gtsrb:{path}?size=16").image_shape == (16, 16, 3)


def test_gtsrb_extracted_training_folder_only(tmp_path, fmt):
    files = fmt.gtsrb_files(classes=(3, 7))["GTSRB_Final_Training_Images.zip"]
    ds = load(f"gtsrb:{fmt.write_tree(tmp_path, files) / 'GTSRB'}")
    assert ds.class_names == ("00003", "00007") and ds.test is None and np.bincount(ds.train.labels).tolist() == [3, 3]


def test_gtsrb_test_images_without_labels_warn(tmp_path, fmt):
    path = fmt.write_gtsrb(tmp_path / "gtsrb")
    (path / "GTSRB_Final_Test_GT.zip").unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load(f"gtsrb:{path}")
    assert ds.test is None and "GT-final_test.csv" in str(caught[0].message)


def test_gtsrb_csv_naming_a_missing_file(tmp_path, fmt):
    zips = fmt.gtsrb_files()
    del zips["GTSRB_Final_Training_Images.zip"]["GTSRB/Final_Training/Images/00001/00000_00002.ppm"]
    for name, files in zips.items():
        fmt.write_zip(tmp_path / name, files)
    with pytest.raises(DataError, match=r"GT-00001\.csv \(in .*\) line 4 names 00000_00002\.ppm, which is not in"):
        load(f"gtsrb:{tmp_path}")


def test_gtsrb_bad_csv_and_wrong_dataset(tmp_path, fmt):
    zips = fmt.gtsrb_files()
    zips["GTSRB_Final_Training_Images.zip"]["GTSRB/Final_Training/Images/00000/GT-00000.csv"] = b"a,b,c\n1,2,3\n"
    fmt.write_zip(tmp_path / "train.zip", zips["GTSRB_Final_Training_Images.zip"])
    with pytest.raises(DataError, match=r"GT-00000\.csv .*has no Filename, ClassId column"):
        load(f"gtsrb:{tmp_path / 'train.zip'}")
    with pytest.raises(DataError, match=r"no Final_Training/Images/000NN/GT-000NN\.csv in .*expected GTSRB"):
        load(f"gtsrb:{fmt.write_zip(tmp_path / 'fruits.zip', fmt.fruits_files())}")
