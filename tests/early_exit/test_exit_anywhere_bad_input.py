"""Bad input for exits anywhere, as a user would give it: each is one line naming the culprit, refused before any
training (nothing written), except the calibration goal, which only the trained exit's scores can refute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support import assert_one_line_error

from convbench.data import Dataset, Split, list_datasets, register_dataset
from convbench.early_exit.open_world import calibrate
from convbench.errors import ConfigError

if "ee_anywhere_empty" not in {info.name for info in list_datasets()}:

    @register_dataset("ee_anywhere_empty", layout="test stand-in: a redundant source without images",
                      needs_path=False)
    def _empty(path: Path | None = None, skip_bad_images: bool = False) -> Dataset:
        return Dataset("ee_anywhere_empty", ("nothing",), Split(np.zeros((0, 8, 8, 1), np.uint8),
                                                                np.zeros(0, np.int64)), None, "ee_anywhere_empty", {})

    @register_dataset("ee_anywhere_two_channel", layout="test stand-in: 2-channel images", needs_path=False)
    def _two_channel(path: Path | None = None, skip_bad_images: bool = False) -> Dataset:
        images = np.random.default_rng(0).integers(0, 255, (40, 8, 8, 2), dtype=np.uint8)
        return Dataset("ee_anywhere_two_channel", ("blob",), Split(images, np.zeros(40, np.int64)), None,
                       "ee_anywhere_two_channel", {})


TRAIN = ("early-exit", "train", "--main", "ee_main", "--epochs", "1")
CASES = [
    ("unknown-block", ("--redundant", "ee_redundant", "--backbone", "vgg19", "--exit-after", "block9"),
     ("exit_after='block9'", "vgg19 has: block1, block2, block3, block4, block5")),
    ("unknown-stage", ("--redundant", "ee_redundant", "--backbone", "mobilenet_v2", "--exit-after", "block1"),
     ("exit_after='block1'", "mobilenet_v2 has: stage1, stage2, stage3, stage4, stage5, stage6, stage7")),
    ("auto-among-points", ("--redundant", "ee_redundant", "--exit-after", "block1", "--exit-after", "auto"),
     ("exit_after='auto'",)),
    ("point-twice", ("--redundant", "ee_redundant", "--exit-after", "block1", "--exit-after", "block1"),
     ("each point once",)),
    ("no-exit-point", ("--redundant", "ee_redundant", "--backbone", "stagenet"),
     ("stagenet has no exit point", "backbones with exit points: alexnet")),
    ("no-exit-point-auto", ("--redundant", "ee_redundant", "--backbone", "stagenet", "--exit-after", "auto"),
     ("stagenet has no exit point",)),
    ("min-accuracy", ("--redundant", "ee_redundant", "--exit-after", "auto", "--min-accuracy", "1.5"),
     ("min_accuracy=1.5",)),
    ("sweep-limit", ("--redundant", "ee_redundant", "--exit-after", "auto", "--limit", "1"), ("limit=1",)),
    ("sweep-form", ("--redundant", "ee_redundant", "--exit-after", "auto", "--runtime-form", "triple"), ("triple",)),
    ("empty-source", ("--redundant", "ee_anywhere_empty"), ("ee_anywhere_empty", "no images")),
    ("two-channel-source", ("--redundant", "ee_anywhere_two_channel"),
     ("ee_anywhere_two_channel", "cannot bring its 2-channel images")),
]


@pytest.mark.parametrize(("args", "culprits"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_train_refuses_in_one_line_before_any_work(cli, tmp_path, tiny_backbone, args, culprits):
    rc, out, err = cli(*TRAIN, *args, "--out", tmp_path / "run")
    assert_one_line_error(rc, err, *culprits)
    assert out == "" and not list((tmp_path / "run").rglob("*.keras"))
    assert not (tmp_path / "run" / "training.json").exists()


def test_points_refuses_a_backbone_without_points_and_an_unknown_one(cli):
    assert_one_line_error(*cli("early-exit", "points", "stagenet")[::2], "stagenet has no exit point")
    assert_one_line_error(*cli("early-exit", "points", "nosuchnet")[::2], "nosuchnet", "vgg19")


def test_a_calibration_goal_no_threshold_reaches_is_one_line():
    truth = np.array([False, False, True])  # the exit gives both main images P(redundant) = 1: none may stay
    with pytest.raises(ConfigError, match=r"max_false_exit=0\.001 is unreachable") as caught:
        calibrate(truth, np.ones(3, np.float32), "max_false_exit", 0.001)
    assert "\n" not in str(caught.value)
