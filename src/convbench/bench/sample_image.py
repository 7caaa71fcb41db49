"""The real image file whose preprocessing the harness times.

Preprocessing is timed on an image *file* (decode + resize + normalise, the steps training used), so
the harness needs one. In order of preference: the user's ``--image FILE``; the first test image of
``--data SPEC``; the first test image of the data the model card says the model was trained on; the
embedded ``digits`` data as a last resort, with a note saying why (kept in the result's ``image`` record
and shown by the CLI). Images from a dataset are written as lossless PNG at their original size, so
decoding and resizing are real work.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from convbench.artifacts import ModelCard
from convbench.data import load
from convbench.errors import ConfigError, DataError
from convbench.io import naming_writes


@dataclass(frozen=True)
class SampleImage:
    """An image file to preprocess and where it came from (``source`` is a human-readable origin).

    ``written`` marks a file written from a dataset into a temporary folder: its path is not worth recording.
    ``note`` says why a fallback image was used (the card's data could not be loaded), for the user to see.
    """

    path: Path
    source: str
    written: bool = False
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": None if self.written else str(self.path), "source": self.source,
                **({"note": self.note} if self.note else {})}


def sample_image(card: ModelCard, workdir: str | os.PathLike[str], *, image: str | os.PathLike[str] | None = None,
                 data: str | None = None) -> SampleImage:
    """Find or write (into ``workdir``) a real image file for ``card``'s model; see the module docstring."""
    if image is not None and data is not None:
        raise ConfigError("give either --image or --data, not both")
    if image is not None:
        path = Path(image)
        if not path.is_file():
            raise DataError(f"image file not found: {path}")
        return SampleImage(path, f"file {path}")
    if data is not None:
        return _first_test_image(data, workdir, f"--data {data}")
    note = None
    if card.data:
        try:
            return _first_test_image(card.data, workdir, f"model card data {card.data}")
        except DataError as e:  # the training data moved or is absent here: still time a real image, and say so
            note = (f"preprocessing timed on an embedded digits image: the model card's data cannot be loaded ({e}); "
                    "give --image FILE or --data SPEC")
    fallback = _first_test_image("digits", workdir, "embedded digits (last resort)")
    return SampleImage(fallback.path, fallback.source, fallback.written, note)


def _first_test_image(spec: str, workdir: str | os.PathLike[str], source: str) -> SampleImage:
    pixels, which = _first_image(spec)
    path = Path(workdir) / "sample.png"
    with naming_writes(path):
        Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(path)
    return SampleImage(path, f"{source}, first {which} image", written=True)


@functools.lru_cache(maxsize=8)
def _first_image(spec: str) -> tuple[np.ndarray, str]:
    """The first test (else training) image of ``spec``; cached, as a sweep benches many models on one dataset."""
    dataset = load(spec)
    if dataset.test is not None and len(dataset.test):
        return dataset.test.images[0], "test"
    return dataset.train.images[0], "training"
