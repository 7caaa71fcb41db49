"""Splits (stratified, seeded, group-aware) and main + redundant mixing (exact redundancy, label layout)."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.data import (
    REDUNDANT,
    Dataset,
    MixSettings,
    Preprocessing,
    Split,
    build_mix,
    harmonize,
    held_out_mix,
    load_pools,
    mix,
    split,
)
from convbench.errors import ConfigError, DataError


def unique_images(labels: list[int] | np.ndarray, start: int = 0, shape: tuple[int, int, int] = (2, 2, 1),
                  groups: np.ndarray | None = None) -> Split:
    """A split whose every image is distinct: image i holds the number start + i in its first pixels."""
    n = len(labels)
    ids = np.arange(start, start + n, dtype=np.uint32)
    images = np.zeros((n, *shape), np.uint8)
    images.reshape(n, -1)[:, :4] = ids.view(np.uint8).reshape(n, 4)
    return Split(images, np.asarray(labels, np.int64), groups)


def redundancy_of(labels: np.ndarray, redundant_label: int) -> float:
    """The share of ``redundant_label`` in ``labels``."""
    return float(np.mean(labels == redundant_label))


def image_ids(part: Split) -> set[int]:
    return set(part.images.reshape(len(part), -1)[:, :4].copy().view(np.uint32).ravel().tolist())


def dataset(name: str, classes: tuple[str, ...], n_train: int, n_test: int, start: int) -> Dataset:
    rng = np.random.default_rng(start)
    return Dataset(name, classes, unique_images(rng.integers(0, len(classes), n_train), start),
                   unique_images(rng.integers(0, len(classes), n_test), start + n_train), name)


# -- split --------------------------------------------------------------------------------------------
def test_split_is_stratified_disjoint_complete_and_seeded():
    data = unique_images([0] * 50 + [1] * 30 + [2] * 20)
    train, val, test = split(data, (0.7, 0.2, 0.1), seed=3)
    assert [np.bincount(p.labels, minlength=3).tolist() for p in (train, val, test)] == \
        [[35, 21, 14], [10, 6, 4], [5, 3, 2]]
    ids = [image_ids(p) for p in (train, val, test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert ids[0] | ids[1] | ids[2] == image_ids(data)
    again = split(data, (0.7, 0.2, 0.1), seed=3)
    assert all((a.images == b.images).all() for a, b in zip((train, val, test), again, strict=True))
    assert image_ids(split(data, (0.7, 0.2, 0.1), seed=4)[1]) != ids[1]


def test_split_by_groups_keeps_whole_groups_in_one_part():
    groups = np.repeat(np.arange(10), 6)
    data = unique_images(np.zeros(60, np.int64), groups=groups)
    fit, held = split(data, (0.8, 0.2), seed=0, by_groups=True)
    assert len(set(held.groups)) == 2 and not set(fit.groups) & set(held.groups)
    assert len(fit) == 48 and len(held) == 12


def test_split_rejects_bad_requests():
    data = unique_images([0, 1, 0, 1])
    with pytest.raises(ConfigError, match="fractions must be positive and sum to 1"):
        split(data, (0.5, 0.6))
    with pytest.raises(ConfigError, match="needs a split with groups"):
        split(data, by_groups=True)


# -- mix ----------------------------------------------------------------------------------------------
@pytest.fixture
def digits_and_glyphs() -> tuple[Dataset, Dataset]:
    """A 3-class main set and a 2-class redundant set, every image distinct across both."""
    return dataset("main", ("a", "b", "c"), 300, 100, 0), dataset("glyphs", ("x", "y"), 500, 200, 10_000)


def test_mix_label_layout_and_natural_union(digits_and_glyphs):
    main, red = digits_and_glyphs
    mixed = mix(main, red)
    assert mixed.class_names == ("a", "b", "c", REDUNDANT)
    assert len(mixed.train) == 800 and len(mixed.test) == 300
    assert (mixed.train.labels[:300] == main.train.labels).all() and (mixed.train.labels[300:] == 3).all()
    assert redundancy_of(mixed.test.labels, 3) == pytest.approx(200 / 300)


@pytest.mark.parametrize("r", [0.0, 0.1, 0.286, 0.5, 0.57, 0.8, 0.95])
def test_mix_gives_the_exact_redundancy_in_every_split(digits_and_glyphs, r):
    main, red = digits_and_glyphs
    mixed = mix(main, red, r, seed=0)
    for part, n_red in ((mixed.train, 500), (mixed.test, 200)):
        share = redundancy_of(part.labels, 3)
        assert abs(share - r) <= 1 / len(part) + 1e-12  # exact to the nearest image
        assert (part.labels == 3).sum() <= n_red
    assert not image_ids(mixed.train) & image_ids(mixed.test)  # no image in two splits


def test_mix_reference_recipe_share():
    """MNIST test (10,000) + Omniglot evaluation (13,180): the reference study's 57 % redundancy."""
    main = Dataset("mnist", tuple("0123456789"), unique_images(np.arange(10_000) % 10))
    red = Dataset("omniglot", ("omniglot",), unique_images(np.zeros(13_180, np.int64), 10_000))
    assert round(redundancy_of(mix(main, red).train.labels, 10), 2) == 0.57
    assert redundancy_of(mix(main, red, 0.3).train.labels, 10) == pytest.approx(0.3, abs=1e-4)


def test_mix_is_seeded(digits_and_glyphs):
    main, red = digits_and_glyphs
    a, b, c = mix(main, red, 0.3, seed=1), mix(main, red, 0.3, seed=1), mix(main, red, 0.3, seed=2)
    assert (a.train.images == b.train.images).all() and (a.test.labels == b.test.labels).all()
    assert image_ids(a.train) != image_ids(c.train)


def test_mix_refuses_bad_input(digits_and_glyphs):
    main, red = digits_and_glyphs
    with pytest.raises(ConfigError, match="redundancy must be in"):
        mix(main, red, 0.96)
    with pytest.raises(DataError, match="has main-set classes: b"):
        mix(main, Dataset("clash", ("b", "z"), red.train, red.test, "clash"))
    colour = Dataset("rgb", ("x",), unique_images([0, 0], 99_000, shape=(4, 4, 3)), None, "rgb")
    with pytest.raises(DataError, match=r"image shapes differ.*harmonize"):
        mix(main, colour)
    same = harmonize(colour, Preprocessing((2, 2), channels=1))
    assert mix(main, same).image_shape == (2, 2, 1) and mix(main, same).test is None


# -- the early-exit mix: pools, training mix, held-out test mix ------------------------------------------------
def test_training_and_held_out_mixes_share_no_image(digits_and_glyphs):
    main, red = digits_and_glyphs
    red = Dataset("glyphs", red.class_names, unique_images(red.train.labels, 10_000, groups=np.arange(500) % 25),
                  None, "glyphs")  # no official test split: whole groups are held out
    settings = MixSettings("main", "glyphs", 0.5, False, (2, 2), 1, max_train=200, seed=0)
    pools = load_pools(settings, main, red)
    assert not set(pools[1].train.groups) & set(pools[1].test.groups)
    trained = build_mix(*pools, settings)
    assert len(trained.train) == 200 and redundancy_of(trained.train.labels, 3) == pytest.approx(0.5, abs=0.01)
    test = held_out_mix(*pools, 0.3, seed=0, limit=50)
    assert abs(len(test) - 50) <= 1 and not image_ids(test) & image_ids(trained.train)
    with pytest.raises(ConfigError, match=r"redundancy=1\.0"):
        held_out_mix(*pools, 1.0)
