"""MNIST (LeCun et al.): the four IDX files, gzipped or not, in a folder or an archive.

IDX: a 4-byte magic number (two zero bytes, the type code 0x08 = unsigned byte, the number of
dimensions), one big-endian uint32 size per dimension, then the values. Fashion-/K-MNIST use the
same files and load as well.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from convbench.data._registry import register_dataset
from convbench.data.archive import Source
from convbench.data.dataset import Dataset, Split
from convbench.data.options import as_bool
from convbench.errors import DataError

LAYOUT = "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte " \
         "(each .gz or not; directory or archive)"
_FILES = {(split, kind): f"{prefix}-{kind}-idx{ndim}-ubyte"  # the official names, without .gz
          for split, prefix in (("train", "train"), ("test", "t10k"))
          for kind, ndim in (("images", 3), ("labels", 1))}
_UBYTE = 0x08


@register_dataset("mnist", layout=LAYOUT)
def load_mnist(path: Path, skip_bad_images: bool | str = False) -> Dataset:
    """MNIST's 60,000 training and 10,000 test digits as ``(N, 28, 28, 1)`` uint8, labels 0-9.

    ``skip_bad_images`` is accepted for a uniform interface; IDX files have no per-image files to skip.
    """
    as_bool(skip_bad_images, "skip_bad_images")
    with Source(path) as source:
        splits = {split: _read_split(source, split) for split in ("train", "test")}
    return Dataset("mnist", tuple(str(d) for d in range(10)), splits["train"], splits["test"], f"mnist:{path}",
                   {"skipped_images": 0})


def _read_split(source: Source, split: str) -> Split:
    images_name, labels_name = (_find(source, split, kind) for kind in ("images", "labels"))
    images = read_idx(source.read(images_name), source.where(images_name), ndim=3)
    labels = read_idx(source.read(labels_name), source.where(labels_name), ndim=1)
    if len(images) != len(labels):
        raise DataError(f"{source.where(images_name)} holds {len(images)} images but "
                        f"{source.where(labels_name)} {len(labels)} labels: expected one label per image")
    if labels.size and labels.max() > 9:
        raise DataError(f"{source.where(labels_name)} has label {labels.max()}: expected digits 0-9")
    return Split(images[..., None], labels.astype(np.int64))


def _find(source: Source, split: str, kind: str) -> str:
    name = _FILES[split, kind]
    found = source.find(name.replace("-idx", "[-.]idx") + r"(\.gz)?")  # some copies write train-images.idx3-ubyte
    if not found:
        raise DataError(f"no {name}[.gz] in {source.path}: expected MNIST's {LAYOUT}")
    return found[0]


def read_idx(data: bytes, where: str, ndim: int) -> np.ndarray:
    """Parse one IDX file of unsigned bytes (gzipped or not) with ``ndim`` dimensions.

    Raises:
        DataError: bad gzip stream, wrong magic number, or a size that does not match the header.
    """
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"cannot decompress {where}: expected a gzipped IDX file ({e})") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != _UBYTE or data[3] != ndim:
        raise DataError(f"{where} has magic number {data[:4].hex() or 'none'}: expected "
                        f"{bytes((0, 0, _UBYTE, ndim)).hex()} (IDX, unsigned bytes, {ndim} dimensions)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{where} is truncated: its header needs {header} bytes, the file has {len(data)}")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DataError(f"{where} has {len(data)} bytes: expected {expected} for shape {shape} "
                        f"({'truncated' if len(data) < expected else 'trailing bytes'})")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()  # writable, like every loader's
