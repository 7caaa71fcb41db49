"""In-memory image datasets: uint8 pixel arrays, integer labels, class names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Split:
    """One split of a dataset.

    Attributes:
        images: ``(N, H, W, C)`` uint8 pixels, C = 1 (grayscale) or 3 (RGB).
        labels: ``(N,)`` int64 class indices into the dataset's ``class_names``.
        groups: optional ``(N,)`` group ids (e.g. Omniglot alphabet) for splits that keep groups apart.
    """

    images: np.ndarray
    labels: np.ndarray
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        assert self.images.dtype == np.uint8 and self.images.ndim == 4, (self.images.dtype, self.images.shape)
        assert self.labels.shape == (len(self.images),), (self.labels.shape, self.images.shape)
        assert self.groups is None or self.groups.shape == self.labels.shape

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray) -> Split:
        """The sub-split at ``index`` (an integer index array or a boolean mask)."""
        return Split(self.images[index], self.labels[index], None if self.groups is None else self.groups[index])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]


@dataclass(frozen=True)
class Dataset:
    """A labelled image dataset as its loader found it.

    Attributes:
        name: registry name of the loader (``mnist``, ``fruits360`` …).
        class_names: one name per label index.
        train: the official training split (or all images when the dataset has no official split).
        test: the official test split, or ``None`` when the dataset has none.
        source: the data spec it was loaded from.
        meta: loader facts worth reporting (skipped images, label mapping, …).
        grouping: what one group of the splits' ``groups`` is (``alphabet``, ``frame sequence`` …), so a split
            that holds out whole groups can say what it held out; ``None`` when the loader gives no groups.
    """

    name: str
    class_names: tuple[str, ...]
    train: Split
    test: Split | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    grouping: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.train.image_shape
