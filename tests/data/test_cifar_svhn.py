"""CIFAR-10/100 pickled batches (tar.gz or extracted) and image copies; SVHN .mat files."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from convbench.data import load
from convbench.errors import ConfigError, DataError


@pytest.mark.parametrize("form", ["tar.gz", "dir"])
def test_cifar10_python_batches(tmp_path, fmt, form):
    files = fmt.cifar10_files()
    path = fmt.write_tar_gz(tmp_path / "cifar-10-python.tar.gz", files) if form == "tar.gz" else \
        fmt.write_tree(tmp_path, files) / "cifar-10-batches-py"
    ds = load(f"cifar10:{path}")
    assert ds.class_names[:3] == ("airplane", "automobile", "bird") and ds.num_classes == 10
    assert ds.train.images.shape == (20, 32, 32, 3) and ds.test.images.shape == (4, 32, 32, 3)
    assert ds.train.labels[:5].tolist() == [1, 2, 3, 4, 2]  # batches in numeric order: data_batch_1 first
    first = ds.train.images[0]
    assert first[..., 0].max() == fmt.pixel(1) and (first[..., 1] == fmt.pixel(1) + 1).all()  # planes → HWC


def test_cifar100_fine_and_coarse_labels(tmp_path, fmt):
    path = fmt.write_tar_gz(tmp_path / "cifar-100-python.tar.gz", fmt.cifar100_files())
    fine = load(f"cifar100:{path}")
    assert fine.num_classes == 100 and fine.train.labels.tolist() == list(range(0, 100, 10))
    assert fine.class_names[10] == "fine10"
    coarse = load(f"cifar100:{path}?labels=coarse")
    assert coarse.num_classes == 20 and coarse.test.labels.tolist() == [f // 5 for f in range(0, 100, 10)]


def test_cifar_image_copy(tmp_path, fmt):
    classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    files = {**fmt.folder_files(classes, 2, "cifar10-jpeg/train/"),
             **fmt.folder_files(classes, 1, "cifar10-jpeg/test/")}
    ds = load(f"cifar10:{fmt.write_zip(tmp_path / 'cifar10-jpeg.zip', files)}")
    assert ds.class_names == classes and len(ds.train) == 20 and len(ds.test) == 10
    assert ds.meta["format"] == "images"
    with pytest.raises(DataError, match="expected cifar10's classes"):
        load(f"cifar10:{fmt.write_zip(tmp_path / 'pets.zip', fmt.folder_files())}")
    with pytest.raises(ConfigError, match="labels=coarse needs CIFAR-100's pickled batches"):
        load(f"cifar100:{tmp_path / 'cifar10-jpeg.zip'}?labels=coarse")


def test_cifar_batch_of_the_wrong_shape(tmp_path, fmt):
    files = fmt.cifar10_files()
    bad = pickle.loads(files["cifar-10-batches-py/data_batch_3"], encoding="bytes")
    bad[b"data"] = bad[b"data"][:, :1024]
    files["cifar-10-batches-py/data_batch_3"] = fmt.py2_pickle(bad)
    with pytest.raises(DataError, match=r"data_batch_3 .*'data' is uint8 \(4, 1024\): expected a uint8 array of "
                                        r"shape \(N, 3072\)"):
        load(f"cifar10:{fmt.write_tar_gz(tmp_path / 'c.tar.gz', files)}")
    files = fmt.cifar10_files()
    files["cifar-10-batches-py/test_batch"] = fmt.cifar_batch([0, 1])[:-40]
    with pytest.raises(DataError, match=r"cannot unpickle .*test_batch"):
        load(f"cifar10:{fmt.write_tree(tmp_path / 'd', files)}")


def test_cifar_pickles_cannot_run_code(tmp_path, fmt):
    files = fmt.cifar10_files()
    files["cifar-10-batches-py/batches.meta"] = pickle.dumps(print)  # any global outside numpy's arrays
    with pytest.raises(DataError, match=r"refusing to load builtins\.print"):
        load(f"cifar10:{fmt.write_tree(tmp_path, files)}")


def test_cifar_refuses_another_dataset(tmp_path, fmt):
    with pytest.raises(DataError, match=r"no image files found in .*expected cifar-10-batches-py"):
        load(f"cifar10:{fmt.write_tree(tmp_path / 'mnist', fmt.mnist_files())}")
    with pytest.raises(DataError, match="no meta in"):
        load(f"cifar100:{fmt.write_tree(tmp_path / 'c', {'cifar-100-python/train': b'x'})}")


def test_svhn_mat_files(tmp_path, fmt):
    fmt.write_svhn_mat(tmp_path / "train_32x32.mat", [10, 1, 2, 10, 9])
    fmt.write_svhn_mat(tmp_path / "test_32x32.mat", [3, 10])
    ds = load(f"svhn:{tmp_path}")
    assert ds.class_names == tuple("0123456789")
    assert ds.train.labels.tolist() == [0, 1, 2, 0, 9] and ds.test.labels.tolist() == [3, 0]  # 10 means 0
    assert ds.train.images.shape == (5, 32, 32, 3) and ds.train.images[4, 0, 0, 0] == fmt.pixel(9)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"X": None}, r"train_32x32\.mat has no X: expected X \(32, 32, 3, N\)"),
    ({"y": None}, "has no y"),
    ({"X": np.zeros((32, 32, 3, 4), np.uint8)}, r"X is uint8 \(32, 32, 3, 4\) and y has 3 labels"),
    ({"y": np.array([[0], [1], [2]], np.uint8)}, "labels 0-2: expected 1-10"),
])
def test_svhn_bad_mat(tmp_path, fmt, overrides, message):
    path = fmt.write_svhn_mat(tmp_path / "train_32x32.mat", [1, 2, 3])
    if any(v is None for v in overrides.values()):  # rewrite the file without that variable
        import scipy.io

        mat = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__") and k not in overrides}
        scipy.io.savemat(path, mat)
    else:
        fmt.write_svhn_mat(path, [1, 2, 3], **overrides)
    fmt.write_svhn_mat(tmp_path / "test_32x32.mat", [1])
    with pytest.raises(DataError, match=message):
        load(f"svhn:{tmp_path}")


def test_svhn_not_a_mat_file(tmp_path, fmt):
    (tmp_path / "train_32x32.mat").write_bytes(b"garbage" * 40)
    fmt.write_svhn_mat(tmp_path / "test_32x32.mat", [1])
    with pytest.raises(DataError, match=r"cannot read .*train_32x32\.mat: expected a MATLAB \.mat file"):
        load(f"svhn:{tmp_path}")
    with pytest.raises(DataError, match=r"no train_32x32\.mat in"):
        load(f"svhn:{fmt.write_tree(tmp_path / 'x', fmt.mnist_files())}")


@pytest.mark.parametrize(("offset_from_end", "value", "culprit"), [
    # y's small data element, its type byte: scipy indexes past a table of types
    (8, 117, r"array data of type 117 and 2 bytes for shape \(2, 1\)"),
    (None, 0xDC, "a numeric array of 4 parts"),  # X's flags say complex: scipy reads an imaginary part not there
])
def test_a_damaged_svhn_element_that_crashed_scipy_fails_in_one_line(tmp_path, offset_from_end, value, culprit):
    """Two one-byte flips that made ``scipy.io.loadmat`` crash the process (a segmentation fault, found by the
    Hypothesis test in test_fuzz_loaders.py, which lost a pytest-xdist worker) now fail with one line."""
    import io

    import scipy.io

    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [10]], np.uint8)})
    data = bytearray(buffer.getvalue())
    data[len(data) - offset_from_end if offset_from_end else 128 + 17] = value  # 128 + 17: X's flag byte
    (tmp_path / "train_32x32.mat").write_bytes(bytes(data))
    (tmp_path / "test_32x32.mat").write_bytes(buffer.getvalue())
    with pytest.raises(DataError, match=rf"train_32x32\.mat: expected a MATLAB \.mat file .*\({culprit}\)$"):
        load(f"svhn:{tmp_path}")
