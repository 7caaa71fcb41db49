"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009): 32x32 RGB, the official python pickled batches or an image copy.

- ``cifar-10-python.tar.gz`` → ``cifar-10-batches-py/{data_batch_1…5, test_batch, batches.meta}``;
- ``cifar-100-python.tar.gz`` → ``cifar-100-python/{train, test, meta}`` with fine (100) and coarse (20) labels.

Each batch is a pickled dict: ``data`` a ``(N, 3072)`` uint8 array (1024 red, 1024 green, 1024 blue
values, rows top to bottom) and the labels as a list. Batches are unpickled with only numpy's array
reconstruction allowed, so a crafted file cannot run code. A class-per-folder image copy (such as
``cifar10-jpeg/{train,test}/<class>/*.jpg``) loads too.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import numpy as np

from convbench.data._registry import register_dataset
from convbench.data.archive import Source
from convbench.data.dataset import Dataset, Split
from convbench.data.folder import find_class_folders, read_class_folders
from convbench.data.options import as_bool, as_choice
from convbench.errors import ConfigError, DataError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_LAYOUT = "cifar-10-batches-py/{data_batch_1…5, test_batch, batches.meta} (the cifar-10-python .tar.gz " \
                 "or its folder), or a class-per-folder image copy {train,test}/<class>/*"
CIFAR100_LAYOUT = "cifar-100-python/{train, test, meta} (the cifar-100-python .tar.gz or its folder), " \
                  "or a class-per-folder image copy {train,test}/<class>/*"
_PIXELS = 32 * 32 * 3


@register_dataset("cifar10", layout=CIFAR10_LAYOUT)
def load_cifar10(path: Path, skip_bad_images: bool | str = False) -> Dataset:
    """CIFAR-10: 50,000 training and 10,000 test images as ``(N, 32, 32, 3)`` uint8, 10 classes."""
    skip = as_bool(skip_bad_images, "skip_bad_images")
    with Source(path) as source:
        if not source.find(r"data_batch_\d+"):
            return _image_copy(source, "cifar10", CIFAR10_LAYOUT, skip, lambda n: set(n) == set(CIFAR10_CLASSES))
        meta_name = _one(source, "batches.meta", CIFAR10_LAYOUT)
        names = _label_names(source, meta_name, "label_names", len(CIFAR10_CLASSES))
        batches = sorted(source.find(r"data_batch_\d+"), key=lambda n: int(n.rsplit("_", 1)[1]))
        train = _concat([_read_batch(source, b, "labels", len(names)) for b in batches])
        test = _read_batch(source, _one(source, "test_batch", CIFAR10_LAYOUT), "labels", len(names))
    return Dataset("cifar10", names, train, test, f"cifar10:{path}",
                   {"format": "python batches", "batches": batches, "skipped_images": 0})


@register_dataset("cifar100", layout=CIFAR100_LAYOUT)
def load_cifar100(path: Path, labels: str = "fine", skip_bad_images: bool | str = False) -> Dataset:
    """CIFAR-100: 50,000 training and 10,000 test images as ``(N, 32, 32, 3)`` uint8.

    Args:
        labels: ``fine`` (default, 100 classes) or ``coarse`` (20 superclasses); the pickled batches
            hold both, an image copy only the classes of its folders.
    """
    labels = as_choice(labels, "labels", ("fine", "coarse"))
    skip = as_bool(skip_bad_images, "skip_bad_images")
    with Source(path) as source:
        train_name = _one(source, "train", CIFAR100_LAYOUT, required=False)
        if train_name is None:
            if labels == "coarse":
                raise ConfigError(f"labels=coarse needs CIFAR-100's pickled batches; {path} has none")
            return _image_copy(source, "cifar100", CIFAR100_LAYOUT, skip, lambda n: len(n) in (100, 20))
        names = _label_names(source, _one(source, "meta", CIFAR100_LAYOUT), f"{labels}_label_names",
                             {"fine": 100, "coarse": 20}[labels])
        key = f"{labels}_labels"
        train = _read_batch(source, train_name, key, len(names))
        test = _read_batch(source, _one(source, "test", CIFAR100_LAYOUT), key, len(names))
    return Dataset("cifar100", names, train, test, f"cifar100:{path}",
                   {"format": "python batches", "labels": labels, "skipped_images": 0})


def _image_copy(source: Source, name: str, layout: str, skip: bool, classes_ok: Any) -> Dataset:
    folders = find_class_folders(source, expect=layout)
    class_names, train, test, meta = read_class_folders(source, folders, skip_bad_images=skip)
    if not classes_ok(class_names):
        raise DataError(f"{source.path} has classes {', '.join(class_names[:5])}…: expected {name}'s classes "
                        f"({layout})")
    return Dataset(name, class_names, train, test, f"{name}:{source.path}", {"format": "images", **meta})


def _one(source: Source, basename: str, layout: str, required: bool = True) -> str | None:
    found = [n for n in source.names if PurePosixPath(n).name == basename]
    if not found and required:
        raise DataError(f"no {basename} in {source.path}: expected {layout}")
    return found[0] if found else None


def _label_names(source: Source, name: str, key: str, count: int) -> tuple[str, ...]:
    names = _unpickle(source, name).get(key)
    if not isinstance(names, list) or not names:
        raise DataError(f"{source.where(name)} has no {key!r} list: expected the CIFAR meta file")
    if len(names) != count:  # a damaged file can merge or drop names: the labels would then mean other classes
        raise DataError(f"{source.where(name)} has {len(names)} {key!r}: expected {count}")
    try:
        return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    except UnicodeDecodeError:
        raise DataError(f"{source.where(name)}: a name in {key!r} is not UTF-8 text: expected the CIFAR meta file") \
            from None


def _read_batch(source: Source, name: str, label_key: str, num_classes: int) -> Split:
    """One pickled batch → ``(N, 32, 32, 3)`` images and int64 labels, checked."""
    batch = _unpickle(source, name)
    data, labels = batch.get("data"), batch.get(label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{source.where(name)}: 'data' is {got}: expected a uint8 array of shape (N, {_PIXELS})")
    try:
        labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{source.where(name)}: {label_key!r} holds something else than integer labels") from None
    if labels.shape != (len(data),):
        raise DataError(f"{source.where(name)} has {labels.size} {label_key!r} for {len(data)} images: "
                        f"expected one per image")
    if labels.size and not 0 <= labels.min() <= labels.max() < num_classes:
        raise DataError(f"{source.where(name)} has labels outside 0-{num_classes - 1}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # channel planes → (N, H, W, C)
    return Split(np.ascontiguousarray(images), labels)


def _concat(splits: list[Split]) -> Split:
    return Split(np.concatenate([s.images for s in splits]), np.concatenate([s.labels for s in splits]))


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only (what CIFAR batches hold), nothing executable."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        (module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                                      "numpy._core.numeric") for name in ("_reconstruct", "_frombuffer", "scalar")
    } | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}  # Python 3 writes bytes via _codecs

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(source: Source, name: str) -> dict[str, Any]:
    """A pickled CIFAR dict with its (Python 2 byte string) keys as ``str``."""
    try:
        obj = _ArrayUnpickler(io.BytesIO(source.read(name)), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError, MemoryError, RecursionError, struct.error) as e:  # the ways a damaged pickle fails
        raise DataError(f"cannot unpickle {source.where(name)}: expected a CIFAR python batch ({e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{source.where(name)} holds a {type(obj).__name__}: expected a CIFAR batch dict")
    return {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in obj.items()}  # any bytes decode
