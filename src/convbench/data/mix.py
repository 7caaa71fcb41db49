"""Main + redundant mixing for early exit: C-1 main classes plus one "redundant" class.

The reference study's recipe: MNIST test (10,000) + Omniglot evaluation (13,180) is 57 % redundant.
With ``redundancy=r`` the redundant images of each split are subsampled (seeded) so that they make
up exactly ``r`` of it (to the nearest image); if there are too few redundant images the *main*
images are subsampled instead, so the share is always met.

:class:`MixSettings` records how an early-exit network's mix was built, so that training
(:func:`build_mix`) and every later evaluation (:func:`held_out_mix`) draw from the same two pools
(:func:`load_pools`) and a test image is never one the network trained on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from convbench.data._registry import load
from convbench.data.dataset import Dataset, Split
from convbench.data.preprocess import Preprocessing
from convbench.data.split import split
from convbench.errors import ConfigError, DataError

REDUNDANT = "redundant"  # the class name of the extra, last class
MAX_REDUNDANCY = 0.95
REDUNDANT_TEST_FRACTION = 0.3  # of the redundant set held out for testing when it has no official test split
MAIN_TEST_FRACTION = 0.2  # of the main set held out for testing when it has no official test split


@dataclass(frozen=True)
class MixSettings:
    """How the main + redundant mix is built: everything needed to rebuild it exactly for evaluation.

    Attributes:
        main, redundant: data specs (or dataset names when given as loaded datasets).
        redundancy: redundant share of every split of the mix (``None``: all images of both sets).
        invert_redundant: invert the redundant images' polarity before mixing (``255 - x``), e.g. to give
            Omniglot's dark-on-white strokes MNIST's light-on-dark.
        size, channels: the model input ``(H, W)`` and channels every image is brought to.
        max_train: cap on the training mix (a stratified, seeded subset), ``None`` for all.
        seed: fixes the redundant test hold-out, the mix and the cap.
    """

    main: str
    redundant: str
    redundancy: float | None
    invert_redundant: bool
    size: tuple[int, int]
    channels: int
    max_train: int | None = None
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "size": list(self.size)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MixSettings:
        return cls(**{**d, "size": tuple(d["size"])})


def check_redundancy(redundancy: float | None) -> float | None:
    """``redundancy`` in [0, 1) (or ``None``), else :class:`ConfigError` naming it."""
    if redundancy is not None and not 0 <= redundancy < 1:
        raise ConfigError(f"redundancy must be in [0, 1), got redundancy={redundancy!r}")
    return redundancy


def load_pools(settings: MixSettings, main: Dataset | None = None,
               redundant: Dataset | None = None) -> tuple[Dataset, Dataset]:
    """The main and redundant sets as the mix draws from them, each with a train and a test split.

    Every image is brought to the model's size and channels (the redundant ones inverted when
    ``settings.invert_redundant``), so the two sets mix at one shape. A set without an official test
    split gives up a held-out part: ``MAIN_TEST_FRACTION`` of the main set (stratified),
    ``REDUNDANT_TEST_FRACTION`` of the redundant one (whole groups when it has groups, e.g. Omniglot
    alphabets, so test groups stay unseen).

    Args:
        settings: the mix (its ``main``/``redundant`` specs are loaded unless the datasets are given).

    Raises:
        DataError: the main set has fewer than 2 classes, or data that cannot be loaded.
    """
    main = main if main is not None else load(settings.main)
    redundant = redundant if redundant is not None else load(settings.redundant)
    if main.num_classes < 2:
        raise DataError(f"the main set {main.source or main.name} has {main.num_classes} class; need at least 2")
    shape = Preprocessing(settings.size, settings.channels)
    main = harmonize(main, shape)
    redundant = harmonize(redundant, dataclasses.replace(shape, invert=settings.invert_redundant))
    if main.test is None:
        train_part, test_part = split(main.train, fractions=(1 - MAIN_TEST_FRACTION, MAIN_TEST_FRACTION),
                                      seed=settings.seed)
        main = dataclasses.replace(main, train=train_part, test=test_part)
    if redundant.test is None:
        by_groups = redundant.train.groups is not None
        train_part, test_part = split(redundant.train, fractions=(1 - REDUNDANT_TEST_FRACTION, REDUNDANT_TEST_FRACTION),
                                      seed=settings.seed, by_groups=by_groups)
        redundant = dataclasses.replace(redundant, train=train_part, test=test_part)
    return main, redundant


def build_mix(main: Dataset, redundant: Dataset, settings: MixSettings) -> Dataset:
    """The training mix (labels ``0 … C-2`` main, ``C-1`` redundant) of two :func:`load_pools` sets,
    its training part capped at ``settings.max_train`` images.

    Raises:
        DataError: the redundant set shares class names with the main set.
    """
    mixed = mix(main, redundant, settings.redundancy, seed=settings.seed)
    return dataclasses.replace(mixed, train=subset(mixed.train, settings.max_train, settings.seed))


def held_out_mix(main: Dataset, redundant: Dataset, redundancy: float | None, seed: int = 0,
                 limit: int | None = None) -> Split:
    """The test part of the mix of two :func:`load_pools` sets at ``redundancy``, at most ``limit`` images."""
    return subset(mix(main, redundant, check_redundancy(redundancy), seed=seed).test, limit, seed)


def subset(part: Split, limit: int | None, seed: int) -> Split:
    """A stratified, seeded subset of ``limit`` images (``part`` itself when it is no larger)."""
    if limit is None or len(part) <= limit:
        return part
    keep = limit / len(part)
    return split(part, fractions=(keep, 1 - keep), seed=seed)[0]


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
