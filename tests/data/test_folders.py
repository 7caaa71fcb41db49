"""Class-per-folder sets: ``folder`` and ``fruits360`` (zip or directory, with or without a top folder)."""

from __future__ import annotations

import numpy as np
import pytest
from support import assert_one_line_error

from convbench.data import load
from convbench.errors import ConfigError, DataError


@pytest.mark.parametrize("top", ["fruits-360/", ""])
def test_fruits360_groups_varieties_by_first_word(tmp_path, fmt, top):
    path = fmt.write_zip(tmp_path / "fruits.zip", fmt.fruits_files(top))
    ds = load(f"fruits360:{path}")
    assert ds.class_names == ("apple", "pear")
    assert len(ds.train) == 12 and len(ds.test) == 8 and ds.image_shape == (16, 16, 3)
    assert np.bincount(ds.train.labels).tolist() == [6, 6]
    assert ds.meta["label_mapping"] == {"Apple Braeburn": "apple", "Apple Golden 1": "apple", "Pear": "pear",
                                        "Pear Williams": "pear"}
    assert ds.meta["labels"] == "group" and ds.meta["skipped_images"] == 0


def test_fruits360_variety_labels_from_a_directory(tmp_path, fmt):
    path = fmt.write_tree(tmp_path / "unzipped", fmt.fruits_files())
    ds = load(f"fruits360:{path}?labels=variety")
    assert ds.class_names == tuple(sorted(fmt.FRUITS))
    variety = np.array([ds.class_names.index(v) for v in fmt.FRUITS])  # writer's class c → variety label
    means = ds.train.images.reshape(len(ds.train), -1).mean(axis=1)
    expected = np.array([fmt.pixel(int(np.flatnonzero(variety == label)[0])) for label in ds.train.labels])
    assert np.abs(means - expected).max() < 3  # JPEG: images still match their labels
    with pytest.raises(ConfigError, match="labels must be one of group, variety"):
        load(f"fruits360:{path}?labels=colour")


def test_fruits360_refuses_another_dataset(tmp_path, fmt):
    mnist = fmt.write_tree(tmp_path / "mnist", fmt.mnist_files())
    with pytest.raises(DataError, match=r"no image files found in .*mnist: expected Fruits-360's Training/"):
        load(f"fruits360:{mnist}")
    plain = fmt.write_zip(tmp_path / "plain.zip", fmt.folder_files())
    with pytest.raises(DataError, match="has no Training/ and Test/ folders"):
        load(f"fruits360:{plain}")


def test_folder_plain_layout_under_a_top_folder(tmp_path, fmt):
    files = fmt.folder_files(("cat", "dog", "eel"), prefix="pets/")
    files["pets/dog/odd.png"] = fmt.image_bytes(1, (5, 7))  # resized to the most common size
    files["pets/README.md"] = b"not an image"
    ds = load(f"folder:{fmt.write_zip(tmp_path / 'pets.zip', files)}")
    assert ds.class_names == ("cat", "dog", "eel") and ds.test is None
    assert ds.train.images.shape == (10, 8, 8, 3) and np.bincount(ds.train.labels).tolist() == [3, 4, 3]
    assert ds.train.images[ds.train.labels == 2, 0, 0, 0].tolist() == [fmt.pixel(2)] * 3
    assert load(f"folder:{tmp_path / 'pets.zip'}?size=4x6").image_shape == (4, 6, 3)


def test_folder_train_test_split_folders(tmp_path, fmt):
    files = {**fmt.folder_files(prefix="set/train/"), **fmt.folder_files(per_class=1, prefix="set/test/")}
    ds = load(f"folder:{fmt.write_tree(tmp_path / 'd', files)}")
    assert ds.class_names == ("cat", "dog") and len(ds.train) == 6 and len(ds.test) == 2


def test_empty_class_folder(tmp_path, fmt):
    zip_path = fmt.write_zip(tmp_path / "e.zip", fmt.folder_files(prefix="top/"), dirs=["top/empty/"])
    with pytest.raises(DataError, match=r"class folder top/empty \(in .*e\.zip\) holds no images"):
        load(f"folder:{zip_path}")
    files = {**fmt.fruits_files(), "fruits-360/Test/Pear/notes.txt": b"x"}
    files = {k: v for k, v in files.items() if not k.startswith("fruits-360/Test/Pear/") or k.endswith(".txt")}
    with pytest.raises(DataError, match=r"class folder fruits-360/Test/Pear .*holds no images"):
        load(f"fruits360:{fmt.write_zip(tmp_path / 'f.zip', files)}")


def test_corrupt_image_inside_a_zip(tmp_path, fmt):
    files = fmt.fruits_files()
    files["fruits-360/Training/Pear/1_100.jpg"] = files["fruits-360/Training/Pear/1_100.jpg"][:40]
    path = fmt.write_zip(tmp_path / "fruits.zip", files)
    with pytest.raises(DataError, match=r"cannot decode image fruits-360/Training/Pear/1_100\.jpg \(in .*fruits\.zip"):
        load(f"fruits360:{path}")
    ds = load(f"fruits360:{path}?skip_bad_images=1")
    assert ds.meta["skipped_images"] == 1 and len(ds.train) == 11
    assert "Training/Pear/1_100.jpg" in ds.meta["skipped_files"][0]
    with pytest.raises(ConfigError, match="skip_bad_images must be true or false"):
        load(f"fruits360:{path}?skip_bad_images=maybe")


def test_images_loose_at_the_top_and_unknown_options(tmp_path, fmt):
    with pytest.raises(DataError, match="images lie loose at the top"):
        load(f"folder:{fmt.write_tree(tmp_path / 'loose', {'a.png': fmt.image_bytes(0)})}")
    with pytest.raises(DataError, match="unexpected keyword argument 'colour'"):
        load(f"folder:{tmp_path / 'loose'}?colour=1")


# -- symbolic links: a dataset never reads outside its own folder ------------------------------------------------
def test_a_link_to_an_ancestor_of_the_dataset_is_refused_not_followed_to_another_image_set(tmp_path, fmt, cli):
    fmt.write_tree(tmp_path / "other", fmt.folder_files(("a", "b"), per_class=5))  # an unrelated set beside it
    fmt.write_tree(tmp_path / "set", fmt.folder_files())
    (tmp_path / "set" / "cat" / "up").symlink_to(tmp_path)  # a hostile link up, past the dataset's own folder
    with pytest.raises(DataError, match=r"symbolic link .*set/cat/up points outside the dataset folder .*set"):
        load(f"folder:{tmp_path / 'set'}")
    rc, _, err = cli("datasets", f"folder:{tmp_path / 'set'}")
    assert_one_line_error(rc, err, str(tmp_path / "set" / "cat" / "up"), "outside the dataset folder")


def test_a_link_leading_outside_the_dataset_is_refused(tmp_path, fmt):
    fmt.write_tree(tmp_path / "elsewhere", fmt.folder_files(("dog",)))
    fmt.write_tree(tmp_path / "set", fmt.folder_files(("cat",)))
    (tmp_path / "set" / "dog").symlink_to(tmp_path / "elsewhere" / "dog")  # a class folder kept elsewhere
    with pytest.raises(DataError, match=r"symbolic link .*set/dog points outside the dataset folder"):
        load(f"folder:{tmp_path / 'set'}")
    (tmp_path / "set" / "dog").unlink()
    (tmp_path / "set" / "cat" / "9.png").symlink_to(tmp_path / "elsewhere" / "dog" / "0.png")  # an image, too
    with pytest.raises(DataError, match=r"symbolic link .*set/cat/9\.png points outside the dataset folder"):
        load(f"folder:{tmp_path / 'set'}")


@pytest.mark.parametrize("target", [".", "cat"])
def test_a_link_back_up_into_a_folder_holding_it_is_a_loop(tmp_path, fmt, target):
    fmt.write_tree(tmp_path / "set", fmt.folder_files())
    (tmp_path / "set" / "cat" / "loop").symlink_to(tmp_path / "set" / target)
    with pytest.raises(DataError, match=r"symbolic link .*set/cat/loop points to .*, a folder that holds it"):
        load(f"folder:{tmp_path / 'set'}")


def test_a_class_folder_linked_inside_the_dataset_is_followed_as_its_own_class(tmp_path, fmt):
    fmt.write_tree(tmp_path / "set" / "all", fmt.folder_files(("cat", "dog")))
    for name, target in (("kitten", "cat"), ("puppy", "dog")):
        (tmp_path / "set" / "train").mkdir(exist_ok=True)
        (tmp_path / "set" / "train" / name).symlink_to(f"../all/{target}")  # relative, as a user would link
    ds = load(f"folder:{tmp_path / 'set'}")
    assert ds.class_names == ("kitten", "puppy") and np.bincount(ds.train.labels).tolist() == [3, 3]
    assert ds.train.images[ds.train.labels == 1, 0, 0, 0].tolist() == [fmt.pixel(1)] * 3  # dog's images


def test_two_class_folders_reading_the_same_images_are_refused_naming_both(tmp_path, fmt, cli):
    fmt.write_tree(tmp_path / "set", fmt.folder_files())
    (tmp_path / "set" / "kitty").symlink_to("cat")
    rc, _, err = cli("datasets", f"folder:{tmp_path / 'set'}")
    assert_one_line_error(rc, err, "class folders cat and kitty", "read the same images")
    (tmp_path / "set" / "kitty").unlink()
    fmt.write_tree(tmp_path / "split", fmt.folder_files(prefix="train/"))
    (tmp_path / "split" / "test").symlink_to("train")  # the test split is the training split
    with pytest.raises(DataError, match=r"class folders test/cat and train/cat .*read the same images"):
        load(f"folder:{tmp_path / 'split'}")
