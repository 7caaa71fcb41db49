"""Open-world metrics (AUROC, FPR at 95 % TPR) against hand-checkable cases, threshold calibration on the validation
split meeting its goal, and calibration end to end: recorded in the card, used by the deployed files."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys

import numpy as np
import pytest
from support import assert_one_line_error

from convbench.artifacts import read_card
from convbench.early_exit.open_world import (
    calibrate,
    certified_count,
    fpr_at_tpr,
    images_to_certify,
    rejection,
    upper_bound,
)
from convbench.errors import ConfigError
from convbench.io import read_json
from convbench.vocabulary import TRAIN_DEFAULTS


def test_perfectly_separated_scores_give_auroc_1_and_no_false_exits_at_95_tpr():
    truth = np.array([0, 0, 0, 1, 1, 1], bool)
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    found = rejection(truth, scores, 0.5)
    assert found.auroc == 1.0 and found.fpr_at_95_tpr == 0.0
    assert (found.exit_accuracy, found.exit_precision, found.exit_recall, found.false_exit_rate) == (1, 1, 1, 0)
    reversed_ = rejection(truth, 1 - scores, 0.5)
    assert reversed_.auroc == 0.0 and reversed_.fpr_at_95_tpr == 1.0 and reversed_.exit_accuracy == 0


def _pairwise_auroc(truth: np.ndarray, scores: np.ndarray) -> float:
    """AUROC by its definition: P(score of a redundant image > score of a main one), ties counting one half."""
    pairs = list(itertools.product(scores[truth], scores[~truth]))
    return sum(1.0 if r > m else 0.5 if r == m else 0.0 for r, m in pairs) / len(pairs)


def _brute_fpr_at_tpr(truth: np.ndarray, scores: np.ndarray, goal: float) -> float:
    """The lowest FPR over every threshold (each distinct score) whose TPR reaches ``goal``."""
    best = 1.0
    for t in np.unique(scores):
        exits = scores >= t
        if np.mean(exits[truth]) >= goal:
            best = min(best, float(np.mean(exits[~truth])))
    return best


def test_auroc_and_fpr_match_a_direct_computation_on_a_small_mixed_example():
    truth = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1], bool)
    scores = np.array([0.9, 0.8, 0.7, 0.7, 0.6, 0.4, 0.95, 0.2, 0.5, 0.1, 0.85, 0.3, 0.75, 0.99, 0.05, 0.6, 0.65,
                       0.91, 0.92, 0.93, 0.94])
    found = rejection(truth, scores, 0.65)
    assert found.auroc == pytest.approx(_pairwise_auroc(truth, scores))
    assert 0.5 < found.auroc < 1  # a genuinely mixed case
    assert found.fpr_at_95_tpr == pytest.approx(_brute_fpr_at_tpr(truth, scores, 0.95))
    assert fpr_at_tpr(truth, scores, 0.5) == pytest.approx(_brute_fpr_at_tpr(truth, scores, 0.5))
    exits = scores >= 0.65
    assert found.exit_precision == pytest.approx(np.sum(exits & truth) / np.sum(exits))
    assert found.exit_recall == pytest.approx(np.sum(exits & truth) / np.sum(truth))
    assert found.false_exit_rate == pytest.approx(np.sum(exits & ~truth) / np.sum(~truth))
    assert (found.images, found.redundant_images) == (21, 14)


def test_one_sided_mix_has_no_auroc():
    found = rejection(np.ones(4, bool), np.array([0.2, 0.6, 0.7, 0.9]), 0.5)
    assert found.auroc is None and found.fpr_at_95_tpr is None and found.exit_recall == 0.75


@pytest.mark.parametrize("target", [0.001, 0.01, 0.1, 0.3])
def test_max_false_exit_calibration_meets_its_goal_with_the_lowest_threshold(target):
    rng = np.random.default_rng(3)
    truth = np.r_[np.zeros(2000, bool), np.ones(800, bool)]
    scores = np.r_[rng.beta(1, 8, 2000), rng.beta(8, 1, 800)].astype(np.float32)
    found = calibrate(truth, scores, "max_false_exit", target)
    exits = scores >= np.float32(found.threshold)
    allowed = int(np.floor(target * 2000))
    assert np.sum(exits[~truth]) <= allowed and found.false_exit_rate == np.mean(exits[~truth])
    lower = np.nextafter(np.float32(found.threshold), np.float32(0))  # one float32 step lower lets one more exit
    assert np.sum(scores[~truth] >= lower) > allowed
    assert found.split == "val" and found.main_images == 2000 and found.images == 2800
    assert any(row[0] == found.threshold for row in found.sweep)
    assert found.upper_95 == pytest.approx(upper_bound(int(np.sum(exits[~truth])), 2000))


@pytest.mark.parametrize(("total", "target"), [(2995, 0.001), (9290, 0.001), (500, 0.05), (40, 0.2)])
def test_certified_count_is_the_largest_count_whose_upper_bound_meets_the_target(total, target):
    allowed = certified_count(total, target, 0.95)
    assert upper_bound(allowed, total) <= target < upper_bound(allowed + 1, total)
    assert images_to_certify(target, 0.95) <= total  # each case has enough images for none to exit
    assert certified_count(images_to_certify(target, 0.95) - 1, target, 0.95) == -1


def test_a_certified_goal_lets_fewer_validation_images_exit_and_bounds_their_rate():
    rng = np.random.default_rng(5)
    truth = np.r_[np.zeros(9000, bool), np.ones(3000, bool)]
    scores = np.r_[rng.beta(1, 8, 9000), rng.beta(8, 1, 3000)].astype(np.float32)
    plain = calibrate(truth, scores, "max_false_exit", 0.001)
    certified = calibrate(truth, scores, "max_false_exit", 0.001, confidence=0.95)
    assert certified.threshold > plain.threshold and certified.confidence == 0.95 and plain.confidence is None
    exits = int(np.sum(scores[~truth] >= np.float32(certified.threshold)))
    assert exits == certified_count(9000, 0.001, 0.95) and certified.upper_95 <= 0.001
    # the guarantee itself: over fresh draws of the same score distribution, the rate stays under the target
    fresh = rng.beta(1, 8, 2_000_000).astype(np.float32)
    assert np.mean(fresh >= np.float32(certified.threshold)) <= 0.001


def test_a_goal_too_strict_to_certify_on_the_images_counted_is_a_one_line_error():
    truth = np.r_[np.zeros(2994, bool), np.ones(10, bool)]
    scores = np.r_[np.linspace(0, 0.4, 2994), np.linspace(0.6, 1, 10)].astype(np.float32)
    with pytest.raises(ConfigError, match=r"needs at least 2,995 main-class validation images, got 2,994") as caught:
        calibrate(truth, scores, "max_false_exit", 0.001, confidence=0.95)
    assert "\n" not in str(caught.value)
    for bad in (0.0, 1.0, float("nan")):
        with pytest.raises(ConfigError, match="calibration confidence must be in"):
            calibrate(truth, scores, "max_false_exit", 0.001, confidence=bad)


def test_upper_bound_matches_the_closed_form_for_zero_events():
    # Clopper-Pearson with no event: 1 - (1 - confidence) ** (1 / n); with all events: 1
    assert upper_bound(0, 516) == pytest.approx(1 - 0.05 ** (1 / 516))
    assert upper_bound(7, 7) == 1.0 and upper_bound(1, 1000) > upper_bound(0, 1000)


def test_a_goal_finer_than_the_validation_split_resolves_is_warned_about():
    truth = np.r_[np.zeros(500, bool), np.ones(100, bool)]
    scores = np.r_[np.linspace(0, 0.4, 500), np.linspace(0.6, 1, 100)].astype(np.float32)
    with pytest.warns(UserWarning, match=r"cannot be resolved on 500 validation images"):
        found = calibrate(truth, scores, "max_false_exit", 0.001)
    assert found.false_exit_rate == 0 and found.threshold > 0.4 and found.upper_95 > 0.005


def test_exit_rate_calibration_and_ties():
    truth = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    scores = np.array([0.1, 0.2, 0.6, 0.6, 0.6, 0.8, 0.9, 0.9], np.float32)
    found = calibrate(truth, scores, "exit_rate", 0.5)  # 4 of 8 may exit: 0.6 is tied three times, so only 3 do
    assert found.exit_rate == 3 / 8 and found.threshold > 0.6
    tied = calibrate(truth, scores, "max_false_exit", 0.25)  # 1 of 4 main images may exit; both 0.6s would
    assert tied.false_exit_rate == 0 and tied.exit_recall == 3 / 4


def test_unreachable_and_bad_goals_are_one_line_errors():
    truth = np.array([0, 0, 1], bool)
    with pytest.raises(ConfigError, match=r"max_false_exit=0\.001 is unreachable.*2 of 2"):
        calibrate(truth, np.array([1.0, 1.0, 1.0], np.float32), "max_false_exit", 0.001)
    for goal, target, needle in (("max_false_exit", 1.5, "max_false_exit=1.5"), ("exit_rate", 0.0, "exit_rate=0.0"),
                                 ("max_false_exit", float("nan"), "max_false_exit=nan"), ("recall", 0.5, "'recall'")):
        with pytest.raises(ConfigError, match=needle) as caught:
            calibrate(truth, np.array([0.1, 0.2, 0.9]), goal, target)
        assert "\n" not in str(caught.value)


@pytest.fixture(scope="module")
def calibrated_dir(tmp_path_factory, tiny_backbone):
    from convbench.cli import main

    out = tmp_path_factory.mktemp("calibrated")
    rc = main(["early-exit", "train", "--main", "ee_main", "--redundant", "ee_redundant", "--redundancy", "0.5",
               "--backbone", tiny_backbone, "--epochs", "2", "--max-false-exit", "0.05", "--out", str(out)])
    assert rc == 0
    return out


@pytest.mark.slow
def test_calibrated_threshold_is_recorded_and_used_by_the_deployed_files(calibrated_dir, cli):
    from convbench.checks import CalibrationGoal
    from convbench.early_exit.evaluation import TrainedFolder
    from convbench.early_exit.training import CalibrationPlan, calibrate_on
    from convbench.train.splits import training_splits

    card = read_card(calibrated_dir / "early_exit" / "model.keras")
    chosen = card.early_exit.calibration
    assert chosen["goal"] == "max_false_exit" and chosen["target"] == 0.05 and chosen["split"] == "val"
    assert chosen["false_exit_rate"] <= 0.05 and read_json(calibrated_dir / "training.json")["calibration"] == chosen
    # the goal holds on the validation split when it is drawn again from the mix (never on test)
    from convbench.data import build_mix
    from convbench.export.early_exit import load_early_exit

    trained = TrainedFolder.open(calibrated_dir)
    mixed = build_mix(*trained.pools(), trained.mix)
    model, _ = load_early_exit(calibrated_dir / "early_exit" / "model.keras")
    assert model.threshold == pytest.approx(chosen["threshold"])
    val = training_splits(mixed, val_fraction=TRAIN_DEFAULTS.val_fraction, seed=TRAIN_DEFAULTS.seed)["val"]
    again = calibrate_on(model, val, card.preprocessing, CalibrationPlan(CalibrationGoal("max_false_exit", 0.05)))
    assert again.threshold == pytest.approx(chosen["threshold"], rel=1e-5)

    rc, _, err = cli("early-exit", "eval", calibrated_dir, "--limit", "30", "--repeats", "1")
    assert rc == 0, err
    result = read_json(calibrated_dir / "eval.json")
    assert result["threshold"] == pytest.approx(chosen["threshold"])
    single = read_card(calibrated_dir / "early_exit.tflite")
    assert single.early_exit.default_threshold == chosen["threshold"]


@pytest.mark.parametrize(("args", "culprit"), [
    (("--max-false-exit", "1.5"), "max_false_exit=1.5"),
    (("--exit-rate", "0"), "exit_rate=0.0"),
    (("--max-false-exit", "0.01", "--exit-rate", "0.5"), "not both"),
    (("--calibration-images", "100"), "calibration_images=100 needs a calibration goal"),
    (("--exit-rate", "0.5", "--calibration-images", "100"), "calibration_images=100 counts main-class images only"),
    (("--max-false-exit", "0.01", "--calibration-confidence", "1.5"), "confidence=1.5"),
    (("--max-false-exit", "0.01", "--calibration-images", "-3"), "calibration_images=-3"),
    (("--augment-cues", "polarity,hue"), "unknown cue 'hue'"),
])
def test_train_refuses_bad_calibration_goals_in_one_line(cli, tmp_path, args, culprit):
    rc, _, err = cli("early-exit", "train", "--main", "ee_main", "--redundant", "ee_redundant", "--epochs", "1",
                     *args, "--out", tmp_path / "run")
    assert_one_line_error(rc, err, culprit)
    assert not (tmp_path / "run" / "training.json").exists()


def test_train_refuses_bad_open_world_options_before_keras_loads(tmp_path):
    """The one-line error comes before Keras or TensorFlow is imported (so before either has logged a line)."""
    bad = (("--augment-cues", "hue"), ("--calibration-images", "100"))
    code = ("import sys\nfrom convbench.cli import main\n"
            f"for args in {bad!r}:\n"
            "    print(main(['early-exit', 'train', '--main', 'digits', '--redundant', 'digits', *args, "
            f"'--out', {str(tmp_path / 'run')!r}]))\n"
            "print([m for m in ('keras', 'tensorflow') if m in sys.modules])\n")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    *codes, imported = ran.stdout.splitlines()
    assert all(code != "0" for code in codes) and imported == "[]", ran.stderr
    errors = ran.stderr.strip().splitlines()
    assert len(errors) == 2 and "'hue'" in errors[0] and "calibration_images=100" in errors[1], ran.stderr


def test_report_draws_the_validation_sweep_with_the_chosen_point(tmp_path):
    from convbench.report.early_exit_section import threshold_sweep_plot

    truth = np.r_[np.zeros(3000, bool), np.ones(1000, bool)]
    scores = np.r_[np.random.default_rng(0).beta(1, 9, 3000), np.random.default_rng(1).beta(9, 1, 1000)]
    found = calibrate(truth, scores.astype(np.float32), "max_false_exit", 0.001)
    path = threshold_sweep_plot(found, tmp_path / "sweep.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and len(found.sweep) > 40


@pytest.mark.slow
def test_calibrating_a_trained_folder_again_retrains_nothing(cli, tmp_path, tiny_backbone):
    train = ("early-exit", "train", "--main", "ee_main", "--redundant", "ee_redundant", "--redundancy", "0.5",
             "--backbone", tiny_backbone, "--epochs", "1", "--out", tmp_path)
    rc, _, err = cli(*train)
    assert rc == 0, err
    assert "calibration" not in read_json(tmp_path / "training.json")
    rc, out, err = cli(*train, "--exit-rate", "0.4")
    assert rc == 0, err
    report = read_json(tmp_path / "early_exit" / "training.json")
    assert report["resumed_from_epoch"] == 1 and report["calibration"]["goal"] == "exit_rate"
    assert report["calibration"]["exit_rate"] <= 0.4 and "calibrated on validation for exit_rate" in out


@pytest.mark.slow
def test_a_certified_calibration_counts_held_out_main_images_and_records_them(cli, tmp_path, tiny_backbone):
    rc, out, err = cli("early-exit", "train", "--main", "ee_main", "--redundant", "ee_redundant", "--redundancy",
                       "0.5", "--backbone", tiny_backbone, "--epochs", "1", "--max-train", "300",
                       "--max-false-exit", "0.05", "--calibration-confidence", "0.9", "--calibration-images", "150",
                       "--out", tmp_path)
    assert rc == 0, err
    chosen = read_card(tmp_path / "early_exit" / "model.keras").early_exit.calibration
    assert chosen["split"] == "val+held-out main" and chosen["held_out_main_images"] == 150
    assert chosen["confidence"] == 0.9 and chosen["main_images"] > 150
    counted, exits = chosen["main_images"], round(chosen["false_exit_rate"] * chosen["main_images"])
    assert exits <= certified_count(counted, 0.05, 0.9) and upper_bound(exits, counted, 0.9) <= 0.05
    assert "+ 150 held-out main images" in out and "certified at 0.9" in out


def test_report_caption_names_the_held_out_images_and_the_certified_goal(tmp_path):
    from convbench.report.early_exit_section import _calibration_figure

    rng = np.random.default_rng(2)
    truth = np.r_[np.zeros(4000, bool), np.ones(500, bool)]
    scores = np.r_[rng.beta(1, 9, 4000), rng.beta(9, 1, 500)].astype(np.float32)
    found = dataclasses.replace(calibrate(truth, scores, "max_false_exit", 0.001, confidence=0.95),
                                split="val+held-out main", held_out_main_images=3000)
    caption = _calibration_figure("m", found, tmp_path).caption
    assert "the validation split and 3,000 held-out main images" in caption
    assert "certified for new images at confidence 0.95" in caption and "of 4,000 main images" in caption
