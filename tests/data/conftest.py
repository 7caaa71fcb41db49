"""Tiny files in each dataset's official distribution format, written by the tests themselves.

Every image of class ``c`` is filled with the grey level ``pixel(c)``, so a test can check that images
and labels still line up after loading (JPEG only approximately).
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image


def pixel(label: int) -> int:
    """The grey level the writers fill class ``label``'s images with."""
    return 20 + 10 * label


def image_bytes(label: int, size: tuple[int, int] = (8, 8), fmt: str = "PNG", mode: str = "RGB") -> bytes:
    """One encoded image of class ``label``: ``size`` is (height, width)."""
    im = Image.new(mode, (size[1], size[0]), color=0 if mode == "1" else (pixel(label),) * len(mode))
    if mode == "1":  # a 1-bit image: white page, one black stroke (as Omniglot)
        im = Image.new("1", (size[1], size[0]), 1)
        im.paste(0, (1, 1, 3, size[0] - 1))
    buffer = io.BytesIO()
    im.save(buffer, fmt)
    return buffer.getvalue()


def write_zip(path: Path, files: dict[str, bytes], dirs: Iterable[str] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for folder in dirs:
            zf.writestr(folder.rstrip("/") + "/", b"")
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def write_tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


# -- MNIST: IDX files ---------------------------------------------------------------------------------
def idx_bytes(array: np.ndarray, magic: bytes | None = None) -> bytes:
    header = magic or bytes((0, 0, 0x08, array.ndim))
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def mnist_files(n_train: int = 12, n_test: int = 6, gz: bool = True) -> dict[str, bytes]:
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = np.stack([np.full((28, 28), pixel(label), np.uint8) for label in labels])
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            files[f"{prefix}-{kind}-ubyte" + (".gz" if gz else "")] = gzip.compress(data) if gz else data
    return files


# -- CIFAR: pickled python batches --------------------------------------------------------------------
class _Py2Pickler(pickle._Pickler):
    """Pickles as CIFAR's files were written (Python 2 cPickle, protocol 2): byte strings as Python 2
    ``str`` opcodes, numpy under its 1.x module name ``numpy.core``."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj: bytes) -> None:
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256 else
                   pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    def save_global(self, obj: object, name: str | None = None) -> None:
        module = getattr(obj, "__module__", "")
        if not module.startswith("numpy._core"):
            return super().save_global(obj, name)
        self.write(pickle.GLOBAL + f"{module.replace('numpy._core', 'numpy.core')}\n{name or obj.__qualname__}\n"
                   .encode())
        self.memoize(obj)
        return None

    dispatch[bytes] = save_bytes
    dispatch[type] = save_global


def py2_pickle(obj: object) -> bytes:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def cifar_batch(labels: list[int], label_key: bytes = b"labels", extra: dict[bytes, object] | None = None) -> bytes:
    data = np.stack([np.full(3072, pixel(label % 20), np.uint8) for label in labels])
    data[:, 1024:2048] += 1  # green plane one level up: checks the channel-plane → HWC transpose
    batch = {b"batch_label": b"batch", label_key: labels, b"data": data,
             b"filenames": [f"img{i}.png".encode() for i in range(len(labels))], **(extra or {})}
    return py2_pickle(batch)


def cifar10_files(per_batch: int = 4) -> dict[str, bytes]:
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    files = {f"cifar-10-batches-py/data_batch_{b}": cifar_batch([(b + i) % 10 for i in range(per_batch)])
             for b in range(1, 6)}
    files["cifar-10-batches-py/test_batch"] = cifar_batch(list(range(per_batch)))
    files["cifar-10-batches-py/batches.meta"] = py2_pickle(
        {b"num_cases_per_batch": per_batch, b"label_names": names, b"num_vis": 3072})
    return files


def cifar100_files(n: int = 10) -> dict[str, bytes]:
    fine = list(range(0, 100, 100 // n))[:n]
    files = {}
    for split in ("train", "test"):
        coarse = {b"coarse_labels": [f // 5 for f in fine]}
        files[f"cifar-100-python/{split}"] = cifar_batch(fine, b"fine_labels", coarse)
    files["cifar-100-python/meta"] = py2_pickle(
        {b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
         b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]})
    return files


# -- SVHN: MATLAB files -------------------------------------------------------------------------------
def write_svhn_mat(path: Path, labels: list[int], **overrides: np.ndarray) -> Path:
    import scipy.io

    x = np.stack([np.full((32, 32, 3), pixel(label % 10), np.uint8) for label in labels], axis=3)  # (32,32,3,N)
    mat = {"X": x, "y": np.array(labels, np.uint8).reshape(-1, 1), **overrides}
    scipy.io.savemat(path, mat)
    return path


# -- GTSRB: ppm images and ';'-separated csv files ---------------------------------------------------
GTSRB_HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2"


def gtsrb_files(classes: tuple[int, ...] = (0, 1, 2), per_class: int = 3) -> dict[str, dict[str, bytes]]:
    """The three official zips' contents: training images, test images, test labels.
    One training image of class 0 is 12x14 (the others 10x10): loaders resize it."""
    train: dict[str, bytes] = {}
    for c in classes:
        folder = f"GTSRB/Final_Training/Images/{c:05d}"
        rows = [GTSRB_HEADER + ";ClassId"]
        for i in range(per_class):
            h, w = (12, 14) if (c, i) == (0, 0) else (10, 10)
            name = f"00000_{i:05d}.ppm"
            train[f"{folder}/{name}"] = image_bytes(c, (h, w), "PPM")
            rows.append(f"{name};{w};{h};1;1;{w - 2};{h - 2};{c}")
        train[f"{folder}/GT-{c:05d}.csv"] = ("\r\n".join(rows) + "\r\n").encode()
    test: dict[str, bytes] = {}
    gt = [GTSRB_HEADER + ";ClassId"]
    unlabelled = [GTSRB_HEADER]
    for i, c in enumerate(classes):
        name = f"{i:05d}.ppm"
        test[f"GTSRB/Final_Test/Images/{name}"] = image_bytes(c, (10, 10), "PPM")
        gt.append(f"{name};10;10;1;1;8;8;{c}")
        unlabelled.append(f"{name};10;10;1;1;8;8")
    test["GTSRB/Final_Test/Images/GT-final_test.test.csv"] = "\r\n".join(unlabelled).encode()
    return {"GTSRB_Final_Training_Images.zip": train, "GTSRB_Final_Test_Images.zip": test,
            "GTSRB_Final_Test_GT.zip": {"GT-final_test.csv": "\r\n".join(gt).encode()}}


def write_gtsrb(root: Path, **kwargs: object) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for zip_name, files in gtsrb_files(**kwargs).items():  # type: ignore[arg-type]
        write_zip(root / zip_name, files)
    return root


# -- Omniglot: 1-bit PNGs per alphabet and character ---------------------------------------------------
def omniglot_files(set_name: str, alphabets: tuple[str, ...], characters: int = 2, drawers: int = 2,
                   ) -> dict[str, bytes]:
    return {f"{set_name}/{alphabet}/character{c:02d}/{a * 100 + c:04d}_{d:02d}.png": image_bytes(0, (12, 12), mode="1")
            for a, alphabet in enumerate(alphabets) for c in range(1, characters + 1)
            for d in range(1, drawers + 1)}


# -- Fruits-360 and plain class folders: JPEG / PNG per class folder ---------------------------------------
FRUITS = ("Apple Braeburn", "Apple Golden 1", "Pear", "Pear Williams")


def fruits_files(top: str = "fruits-360/", per_class: tuple[int, int] = (3, 2)) -> dict[str, bytes]:
    files = {f"{top}LICENSE": b"MIT"}
    for split, n in zip(("Training", "Test"), per_class, strict=True):
        for c, variety in enumerate(FRUITS):
            for i in range(n):
                files[f"{top}{split}/{variety}/{i}_100.jpg"] = image_bytes(c, (16, 16), "JPEG")
    return files


def folder_files(classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 3, prefix: str = "") -> dict[str, bytes]:
    return {f"{prefix}{name}/{i}.png": image_bytes(c) for c, name in enumerate(classes) for i in range(per_class)}


@pytest.fixture(scope="session")
def fmt() -> SimpleNamespace:
    """The writers above (test modules cannot import a conftest): ``fmt.mnist_files()``, ``fmt.write_zip(…)`` …"""
    writers = (pixel, image_bytes, write_zip, write_tar_gz, write_tree, idx_bytes, mnist_files, py2_pickle,
               cifar_batch, cifar10_files, cifar100_files, write_svhn_mat, gtsrb_files, write_gtsrb, omniglot_files,
               fruits_files, folder_files)
    return SimpleNamespace(**{f.__name__: f for f in writers}, FRUITS=FRUITS, GTSRB_HEADER=GTSRB_HEADER)
