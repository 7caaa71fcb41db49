"""SVHN (Netzer et al.), cropped digits: ``train_32x32.mat`` and ``test_32x32.mat`` (MATLAB v5 files).

Each file holds ``X``, a ``(32, 32, 3, N)`` uint8 array, and ``y``, an ``(N, 1)`` array of labels 1-10
where 10 stands for the digit 0.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

from convbench.data._registry import register_dataset
from convbench.data.archive import Source
from convbench.data.dataset import Dataset, Split
from convbench.data.options import as_bool
from convbench.errors import DataError

LAYOUT = "train_32x32.mat and test_32x32.mat (a folder or an archive holding them)"
_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}


@register_dataset("svhn", layout=LAYOUT)
def load_svhn(path: Path, skip_bad_images: bool | str = False) -> Dataset:
    """SVHN's 73,257 training and 26,032 test digits as ``(N, 32, 32, 3)`` uint8, labels 0-9.

    ``skip_bad_images`` is accepted for a uniform interface; .mat arrays have no per-image files to skip.
    """
    as_bool(skip_bad_images, "skip_bad_images")
    with Source(path) as source:
        splits = {}
        for split, basename in _FILES.items():
            found = source.find(basename.replace(".", r"\."))
            if not found:
                raise DataError(f"no {basename} in {path}: expected SVHN's {LAYOUT}")
            splits[split] = read_svhn_mat(source.read(found[0]), source.where(found[0]))
    return Dataset("svhn", tuple(str(d) for d in range(10)), splits["train"], splits["test"], f"svhn:{path}",
                   {"skipped_images": 0})


def read_svhn_mat(data: bytes, where: str) -> Split:
    """One SVHN .mat file → ``(N, 32, 32, 3)`` images and labels with 10 mapped to 0.

    Raises:
        DataError: not a MATLAB file, ``X``/``y`` missing, or of the wrong shape or labels.
    """
    import scipy.io  # scipy's import takes a moment: only when SVHN is read

    if not data:
        raise DataError(f"{where} is empty: expected a MATLAB .mat file with X and y")
    try:
        mat = scipy.io.loadmat(io.BytesIO(data), variable_names=("X", "y"))
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, OSError, NotImplementedError, IndexError, KeyError,
            EOFError, OverflowError, MemoryError, struct.error, zlib.error) as e:  # a cut or damaged file's many faces
        raise DataError(f"cannot read {where}: expected a MATLAB .mat file with X and y "
                        f"({type(e).__name__}: {str(e)[:200]})") from None
    missing = [k for k in ("X", "y") if k not in mat]
    if missing:
        raise DataError(f"{where} has no {' or '.join(missing)}: expected X (32, 32, 3, N) uint8 and y (N, 1)")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[2] != 3 or x.shape[3] != len(y):
        raise DataError(f"{where}: X is {x.dtype} {x.shape} and y has {len(y)} labels: expected X of uint8 "
                        f"(H, W, 3, N) with one label per image")
    if y.size and not (y.min() >= 1 and y.max() <= 10):
        raise DataError(f"{where} has labels {int(y.min())}-{int(y.max())}: expected 1-10 (10 for the digit 0)")
    images = np.ascontiguousarray(x.transpose(3, 0, 1, 2))
    return Split(images, (y.astype(np.int64) % 10))
