"""``convbench datasets``: the registry listing, a loaded spec's summary, one-line errors."""

from __future__ import annotations

import json

import pytest
from support import assert_one_line_error

from convbench.data import check_spec, datasets, load
from convbench.errors import DataError

LOADERS = {"cifar10", "cifar100", "digits", "folder", "fruits360", "gtsrb", "mnist", "omniglot", "svhn"}


def test_datasets_lists_every_loader_with_its_layout(cli):
    listed = {row["name"]: row["layout"] for row in datasets()["datasets"]}
    assert set(listed) >= LOADERS and "GT-000NN.csv" in listed["gtsrb"]
    rc, out, _ = cli("datasets")
    assert rc == 0 and all(name in out for name in LOADERS)


def test_datasets_describes_a_spec(cli, tmp_path, fmt):
    path = fmt.write_zip(tmp_path / "fruits.zip", fmt.fruits_files())
    rc, out, _ = cli("datasets", f"fruits360:{path}")
    assert rc == 0
    assert "classes (2): apple, pear" in out and "train: 12 images (apple 6, pear 6)" in out
    assert "image shape: 16x16x3" in out and "skipped images: 0" in out
    rc, out, _ = cli("datasets", f"fruits360:{path}?labels=variety", "--json")
    summary = json.loads(out)
    assert summary["num_classes"] == 4 and summary["splits"]["test"]["per_class"] == [2, 2, 2, 2]


def test_datasets_skip_bad_images_reports_them(cli, tmp_path, fmt):
    files = fmt.folder_files()
    files["dog/2.png"] = b"\x89PNG broken"
    path = fmt.write_zip(tmp_path / "pets.zip", files)
    rc, _, err = cli("datasets", f"folder:{path}")
    assert_one_line_error(rc, err, "dog/2.png", "pets.zip")
    rc, out, _ = cli("datasets", f"folder:{path}", "--skip-bad-images")
    assert rc == 0 and "skipped images: 1" in out and "dog/2.png" in out


def test_datasets_errors_are_one_line(cli, tmp_path, fmt):
    rc, _, err = cli("datasets", f"mnist:{tmp_path / 'absent'}")
    assert_one_line_error(rc, err, "not found", "absent")
    rc, _, err = cli("datasets", f"fruits360:{fmt.write_tree(tmp_path / 'mnist', fmt.mnist_files())}")
    assert_one_line_error(rc, err, "mnist", "Training/<Class>")
    rc, _, err = cli("datasets", "nope:/x")
    assert_one_line_error(rc, err, "unknown dataset 'nope'")


@pytest.mark.parametrize("spec", ["", " ", "\t"])
def test_an_empty_spec_is_an_error_never_the_embedded_default(cli, spec):
    rc, out, err = cli("datasets", spec)  # `convbench datasets "$DATA"` with DATA unset
    assert_one_line_error(rc, err, f"data spec {spec!r} is empty")
    assert out == ""
    with pytest.raises(DataError, match="is empty"):
        load(spec)
    with pytest.raises(DataError, match="is empty"):
        check_spec(spec)
    assert load(None).name == "digits"  # no spec at all is still the default


@pytest.mark.parametrize("spec", ["digits:", "mnist:", "folder: "])
def test_an_empty_path_is_an_error(cli, spec):
    rc, _, err = cli("datasets", spec)
    assert_one_line_error(rc, err, f"data spec {spec!r} has an empty path")


def test_a_path_given_to_a_dataset_that_takes_none_is_an_error_naming_it(cli, tmp_path):
    rc, _, err = cli("datasets", f"digits:{tmp_path}")
    assert_one_line_error(rc, err, "dataset 'digits' takes no path", str(tmp_path))
    with pytest.raises(DataError, match="dataset 'mix' takes no path"):
        check_spec(f"mix:{tmp_path}?main=digits&redundant=digits")
