"""Main + redundant mixing for early exit: C-1 main classes plus one "redundant" class.

The reference study's recipe: MNIST test (10,000) + Omniglot evaluation (13,180) is 57 % redundant.
With ``redundancy=r`` the redundant images of each split are subsampled (seeded) so that they make
up exactly ``r`` of it (to the nearest image); if there are too few redundant images the *main*
images are subsampled instead, so the share is always met.
"""

from __future__ import annotations

import numpy as np

from convbench.data.dataset import Dataset, Split
from convbench.data.preprocess import Preprocessing
from convbench.errors import ConfigError, DataError

REDUNDANT = "redundant"  # the class name of the extra, last class
MAX_REDUNDANCY = 0.95


def mix(main: Dataset, redundant: Dataset, redundancy: float | None = None, *, seed: int = 0) -> Dataset:
    """Merge ``main`` and ``redundant`` into one dataset whose last class is ``"redundant"``.

    Args:
        main: the classes of interest (labels kept: 0 … C-2).
        redundant: images of no class of interest; all of its classes become label C-1.
        redundancy: the share of redundant images in every split, in [0, 0.95]; ``None`` keeps the
            natural union of all images.
        seed: fixes the subsampling.

    Raises:
        ConfigError: redundancy out of range.
        DataError: the redundant set shares class names with the main set, or image shapes differ
            (bring both to one shape first with :func:`harmonize`).
    """
    if redundancy is not None and not 0 <= redundancy <= MAX_REDUNDANCY:
        raise ConfigError(f"redundancy must be in [0, {MAX_REDUNDANCY}], got redundancy={redundancy!r}")
    shared = sorted(set(main.class_names) & set(redundant.class_names))
    if shared:
        raise DataError(f"redundant set {redundant.source or redundant.name!r} has main-set classes: "
                        f"{', '.join(shared[:5])}")
    if main.image_shape != redundant.image_shape:
        raise DataError(f"image shapes differ: main {main.image_shape} vs redundant {redundant.image_shape}; "
                        "bring both to one shape with convbench.data.harmonize")
    rng = np.random.default_rng(seed)
    label = main.num_classes  # the redundant class index, C-1
    train = _mix_split(main.train, redundant.train, label, redundancy, rng)
    test = None
    if main.test is not None and redundant.test is not None:
        test = _mix_split(main.test, redundant.test, label, redundancy, rng)
    meta = {"main": main.source or main.name, "redundant": redundant.source or redundant.name,
            "redundancy": redundancy, "seed": seed}
    return Dataset(f"{main.name}+{redundant.name}", (*main.class_names, REDUNDANT), train, test,
                   f"mix({main.source or main.name}, {redundant.source or redundant.name})", meta)


def harmonize(dataset: Dataset, preprocessing: Preprocessing) -> Dataset:
    """``dataset`` with every split resized / channel-converted / inverted by ``preprocessing.prepare``."""
    def prep(s: Split | None) -> Split | None:
        return None if s is None else Split(preprocessing.prepare(s.images), s.labels, s.groups)

    return Dataset(dataset.name, dataset.class_names, prep(dataset.train), prep(dataset.test), dataset.source,
                   {**dataset.meta, "harmonized": preprocessing.to_dict()})


def redundancy_of(labels: np.ndarray, redundant_label: int) -> float:
    """The share of ``redundant_label`` in ``labels``."""
    return float(np.mean(labels == redundant_label)) if len(labels) else 0.0


def _mix_split(main: Split, redundant: Split, label: int, r: float | None, rng: np.random.Generator) -> Split:
    n_main, n_red = len(main), len(redundant)
    if r is not None:
        want_red = round(r * n_main / (1 - r)) if r < 1 else n_red
        if want_red <= n_red:
            red_idx, main_idx = rng.choice(n_red, want_red, replace=False), np.arange(n_main)
        else:  # too few redundant images: keep them all and subsample the main ones instead
            keep_main = round(n_red * (1 - r) / r)
            red_idx, main_idx = np.arange(n_red), rng.choice(n_main, keep_main, replace=False)
        main, redundant = main.take(np.sort(main_idx)), redundant.take(np.sort(red_idx))
    images = np.concatenate([main.images, redundant.images])
    labels = np.concatenate([main.labels, np.full(len(redundant), label, np.int64)])
    groups = None
    if main.groups is not None or redundant.groups is not None:  # keep redundant groups (e.g. alphabets) apart
        main_groups = main.groups if main.groups is not None else np.full(len(main), -1, np.int64)
        red_groups = redundant.groups if redundant.groups is not None else np.full(len(redundant), -1, np.int64)
        groups = np.concatenate([main_groups.astype(np.int64), red_groups.astype(np.int64) + 1_000_000])
    return Split(images, labels, groups)
