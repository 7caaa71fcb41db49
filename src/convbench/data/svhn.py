"""SVHN (Netzer et al.), cropped digits: ``train_32x32.mat`` and ``test_32x32.mat`` (MATLAB v5 files).

Each file holds ``X``, a ``(32, 32, 3, N)`` uint8 array, and ``y``, an ``(N, 1)`` array of labels 1-10
where 10 stands for the digit 0.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
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
    checked = checked_mat_v5(data, where)
    try:
        mat = scipy.io.loadmat(io.BytesIO(checked), variable_names=("X", "y"))
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


# MAT v5 (MATLAB's "MAT-File Format"): element data types with their item sizes, and what a numeric array holds.
_ITEM_SIZE = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8}  # int8 … uint32, single, double, (u)int64
_INT8, _INT32, _UINT32, _MATRIX, _COMPRESSED = 1, 5, 6, 14, 15
_NUMERIC_CLASSES = range(6, 16)  # mxDOUBLE_CLASS … mxUINT64_CLASS: SVHN's X and y are plain numeric arrays
_COMPLEX = 0x08


def checked_mat_v5(data: bytes, where: str) -> bytes:
    """``data``, a MATLAB v5 file of numeric arrays, uncompressed and with every element tag checked.

    ``scipy.io.loadmat`` is not hardened against damaged files (its docstring says so): an element whose data type
    code is out of range makes its Cython reader index past a table and crash the process (scipy PR 25349, not
    merged; a one-byte flip in an SVHN file found by our Hypothesis test). So every element is walked here first,
    its type and length checked, and compressed variables are inflated once, here, so scipy reads the checked bytes.

    Raises:
        DataError: not a v5 file, or an element that is damaged or not part of a numeric array.
    """
    def bad(what: str) -> DataError:
        return DataError(f"cannot read {where}: expected a MATLAB .mat file (version 5) with numeric X and y ({what})")

    if len(data) < 128 or data[126:128] not in (b"IM", b"MI"):
        raise bad("no MATLAB 5 header")
    order = "<" if data[126:128] == b"IM" else ">"
    out, at = [data[:128]], 128
    while at < len(data):
        kind, size, body, at = _element(data, at, order, bad)
        if kind == _COMPRESSED:
            try:
                body = zlib.decompress(body)
            except zlib.error as e:
                raise bad(f"compressed variable: {e}") from None
            kind, size, inner, end = _element(body, 0, order, bad)
            if end != len(body):
                raise bad("compressed variable of the wrong length")
            body = inner
        if kind != _MATRIX:
            raise bad(f"top-level element of type {kind}")
        _check_matrix(body, order, bad)
        out.append(struct.pack(order + "II", _MATRIX, size) + body + bytes(-size % 8))
    return b"".join(out)


def _element(data: bytes, at: int, order: str, bad: Callable[[str], DataError]) -> tuple[int, int, bytes, int]:
    """The element at byte ``at``: its type, length, data and where the next one starts (8-byte aligned)."""
    if at + 8 > len(data):
        raise bad(f"cut element tag at byte {at}")
    kind, size = struct.unpack_from(order + "II", data, at)
    if kind >> 16:  # a small element: length and type in the first four bytes, data in the next four
        kind, size = struct.unpack_from(order + "HH", data, at)[::-1] if order == ">" else \
            struct.unpack_from(order + "HH", data, at)
        if size > 4:
            raise bad(f"small element of {size} bytes at byte {at}")
        return kind, size, data[at + 4:at + 4 + size], at + 8
    end = at + 8 + size
    if end > len(data):
        raise bad(f"element at byte {at} runs {end - len(data)} bytes past the end")
    return kind, size, data[at + 8:end], end if kind == _COMPRESSED else end + (-size % 8)


def _check_matrix(body: bytes, order: str, bad: Callable[[str], DataError]) -> None:
    """A numeric array, part by part: flags, dimensions, name, then its real (and imaginary) data, each of the type
    and length the ones before it imply; scipy trusts each of these and reads past its buffer when one lies."""
    parts, at = [], 0
    while at < len(body):
        kind, _, content, at = _element(body, at, order, bad)
        parts.append((kind, content))
    if not parts:
        return  # an empty array: scipy reads it as such
    kind, flags = parts[0]
    if kind != _UINT32 or len(flags) != 8 or flags[0 if order == "<" else 3] not in _NUMERIC_CLASSES:
        raise bad("an array that is not numeric")
    complex_ = bool(flags[1 if order == "<" else 2] & _COMPLEX)
    if len(parts) != (5 if complex_ else 4):
        raise bad(f"a numeric array of {len(parts)} parts")
    (dims_kind, dims), (name_kind, _), *data = parts[1:]
    if dims_kind != _INT32 or len(dims) % 4 or len(dims) < 8:
        raise bad("array dimensions")
    shape = struct.unpack(f"{order}{len(dims) // 4}i", dims)
    if min(shape) < 0 or name_kind != _INT8:
        raise bad(f"array dimensions {shape}" if min(shape) < 0 else "array name")
    for kind, content in data:
        if kind not in _ITEM_SIZE or len(content) != int(np.prod(shape, dtype=np.int64)) * _ITEM_SIZE[kind]:
            raise bad(f"array data of type {kind} and {len(content)} bytes for shape {shape}")
