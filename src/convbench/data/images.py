"""Decode image files (Pillow) into uint8 arrays, many at once on a thread pool, naming any bad file.

Pillow releases the GIL while it decodes, so threads decode in parallel; files are handed out in
chunks to keep the per-task overhead small next to a 100x100 JPEG's ~0.3 ms.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from convbench.data.archive import Source
from convbench.data.preprocess import Preprocessing, image_pixels
from convbench.errors import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pbm", ".pnm", ".bmp", ".gif", ".tif",
                            ".tiff", ".webp"})
_CHUNK = 256  # files per thread-pool task

Box = tuple[int, int, int, int]  # (left, top, right, bottom), right/bottom exclusive, as PIL's crop


def is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def decode_image(data: bytes, where: str, crop: Box | None = None) -> np.ndarray:
    """Decode one image file into ``(H, W, C)`` uint8: C = 1 for grayscale files (1-bit → 0/255, 16-bit scaled by
    its depth), else 3 (RGB).

    Raises:
        DataError: the bytes are not a readable image; the message names ``where``.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            if crop is not None:
                im = im.crop(crop)
            pixels = image_pixels(im, where)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"cannot decode image {where}: expected a readable image file ({e})") from None
    return pixels


@dataclass(frozen=True)
class Decoded:
    """What :func:`read_images` got: the images, which of the requested files they are, and the bad files."""

    images: list[np.ndarray]
    kept: np.ndarray  # (len(images),) indices into the requested names
    skipped: list[str]  # names of the files that could not be read or decoded


def read_images(source: Source, names: Sequence[str], *, skip_bad_images: bool = False,
                crops: Sequence[Box | None] | None = None, threads: int | None = None) -> Decoded:
    """Read and decode ``names`` from ``source`` on a thread pool, in order.

    Args:
        skip_bad_images: leave unreadable files out (listed in ``skipped``) instead of raising.
        crops: an optional box per file, cut before colour conversion.
        threads: pool size (default: Python's, cores + 4, which keeps the cores busy while reads wait).

    Raises:
        DataError: a file is unreadable or not an image (unless ``skip_bad_images``); names the file.
    """
    boxes = list(crops) if crops is not None else [None] * len(names)
    chunks = [range(i, min(i + _CHUNK, len(names))) for i in range(0, len(names), _CHUNK)]

    def decode_chunk(index: range) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = []
        for i in index:
            try:
                out.append(decode_image(source.read(names[i]), source.where(names[i]), boxes[i]))
            except DataError:
                if not skip_bad_images:
                    raise
                out.append(None)
        return out

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(decode_chunk, chunk) for chunk in chunks]
        try:
            results = [image for future in futures for image in future.result()]
        except DataError:
            pool.shutdown(cancel_futures=True)
            raise
    kept = np.array([i for i, image in enumerate(results) if image is not None], dtype=np.int64)
    return Decoded([image for image in results if image is not None], kept,
                   [names[i] for i, image in enumerate(results) if image is None])


def stack_images(images: Sequence[np.ndarray], size: tuple[int, int] | None = None, channels: int | None = None,
                 *, where: str) -> np.ndarray:
    """One ``(N, H, W, C)`` uint8 array: every image resized to ``size`` (default: the most common size) and
    brought to ``channels`` (default: RGB when any image is RGB; grayscale ones are repeated).

    Raises:
        DataError: there are no images (``where`` names what was read).
    """
    if not images:
        raise DataError(f"no readable images in {where}")
    target = size or most_common_size(images)
    to_shape = Preprocessing(target, channels or max(image.shape[2] for image in images))
    return np.stack([image if image.shape == to_shape.input_shape else to_shape.prepare(image[None])[0]
                     for image in images])


def most_common_size(images: Sequence[np.ndarray]) -> tuple[int, int]:
    """The ``(H, W)`` most images have (the first seen among equals)."""
    return Counter(image.shape[:2] for image in images).most_common(1)[0][0]


def channels_of(*image_lists: Sequence[np.ndarray]) -> int:
    """3 when any image is RGB, else 1: the channel count that keeps every image's colour."""
    return max((image.shape[2] for images in image_lists for image in images), default=1)


def read_splits(source: Source, files: dict[str, Sequence[str]], *, size: tuple[int, int] | None = None,
                skip_bad_images: bool = False, crops: dict[str, Sequence[Box | None]] | None = None,
                ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """Decode the files of several splits in one pool and stack each at one shape.

    Args:
        files: split name → its image files; the first split sets the default size.
        size: ``(H, W)`` for every split (default: the first split's most common size).
        crops: split name → a box per file (optional).

    Returns:
        split name → ``(images (N, H, W, C) uint8, kept)`` where ``kept`` indexes the split's files that
        decoded, and the names of the files skipped.
    """
    order = list(files)
    names = [name for split in order for name in files[split]]
    boxes = [box for split in order for box in (crops[split] if crops else [None] * len(files[split]))]
    decoded = read_images(source, names, skip_bad_images=skip_bad_images, crops=boxes)
    bounds = np.cumsum([0] + [len(files[split]) for split in order])
    split_of = np.searchsorted(bounds, decoded.kept, side="right") - 1
    parts = {split: [decoded.images[i] for i in np.flatnonzero(split_of == k)] for k, split in enumerate(order)}
    target = size or (most_common_size(parts[order[0]]) if parts[order[0]] else None)
    channels = channels_of(*parts.values())
    stacked = {split: (stack_images(parts[split], target, channels, where=f"the {split} split of {source.path}"),
                       decoded.kept[split_of == k] - bounds[k]) for k, split in enumerate(order)}
    return stacked, decoded.skipped


def skip_report(source: Source, skipped: Sequence[str], listed: int = 10) -> dict[str, object]:
    """``meta`` entries for skipped files: their count and the first ``listed`` of them by name."""
    return {"skipped_images": len(skipped), "skipped_files": [source.where(name) for name in skipped[:listed]]}
