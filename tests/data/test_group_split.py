"""Validation that holds out whole groups: the split itself, the training splits, Fruits-360's groups, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import assert_one_line_error

from convbench.artifacts import SplitSettings
from convbench.data import Dataset, Split, load, split
from convbench.errors import ConfigError
from convbench.train.splits import split_settings, training_splits


def grouped(groups_per_class: tuple[int, ...] = (12, 5), per_group: int = 4) -> Split:
    """Images in groups that each hold one class (as Fruits-360's frame sequences); pixel = group id."""
    groups = np.repeat(np.arange(sum(groups_per_class)), per_group)
    group_class = np.repeat(np.arange(len(groups_per_class)), groups_per_class)
    images = np.broadcast_to(groups.astype(np.uint8)[:, None, None, None], (len(groups), 2, 2, 1)).copy()
    return Split(images, group_class[groups], groups)


def parts_of(data: Split, parts: tuple[Split, ...]) -> list[set[int]]:
    return [set(part.groups.tolist()) for part in parts]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_every_group_lies_in_exactly_one_part(seed):
    data = grouped()
    parts = split(data, (0.7, 0.2, 0.1), seed=seed, by_groups=True)
    groups = parts_of(data, parts)
    assert sum(len(g) for g in groups) == len(set(data.groups.tolist()))  # no group in two parts
    assert set().union(*groups) == set(data.groups.tolist())  # none lost
    assert sum(len(p) for p in parts) == len(data)
    for part in parts:  # images stay with their group and their class
        np.testing.assert_array_equal(part.images[:, 0, 0, 0], part.groups)
        np.testing.assert_array_equal(part.labels, data.labels[np.searchsorted(data.groups, part.groups)])


@settings(max_examples=60, deadline=None)
@given(groups=st.lists(st.integers(0, 15), min_size=2, max_size=80), seed=st.integers(0, 2**32 - 1),
       val=st.floats(0.05, 0.6), labels_from_groups=st.booleans())
def test_any_grouping_is_cut_into_disjoint_whole_groups(groups, seed, val, labels_from_groups):
    groups = np.asarray(groups, np.int64)
    if len(np.unique(groups)) < 2:
        return
    labels = groups % 3 if labels_from_groups else np.arange(len(groups), dtype=np.int64) % 2
    data = Split(np.zeros((len(groups), 1, 1, 1), np.uint8), labels, groups)
    train, held = split(data, (1 - val, val), seed=seed, by_groups=True)
    assert len(train) + len(held) == len(data) and len(train) > 0 and len(held) > 0
    assert set(train.groups.tolist()).isdisjoint(held.groups.tolist())
    again = split(data, (1 - val, val), seed=seed, by_groups=True)[1]
    np.testing.assert_array_equal(held.groups, again.groups)


def test_groups_are_shared_out_class_by_class():
    data = grouped((12, 5))
    train, val = split(data, (0.8, 0.2), seed=3, by_groups=True)
    assert set(val.labels.tolist()) == set(train.labels.tolist()) == {0, 1}  # each part sees every class
    per_class = [len(set(val.groups[val.labels == c].tolist())) for c in (0, 1)]
    assert per_class == [2, 1]  # 20 % of 12 and of 5 groups (largest remainder), not of the 17 together


def test_groups_that_span_classes_are_shared_out_regardless_of_class():
    data = grouped((6,))
    data = Split(data.images, (np.arange(len(data)) % 2).astype(np.int64), data.groups)  # two classes per group
    train, val = split(data, (0.5, 0.5), seed=0, by_groups=True)
    assert parts_of(data, (train,))[0].isdisjoint(parts_of(data, (val,))[0])
    assert len(set(val.groups.tolist())) == 3


def test_group_split_is_fixed_by_the_seed():
    data = grouped()
    first = split(data, (0.8, 0.2), seed=5, by_groups=True)
    again = split(data, (0.8, 0.2), seed=5, by_groups=True)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.groups, b.groups)
    other = {tuple(sorted(set(split(data, (0.8, 0.2), seed=s, by_groups=True)[1].groups.tolist()))) for s in range(6)}
    assert len(other) > 1  # another seed holds out other groups


def test_one_class_keeps_the_earlier_group_assignment():
    """With one class the class-by-class draw is the draw every earlier release made (one permutation of all
    groups), so the early-exit mixes' held-out Omniglot alphabets stay the same."""
    data = grouped((9,))
    unique = np.unique(data.groups)
    permuted = np.random.default_rng(4).permutation(unique)
    expected = set(permuted[7:].tolist())  # (0.8, 0.2) of 9 groups: 7 and 2, in permutation order
    assert set(split(data, (0.8, 0.2), seed=4, by_groups=True)[1].groups.tolist()) == expected


def test_groups_missing_or_too_few_are_config_errors():
    data = grouped()
    with pytest.raises(ConfigError, match="by_groups=True needs a split with groups"):
        split(Split(data.images, data.labels), by_groups=True)
    with pytest.raises(ConfigError, match="cannot cut 1 groups into 2 parts"):
        split(grouped((1,)), by_groups=True)


def test_training_splits_hold_out_whole_groups_and_the_card_says_so():
    data = grouped((30, 10))
    test = grouped((3, 3))
    dataset = Dataset("grouped", ("a", "b"), data, test, grouping="frame sequence")
    splits = training_splits(dataset, val_fraction=0.2, seed=0, val_split="groups")
    assert set(splits["train"].groups.tolist()).isdisjoint(splits["val"].groups.tolist())
    assert len(set(splits["val"].groups.tolist())) == 8 and splits["test"] is test
    random = training_splits(dataset, val_fraction=0.2, seed=0)
    assert set(random["train"].groups.tolist()) & set(random["val"].groups.tolist())  # random: groups leak
    settings = split_settings(dataset, val_fraction=0.2, seed=0, val_split="groups")
    assert settings == SplitSettings(seed=0, val_fraction=0.2, test="official", val_split="groups",
                                     grouping="frame sequence")
    assert split_settings(dataset, val_fraction=0.2, seed=0).grouping is None


def test_group_validation_without_groups_is_a_one_line_config_error():
    digits = load()
    with pytest.raises(ConfigError, match=r"val_split='groups' needs images in groups .* digits gives none") as e:
        training_splits(digits, val_fraction=0.1, seed=0, val_split="groups")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="val_split must be one of random, groups, got val_split='varieties'"):
        training_splits(digits, val_fraction=0.1, seed=0, val_split="varieties")


def test_cli_refuses_group_validation_on_data_without_groups(cli, tmp_path):
    rc, _, err = cli("train", "--arch", "stagenet", "--out", tmp_path / "run", "--val-split", "groups")
    assert_one_line_error(rc, err, "val_split='groups'", "digits")
    assert not (tmp_path / "run" / "model.keras").exists()
    rc, _, err = cli("train", "--arch", "stagenet", "--out", tmp_path / "run", "--val-split", "nope")
    assert_one_line_error(rc, err, "val_split", "nope")


# -- Fruits-360: the groups its loader gives -----------------------------------------------------------------------

def fruit_video_files(fmt, frames: int = 70) -> dict[str, bytes]:
    """Two videos (``N_100.jpg`` and ``r_N_100.jpg``) per variety; every 4th frame in Test, as the real set."""
    files = {}
    for c, variety in enumerate(fmt.FRUITS):
        for video in ("", "r_"):
            for frame in range(frames):
                part = "Test" if frame % 4 == 3 else "Training"
                files[f"fruits-360/{part}/{variety}/{video}{frame}_100.jpg"] = fmt.image_bytes(c, (8, 8), "JPEG")
    return files


def test_fruits360_groups_are_frame_sequences_of_one_video(tmp_path, fmt):
    from convbench.data.fruits360 import SEQUENCE_FRAMES

    ds = load(f"fruits360:{fmt.write_zip(tmp_path / 'fruits.zip', fruit_video_files(fmt))}")
    assert ds.grouping == "frame sequence" and ds.train.groups.dtype == np.int64
    runs = -(-70 // SEQUENCE_FRAMES)  # frames 0…69 in runs of SEQUENCE_FRAMES
    assert ds.meta["group_count"] == len(fmt.FRUITS) * 2 * runs
    for groups, labels in ((ds.train.groups, ds.train.labels), (ds.test.groups, ds.test.labels)):
        for group in np.unique(groups):  # no group spans classes
            assert len(np.unique(labels[groups == group])) == 1
    assert set(ds.test.groups.tolist()) <= set(ds.train.groups.tolist())  # Test frames interleave Training's


def test_fruits360_sequence_length_is_an_option(tmp_path, fmt):
    path = fmt.write_zip(tmp_path / "fruits.zip", fruit_video_files(fmt))
    ds = load(f"fruits360:{path}?sequence_frames=10")
    assert ds.meta["group_count"] == len(fmt.FRUITS) * 2 * 7  # frames 0…69 in runs of 10
    for bad in ("0", "ten", "-3"):
        with pytest.raises(ConfigError, match=f"must be a positive integer, got sequence_frames='{bad}'"):
            load(f"fruits360:{path}?sequence_frames={bad}")


def test_loaded_source_keeps_the_options_so_a_card_reloads_the_same_groups(tmp_path, fmt):
    """A search or train call handed a loaded Dataset records its ``source`` in the model card; with the loader's
    plain ``NAME:PATH`` there, the card's data would reload with 32-frame groups instead of the 10 used."""
    path = fmt.write_zip(tmp_path / "fruits.zip", fruit_video_files(fmt))
    for ds in (load(f"fruits360:{path}?sequence_frames=10"), load(f"fruits360:{path}", sequence_frames=10)):
        assert "sequence_frames=10" in ds.source
        again = load(ds.source)
        assert again.meta["group_count"] == ds.meta["group_count"] == len(fmt.FRUITS) * 2 * 7
        np.testing.assert_array_equal(again.train.groups, ds.train.groups)
    assert "?" not in load(f"fruits360:{path}").source  # no options given, none recorded


def test_fruits360_variety_groups_and_bad_option(tmp_path, fmt):
    path = fmt.write_zip(tmp_path / "fruits.zip", fruit_video_files(fmt, frames=8))
    ds = load(f"fruits360:{path}?groups=variety")
    assert ds.grouping == "variety" and sorted(np.unique(ds.train.groups).tolist()) == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="groups must be one of sequence, variety, got groups='frames'"):
        load(f"fruits360:{path}?groups=frames")


@pytest.mark.shared_data
def test_fruits360_validation_of_whole_sequences_on_the_real_set(shared_data):
    ds = load(f"fruits360:{shared_data / 'fruits-360-apples-pears.zip'}")
    splits = training_splits(ds, val_fraction=0.1, seed=0, val_split="groups")
    train, val = splits["train"], splits["val"]
    assert set(train.groups.tolist()).isdisjoint(val.groups.tolist())
    assert set(val.labels.tolist()) == {0, 1}
    assert 0.05 < len(val) / len(ds.train) < 0.15



@pytest.mark.parametrize("val_split", ["random", "groups"])
def test_a_validation_seed_redraws_validation_but_never_the_test_split(val_split):
    data = Dataset("toy", ("a", "b"), grouped((50, 50)))  # no official test split: it is held out by seed
    first = training_splits(data, val_fraction=0.2, seed=3, val_split=val_split)
    again = training_splits(data, val_fraction=0.2, seed=3, val_split=val_split, val_seed=4)
    assert np.array_equal(first["test"].images, again["test"].images)  # the test split is seed's alone
    assert not np.array_equal(first["val"].images, again["val"].images)
    pool = lambda s: np.sort(np.concatenate([s["train"].images.ravel(), s["val"].images.ravel()]))  # noqa: E731
    assert np.array_equal(pool(first), pool(again))  # validation moves within the same pool of non-test images
    assert split_settings(data, val_fraction=0.2, seed=3, val_split=val_split, val_seed=4).val_seed == 4
    assert "val_seed" not in split_settings(data, val_fraction=0.2, seed=3).to_dict()  # older cards write back alike
