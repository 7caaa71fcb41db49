"""Preprocessing: the one definition of how pixels become model input, shared by training and deployment.

A model's :class:`Preprocessing` is saved beside it, so export parity checks and the latency harness
apply exactly the steps training applied: resize (PIL, bilinear), channel conversion, optional
polarity inversion, then ``x * scale + offset`` in float32.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from convbench.errors import ConfigError, DataError


@dataclass(frozen=True)
class Preprocessing:
    """How raw uint8 images become float32 model input.

    Attributes:
        size: ``(height, width)`` of the model input.
        channels: 1 (grayscale) or 3 (RGB) channels of the model input.
        scale, offset: ``x_float = x_uint8 * scale + offset`` (default maps to [0, 1]).
        invert: ``x = 255 - x`` before scaling (turns dark-on-light strokes into light-on-dark).
    """

    size: tuple[int, int]
    channels: int = 3
    scale: float = 1.0 / 255.0
    offset: float = 0.0
    invert: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", tuple(int(s) for s in self.size))
        if len(self.size) != 2 or min(self.size) < 1:
            raise ConfigError(f"preprocessing size must be (height, width) >= 1, got size={self.size!r}")
        if self.channels not in (1, 3):
            raise ConfigError(f"preprocessing channels must be 1 or 3, got channels={self.channels!r}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The model input shape ``(H, W, C)``."""
        return (*self.size, self.channels)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "size": list(self.size)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        return cls(**{**d, "size": tuple(d["size"])})

    # -- uint8 stage: geometry and colour ---------------------------------------------------------
    def prepare(self, images: np.ndarray) -> np.ndarray:
        """``(N, h, w, c)`` uint8 → ``(N, H, W, C)`` uint8: resize, convert channels, invert."""
        if images.ndim != 4:
            raise DataError(f"expected images of shape (N, H, W, C), got {images.shape}")
        if images.shape[1:3] != self.size:
            images = np.stack([_resize(img, self.size) for img in images]) if len(images) else \
                np.zeros((0, *self.size, images.shape[3]), np.uint8)
        images = _convert_channels(images, self.channels)
        return 255 - images if self.invert else images

    # -- float stage: normalisation ---------------------------------------------------------------
    def normalize(self, images: np.ndarray) -> np.ndarray:
        """uint8 → float32 model input (``x * scale + offset``); same arithmetic as the tf.data pipeline."""
        return images.astype(np.float32) * np.float32(self.scale) + np.float32(self.offset)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Raw uint8 images → float32 model input."""
        return self.normalize(self.prepare(images))

    def load_image(self, path: str | os.PathLike[str]) -> np.ndarray:
        """Decode an image file and preprocess it into a ``(1, H, W, C)`` float32 batch."""
        try:
            with Image.open(path) as im:
                pixels = image_pixels(im, str(path), self.channels)
        except FileNotFoundError:
            raise DataError(f"image file not found: {path}") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"cannot decode image {path}: {e}") from None
        return self(pixels[None])


GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})  # one channel
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})  # integer pixels of more than 8 bits


def image_pixels(im: Image.Image, where: str, channels: int | None = None) -> np.ndarray:
    """A decoded PIL image as ``(H, W, C)`` uint8: C = ``channels``, or 1 for grayscale modes and 3 for the rest.

    Pixels of more than 8 bits (16-bit PNG and TIFF) are scaled by their real bit depth (0-65535 → 0-255);
    PIL's own ``convert("L")`` would clip them, turning a 16-bit image all white.

    Raises:
        DataError: floating-point pixels, or wide integer pixels whose bit depth cannot be told (names ``where``).
    """
    gray = im.mode in GRAY_MODES
    if im.mode == "F":
        raise DataError(f"cannot decode image {where}: floating-point pixels (mode F) have no known range; "
                        "expected 8- or 16-bit integer pixels")
    if im.mode in _WIDE_MODES:
        bits = _bit_depth(im, where)
        wide = np.asarray(im).astype(np.int64)
        if wide.size and (wide.min() < 0 or wide.max() >= 1 << bits):
            raise DataError(f"cannot decode image {where}: pixel values {wide.min()}-{wide.max()} do not fit its "
                            f"{bits} bits")
        pixels = ((wide * 255 + ((1 << bits) - 1) // 2) // ((1 << bits) - 1)).astype(np.uint8)[..., None]
    else:
        pixels = np.asarray(im if im.mode == ("L" if gray else "RGB") else im.convert("L" if gray else "RGB"),
                            dtype=np.uint8)
        pixels = pixels.reshape(*pixels.shape[:2], -1)
    if channels is not None and pixels.shape[2] != channels:
        pixels = _convert_channels(pixels[None], channels)[0]
    return pixels


def _bit_depth(im: Image.Image, where: str) -> int:
    """Bits per pixel of a wide integer image: 16 for the ``I;16`` modes and PNG, else the TIFF BitsPerSample tag."""
    if im.mode.startswith("I;16") or im.format == "PNG":  # PNG's widest grayscale is 16 bits
        return 16
    tags = getattr(im, "tag_v2", None)
    bits = tags.get(258) if tags is not None else None  # TIFF BitsPerSample
    bits = bits[0] if isinstance(bits, tuple) else bits
    if isinstance(bits, int) and 8 < bits <= 32:
        return bits
    raise DataError(f"cannot decode image {where}: 32-bit integer pixels (mode I) of unknown bit depth; "
                    "expected 8- or 16-bit pixels")


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of one ``(h, w, c)`` uint8 image to ``size = (H, W)``."""
    channels = image.shape[2]
    im = Image.fromarray(image[:, :, 0] if channels == 1 else image)
    out = np.asarray(im.resize((size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.uint8)
    return out.reshape(*size, channels)


def _convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    have = images.shape[3]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return np.repeat(images, 3, axis=3)
    if have == 3 and channels == 1:  # ITU-R 601-2 luma, as PIL's convert("L")
        luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
    raise DataError(f"cannot convert images with {have} channels to {channels}")
