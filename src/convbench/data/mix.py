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
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convbench.checks import integer_in
from convbench.data._registry import DataSpec, absolute_spec, load, register_dataset
from convbench.data.dataset import Dataset, Split
from convbench.data.options import as_bool, as_size
from convbench.data.preprocess import Preprocessing
from convbench.data.split import split
from convbench.errors import ConfigError, DataError

REDUNDANT = "redundant"  # the class name of the extra, last class
MAX_REDUNDANCY = 0.95
REDUNDANT_TEST_FRACTION = 0.3  # of the redundant set held out for testing when it has no official test split
MAIN_TEST_FRACTION = 0.2  # of the main set held out for testing when it has no official test split
_SOURCE_GROUPS = 100_000  # group ids of source i are offset by i times this when several sources join


@dataclass(frozen=True)
class RedundantSource:
    """One source of redundant images in a mix of several, and its share of the redundant class (shares are
    normalised over the sources)."""

    spec: str
    share: float = 1.0


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
        sources: several redundant sources with their shares of the redundant class (``redundant`` is then their
            joint label); empty: ``redundant`` is the one source.
    """

    main: str
    redundant: str
    redundancy: float | None
    invert_redundant: bool
    size: tuple[int, int]
    channels: int
    max_train: int | None = None
    seed: int = 0
    sources: tuple[RedundantSource, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {**dataclasses.asdict(self), "size": list(self.size)}
        if not self.sources:  # a one-source mix records what it always recorded
            del d["sources"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MixSettings:
        sources = tuple(RedundantSource(**s) for s in d.get("sources", ()))
        return cls(**{**d, "size": tuple(d["size"]), "sources": sources})

    def spec(self) -> str:
        """The ``mix?main=…&redundant=…`` data spec that :func:`load` turns back into this very mix (paths absolute)."""
        options = {"main": self.main, "redundant": self.redundant, "size": f"{self.size[0]}x{self.size[1]}",
                   "channels": str(self.channels), "seed": str(self.seed),
                   **({"redundancy": repr(self.redundancy)} if self.redundancy is not None else {}),
                   **({"invert_redundant": "1"} if self.invert_redundant else {}),
                   **({"max_train": str(self.max_train)} if self.max_train is not None else {}),
                   **({"sources": json.dumps([{"spec": absolute_spec(s.spec), "share": s.share} for s in self.sources])}
                      if self.sources else {})}
        return str(DataSpec(MIX_DATASET, None, options).absolute())


MIX_DATASET = "mix"


@register_dataset(MIX_DATASET, needs_path=False, spec_options=("main", "redundant"),
                  layout="a main + redundant mix: mix?main=SPEC&redundant=SPEC&size=HxW&channels=C[&redundancy=r"
                         "&invert_redundant=1&max_train=N&seed=S&sources=JSON] (what an early-exit baseline's card "
                         "records)")
def load_mix(path: Path | None = None, skip_bad_images: bool | str = False, **options: str) -> Dataset:
    """The training mix of two data specs, exactly as :func:`build_mix` built it for early-exit training.

    ``options`` are the spec's (see :func:`mix_settings`); ``skip_bad_images`` is accepted for a uniform
    interface: put it in the main or redundant spec instead.
    """
    as_bool(skip_bad_images, "skip_bad_images")
    if path is not None:
        raise DataError(f"a mix takes no path (got {path}): give mix?main=SPEC&redundant=SPEC&size=HxW&channels=C")
    settings = mix_settings(**options)
    return build_mix(*load_pools(settings), settings)


def mix_settings(main: str | None = None, redundant: str | None = None, size: str | None = None,
                 channels: str | None = None, redundancy: str | None = None, invert_redundant: str = "0",
                 max_train: str | None = None, seed: str = "0", sources: str | None = None) -> MixSettings:
    """The :class:`MixSettings` of a mix spec's options (the inverse of :meth:`MixSettings.spec`).

    Raises:
        ConfigError: a missing or invalid option, named.
    """
    missing = [name for name, value in (("main", main), ("redundant", redundant), ("size", size),
                                        ("channels", channels)) if value in (None, "")]
    if missing:
        raise ConfigError(f"a mix spec needs option(s) {', '.join(missing)}: "
                          "mix?main=SPEC&redundant=SPEC&size=HxW&channels=C")
    settings = MixSettings(str(main), str(redundant), _optional_number(redundancy, "redundancy", float),
                           as_bool(invert_redundant, "invert_redundant"), as_size(size),  # type: ignore[arg-type]
                           _number(channels, "channels", int), _optional_number(max_train, "max_train", int),
                           _number(seed, "seed", int), _sources(sources))
    if settings.channels not in (1, 3):
        raise ConfigError(f"option channels must be 1 or 3, got channels={channels!r}")
    check_redundancy(settings.redundancy)
    return settings


def _sources(text: str | None) -> tuple[RedundantSource, ...]:
    """The ``sources`` option: a JSON list of ``{"spec": SPEC, "share": number}``."""
    if not text:
        return ()
    try:
        found = json.loads(text)
        sources = tuple(RedundantSource(str(s["spec"]), _number(s.get("share", 1.0), "sources share", float))
                        for s in found)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ConfigError(f'option sources must be a JSON list of {{"spec": SPEC, "share": number}}, '
                          f"got sources={text!r}") from None
    return sources


def _number(value: Any, option: str, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {option} must be a {kind.__name__}, got {option}={value!r}") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise ConfigError(f"option {option} must be a finite number, got {option}={value!r}")
    return number


def _optional_number(value: Any, option: str, kind: type) -> Any:
    return None if value in (None, "") else _number(value, option, kind)


def check_redundancy(redundancy: float | None) -> float | None:
    """``redundancy`` in [0, 1) (or ``None``), else :class:`ConfigError` naming it."""
    if redundancy is not None and not 0 <= redundancy < 1:
        raise ConfigError(f"redundancy must be in [0, 1), got redundancy={redundancy!r}")
    return redundancy


def load_pools(settings: MixSettings, main: Dataset | None = None,
               redundant: Dataset | Sequence[Dataset] | None = None) -> tuple[Dataset, Dataset]:
    """The main and redundant sets as the mix draws from them, each with a train and a test split.

    Every image is brought to the model's size and channels (the redundant ones inverted when
    ``settings.invert_redundant``), so the two sets mix at one shape. A set without an official test
    split gives up a held-out part: ``MAIN_TEST_FRACTION`` of the main set (stratified),
    ``REDUNDANT_TEST_FRACTION`` of the redundant one (whole groups when it has groups, e.g. Omniglot
    alphabets, so test groups stay unseen). Several redundant sources (``settings.sources``) are each
    held out alone, then joined by :func:`combine_sources` at their shares.

    Args:
        settings: the mix (its ``main``/``redundant`` specs, or its ``sources``, are loaded unless given).
        main: the main set, loaded.
        redundant: one redundant set, which replaces every source of ``settings`` (e.g. a source the model
            never saw), or one loaded set per source of ``settings.sources``.

    Raises:
        DataError: the main set has fewer than 2 classes, a redundant source without images or whose images
            cannot be brought to the model's channels and size, or data that cannot be loaded.
    """
    main = main if main is not None else load(settings.main)
    if main.num_classes < 2:
        raise DataError(f"the main set {main.source or main.name} has {main.num_classes} class; need at least 2")
    shape = Preprocessing(settings.size, settings.channels)
    main = _harmonized(main, shape, f"main set {main.source or main.name!r}")
    if main.test is None:
        train_part, test_part = split(main.train, fractions=(1 - MAIN_TEST_FRACTION, MAIN_TEST_FRACTION),
                                      seed=settings.seed)
        main = dataclasses.replace(main, train=train_part, test=test_part)
    if isinstance(redundant, Dataset) or (redundant is None and not settings.sources):
        pool = redundant if redundant is not None else load(settings.redundant)
        return main, redundant_pool(pool, shape, settings)
    sets = list(redundant) if redundant is not None else [load(s.spec) for s in settings.sources]
    if len(sets) != len(settings.sources):
        raise DataError(f"the mix has {len(settings.sources)} redundant sources, got {len(sets)} data sets")
    pools = [redundant_pool(d, shape, settings) for d in sets]
    return main, combine_sources(pools, [s.share for s in settings.sources], main, settings.redundancy,
                                 seed=settings.seed)


def combine_sources(pools: Sequence[Dataset], shares: Sequence[float], main: Dataset, redundancy: float | None, *,
                    seed: int = 0) -> Dataset:
    """One redundant set of several harmonised sources, each split holding them at ``shares`` (normalised).

    Each split takes as many images as the mix at ``redundancy`` will use beside ``main``'s split (all it can
    when ``redundancy`` is ``None``), at most what the scarcest source allows at its share, so the mix keeps
    the shares exactly (to the nearest image) and :func:`mix` subsamples none of them away. Class names are
    prefixed by their source (``omniglot/…``), groups kept apart per source.

    Raises:
        ConfigError: shares that are not positive, or not one per source.
        DataError: a source with an empty split.
    """
    weights = np.asarray(shares, np.float64)
    if len(weights) != len(pools) or not len(pools) or not np.all(weights > 0):
        raise ConfigError(f"redundant source shares must be positive, one per source; got {list(shares)} for "
                          f"{len(pools)} sources")
    weights = weights / weights.sum()
    rng = np.random.default_rng(seed)
    names = [p.source or p.name for p in pools]

    def joined(split_name: str) -> Split | None:
        parts = [getattr(p, split_name) for p in pools]
        reference = getattr(main, split_name)
        if any(part is None for part in parts) or reference is None:
            return None
        for name, part in zip(names, parts, strict=True):
            if not len(part):
                raise DataError(f"redundant source {name!r} has no {split_name} images to mix")
        total = min(int(np.floor(len(part) / w + 1e-9)) for part, w in zip(parts, weights, strict=True))
        if redundancy is not None:
            total = min(total, round(redundancy * len(reference) / (1 - redundancy)))
        counts = _largest_remainder(weights, total)
        offsets = np.cumsum([0] + [len(p.class_names) for p in pools])
        taken = [part.take(np.sort(rng.choice(len(part), k, replace=False)))
                 for part, k in zip(parts, counts, strict=True)]
        with_groups = any(t.groups is not None for t in taken)
        return Split(np.concatenate([t.images for t in taken]),
                     np.concatenate([t.labels + offsets[i] for i, t in enumerate(taken)]).astype(np.int64),
                     np.concatenate([(t.groups.astype(np.int64) + i * _SOURCE_GROUPS if t.groups is not None
                                      else np.full(len(t), -1 - i, np.int64)) for i, t in enumerate(taken)])
                     if with_groups else None)

    class_names = tuple(f"{p.name}/{c}" for p in pools for c in p.class_names)
    return Dataset("+".join(p.name for p in pools), class_names, joined("train"), joined("test"), "+".join(names),
                   {"sources": names, "shares": weights.tolist()})


def redundant_pool(redundant: Dataset, shape: Preprocessing, settings: MixSettings) -> Dataset:
    """One redundant source brought to ``shape`` (inverted when ``settings.invert_redundant``), with a test split
    (held out as :func:`load_pools` holds it out when it has none); :class:`DataError` naming it when it is empty
    or its images cannot be brought to ``shape``."""
    name = redundant.source or redundant.name
    if not len(redundant.train) + (len(redundant.test) if redundant.test is not None else 0):
        raise DataError(f"redundant source {name!r} has no images")
    redundant = _harmonized(redundant, dataclasses.replace(shape, invert=settings.invert_redundant),
                            f"redundant source {name!r}")
    if redundant.test is None:
        by_groups = redundant.train.groups is not None
        train_part, test_part = split(redundant.train, fractions=(1 - REDUNDANT_TEST_FRACTION, REDUNDANT_TEST_FRACTION),
                                      seed=settings.seed, by_groups=by_groups)
        redundant = dataclasses.replace(redundant, train=train_part, test=test_part)
    return redundant


def _harmonized(dataset: Dataset, shape: Preprocessing, what: str) -> Dataset:
    """:func:`harmonize`, its failure a :class:`DataError` naming ``what`` and the shape it could not reach."""
    try:
        return harmonize(dataset, shape)
    except (DataError, ValueError) as e:  # ValueError: PIL cannot resize images it cannot represent
        channels = dataset.train.images.shape[3]
        raise DataError(f"{what}: cannot bring its {channels}-channel images to the model's {shape.size[0]}x"
                        f"{shape.size[1]}x{shape.channels} input ({e})") from None


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """``total`` split in the proportions ``weights`` (integers summing to ``total``)."""
    exact = weights * total
    counts = np.floor(exact).astype(np.int64)
    for k in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
        counts[k] += 1
    return counts


def build_mix(main: Dataset, redundant: Dataset, settings: MixSettings) -> Dataset:
    """The training mix (labels ``0 … C-2`` main, ``C-1`` redundant) of two :func:`load_pools` sets,
    its training part capped at ``settings.max_train`` images.

    Raises:
        DataError: the redundant set shares class names with the main set.
    """
    mixed = mix(main, redundant, settings.redundancy, seed=settings.seed)
    # the source is a spec `load` rebuilds this very mix from: what a card records, so export and bench find the data
    return dataclasses.replace(mixed, train=subset(mixed.train, settings.max_train, settings.seed),
                               source=settings.spec())


def held_out_mix(main: Dataset, redundant: Dataset, redundancy: float | None, seed: int = 0,
                 limit: int | None = None) -> Split:
    """The test part of the mix of two :func:`load_pools` sets at ``redundancy``, at most ``limit`` images."""
    return subset(mix(main, redundant, check_redundancy(redundancy), seed=seed).test, limit, seed)


def subset(part: Split, limit: int | None, seed: int) -> Split:
    """A stratified, seeded subset of exactly ``limit`` images (``part`` itself when it is no larger).

    Each class keeps its share, rounded by largest remainder over all classes at once, so the counts add up to
    ``limit`` (rounding class by class would not: ``--limit 20`` gave 22 images).
    """
    if limit is None or len(part) <= limit:
        return part
    return part.take(subset_index(part, limit, seed))


def subset_index(part: Split, limit: int, seed: int) -> np.ndarray:
    """The sorted indices of :func:`subset`'s images in ``part`` (when ``part`` holds more than ``limit``)."""
    classes, sizes = np.unique(part.labels, return_counts=True)
    exact = sizes * (limit / len(part))
    counts = np.floor(exact).astype(np.int64)
    for k in np.argsort(-(exact - counts), kind="stable")[: limit - counts.sum()]:
        counts[k] += 1
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(part.labels == label))[:count] for label, count in zip(classes, counts,
                                                                                                   strict=True)]
    return np.sort(np.concatenate(keep))


def spare_main_images(main: Dataset, redundant: Dataset, settings: MixSettings, count: int) -> Split:
    """``count`` main-class images of the training pool that :func:`build_mix`'s capped training mix leaves out
    (seeded): never trained on nor validated on, so a threshold calibrated on them holds for new images.

    Raises:
        ConfigError: ``count`` < 1, or fewer such images than ``count`` (no cap, or one that leaves too few).
    """
    integer_in("calibration_images", count, 1)
    pool = mix(main, redundant, settings.redundancy, seed=settings.seed).train
    capped = settings.max_train is not None and len(pool) > settings.max_train
    kept = subset_index(pool, settings.max_train, settings.seed) if capped else np.arange(len(pool))
    spare = np.setdiff1d(np.flatnonzero(pool.labels < main.num_classes), kept)
    if len(spare) < count:
        raise ConfigError(f"calibration_images={count}: the training mix (max_train={settings.max_train}) leaves "
                          f"only {len(spare)} main-class images of {main.source or main.name} unused")
    return pool.take(np.sort(np.random.default_rng([settings.seed, 2]).choice(spare, count, replace=False)))


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
