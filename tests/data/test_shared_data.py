"""Every loader on the real files in ../shared/data (skipped when absent).

MNIST, Fruits-360 and GTSRB load in full; for the big PNG/JPEG sets the layout is checked on the full
archive and decoding on a part of it copied byte for byte into a smaller zip of the same layout.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np
import pytest

from convbench.data import load, mix, split
from convbench.data.archive import Source
from convbench.data.folder import find_class_folders

pytestmark = pytest.mark.shared_data


def subset_zip(src: Path, dst: Path, keep: Callable[[str], bool]) -> Path:
    """A copy of zip ``src`` holding only the members ``keep`` accepts (same names, same bytes)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if keep(info.filename):
                zout.writestr(info, zin.read(info))
    return dst


def test_mnist_in_full(shared_data):
    ds = load(f"mnist:{shared_data / 'mnist'}")
    assert ds.train.images.shape == (60_000, 28, 28, 1) and ds.test.images.shape == (10_000, 28, 28, 1)
    assert np.bincount(ds.train.labels).tolist()[:2] == [5923, 6742]  # the official class counts
    assert np.bincount(ds.test.labels).tolist()[:2] == [980, 1135]
    assert ds.train.images.max() == 255 and ds.train.images[:, 0, 0].max() == 0  # white digits on black


def test_fruits360_in_full(shared_data):
    ds = load(f"fruits360:{shared_data / 'fruits-360-apples-pears.zip'}")
    assert ds.class_names == ("apple", "pear") and ds.image_shape == (100, 100, 3)
    assert len(ds.train) == 6806 and len(ds.test) == 2281
    assert len(ds.meta["varieties"]) == 14 and sum(v == "pear" for v in ds.meta["label_mapping"].values()) == 4
    assert ds.meta["skipped_images"] == 0


def test_gtsrb_in_full(shared_data):
    ds = load(f"gtsrb:{shared_data / 'gtsrb'}")
    assert ds.num_classes == 43 and ds.image_shape == (32, 32, 3)
    assert len(ds.train) == 13_070 and len(ds.test) == 6315
    assert set(np.unique(ds.test.labels)) <= set(np.unique(ds.train.labels))


def test_omniglot_small_set_in_full_and_background_alphabets(shared_data, tmp_path):
    small = load(f"omniglot:{shared_data / 'omniglot' / 'images_background_small1.zip'}")
    assert small.train.images.shape == (2720, 105, 105, 1) and small.class_names == ("omniglot",)
    assert set(np.unique(small.train.images)) == {0, 255} and small.train.images.mean() > 200  # white page
    part = subset_zip(shared_data / "omniglot" / "images_background.zip", tmp_path / "images_background.zip",
                      lambda n: PurePosixPath(n).parent.name in ("character01", "character02"))
    background = load(f"omniglot:{part}")
    assert len(background.train) == 30 * 2 * 20 and len(background.meta["alphabets"]) == 30
    fit, held = split(background.train, (0.8, 0.2), by_groups=True)
    assert len(set(held.groups)) == 6 and not set(fit.groups) & set(held.groups)


def test_cifar10_image_copy(shared_data, tmp_path):
    with Source(shared_data / "cifar10-jpeg.zip") as source:
        folders = find_class_folders(source)
    assert sum(map(len, folders.files["train"].values())) == 25_000
    assert sum(map(len, folders.files["test"].values())) == 10_000
    part = subset_zip(shared_data / "cifar10-jpeg.zip", tmp_path / "cifar10-jpeg.zip",
                      lambda n: int(PurePosixPath(n).stem) < 20)
    ds = load(f"cifar10:{part}")
    assert ds.class_names[:2] == ("airplane", "automobile") and ds.image_shape == (32, 32, 3)
    assert len(ds.train) == len(ds.test) == 200


def test_reference_mix_mnist_with_omniglot(shared_data, tmp_path):
    """MNIST + Omniglot at one shape: the early-exit recipe, at an exact redundancy."""
    from convbench.data import Preprocessing, harmonize

    main = load(f"mnist:{shared_data / 'mnist'}")
    red = harmonize(load(f"omniglot:{shared_data / 'omniglot' / 'images_background_small1.zip'}"),
                    Preprocessing((28, 28), channels=1, invert=True))  # white strokes on black, as MNIST
    mixed = mix(main, red, 0.04, seed=0)
    assert mixed.class_names[-1] == "redundant" and mixed.image_shape == (28, 28, 1)
    assert abs((mixed.train.labels == 10).mean() - 0.04) < 1 / len(mixed.train)
