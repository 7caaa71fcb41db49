"""The embedded default: scikit-learn's bundled handwritten digits (UCI optdigits test set).

1,797 real 8x8 grayscale scans of the digits 0-9 (16 grey levels), shipped inside the
scikit-learn wheel, so it loads with no network. No official test split: callers split it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench.data._registry import register_dataset
from convbench.data.dataset import Dataset, Split


@register_dataset("digits", layout="built in: scikit-learn's 1,797 8x8 handwritten digits", needs_path=False)
def load_digits(path: Path | None = None, skip_bad_images: bool | str = False) -> Dataset:
    """scikit-learn's digits as ``(1797, 8, 8, 1)`` uint8 (0-16 stretched to 0-255), labels 0-9."""
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    return Dataset("digits", tuple(str(i) for i in range(10)), Split(images, labels), None, "digits",
                   {"origin": "sklearn.datasets.load_digits"})
