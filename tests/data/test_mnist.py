"""MNIST's IDX files: gzipped or raw, in a folder or an archive; bad magic numbers, sizes and counts."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from convbench.data import load
from convbench.errors import DataError


@pytest.mark.parametrize(("gz", "form"), [(True, "dir"), (False, "dir"), (True, "zip"), (False, "tar.gz")])
def test_mnist_reads_idx_files(tmp_path, fmt, gz, form):
    files = fmt.mnist_files(gz=gz)
    path = {"dir": lambda: fmt.write_tree(tmp_path / "mnist", files),
            "zip": lambda: fmt.write_zip(tmp_path / "mnist.zip", {f"mnist/{k}": v for k, v in files.items()}),
            "tar.gz": lambda: fmt.write_tar_gz(tmp_path / "mnist.tar.gz", files)}[form]()
    ds = load(f"mnist:{path}")
    assert ds.class_names == tuple("0123456789")
    assert ds.train.images.shape == (12, 28, 28, 1) and ds.test.images.shape == (6, 28, 28, 1)
    assert ds.train.labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert (ds.train.images[:, 0, 0, 0] == [fmt.pixel(label) for label in ds.train.labels]).all()
    assert ds.train.images.flags.writeable


def _corrupt(tmp_path, fmt, name, data):
    files = fmt.mnist_files(gz=False)
    files[name] = data
    return fmt.write_tree(tmp_path / "mnist", files)


@pytest.mark.parametrize(("name", "make", "message"), [
    ("train-images-idx3-ubyte", lambda b: b"\x00\x00\x08\x01" + b[4:], r"train-images-idx3-ubyte has magic number "
                                                                       r"00000801: expected 00000803"),
    ("train-labels-idx1-ubyte", lambda b: b[:-3], r"train-labels-idx1-ubyte has 17 bytes: expected 20 .*truncated"),
    ("t10k-images-idx3-ubyte", lambda b: b + b"\0", "trailing bytes"),
    ("t10k-labels-idx1-ubyte", lambda b: b[:6], "t10k-labels-idx1-ubyte is truncated"),
    ("train-images-idx3-ubyte", lambda b: b"", "magic number none"),
])
def test_bad_idx_files_name_the_file(tmp_path, fmt, name, make, message):
    good = fmt.mnist_files(gz=False)[name]
    with pytest.raises(DataError, match=message):
        load(f"mnist:{_corrupt(tmp_path, fmt, name, make(good))}")


def test_counts_and_labels_must_agree(tmp_path, fmt):
    path = _corrupt(tmp_path, fmt, "t10k-labels-idx1-ubyte", fmt.idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte holds 6 images but .*t10k-labels-idx1-ubyte 5 "
                                        r"labels"):
        load(f"mnist:{path}")
    path = _corrupt(tmp_path, fmt, "t10k-labels-idx1-ubyte", fmt.idx_bytes(np.full(6, 12, np.uint8)))
    with pytest.raises(DataError, match="label 12: expected digits 0-9"):
        load(f"mnist:{path}")


def test_missing_file_and_bad_gzip(tmp_path, fmt):
    files = fmt.mnist_files()
    files.pop("t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match=r"no t10k-labels-idx1-ubyte\[.gz\] in .*expected MNIST"):
        load(f"mnist:{fmt.write_tree(tmp_path / 'a', files)}")
    files = fmt.mnist_files()
    files["train-images-idx3-ubyte.gz"] = gzip.compress(b"x" * 100)[:20]
    with pytest.raises(DataError, match=r"cannot decompress .*train-images-idx3-ubyte\.gz"):
        load(f"mnist:{fmt.write_tree(tmp_path / 'b', files)}")


def test_mnist_refuses_another_dataset(tmp_path, fmt):
    with pytest.raises(DataError, match=r"no train-images-idx3-ubyte\[\.gz\] in .*fruits\.zip: expected MNIST"):
        load(f"mnist:{fmt.write_zip(tmp_path / 'fruits.zip', fmt.fruits_files())}")
