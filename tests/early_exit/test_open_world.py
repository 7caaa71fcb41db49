"""The exit in the open world, on real digits: several redundant sources mixed at their shares, the cue-removing
augmentation, per-source evaluation end to end (each source on its own test mix), the study's runs and sources,
and one-line errors for an empty source or one whose images cannot be brought to the model's input."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np
import pytest
from pydantic import ValidationError
from support import assert_one_line_error

from convbench.artifacts import read_card
from convbench.checks import cue_names
from convbench.data import Dataset, MixSettings, Split, build_mix, list_datasets, load, load_pools, register_dataset
from convbench.data.mix import RedundantSource, spare_main_images
from convbench.early_exit.training import remove_cues, with_cues_removed
from convbench.errors import ConfigError
from convbench.io import read_json
from convbench.train.splits import training_splits
from convbench.vocabulary import CUES, CueName

SOURCE_A, SOURCE_B = (7, 8), (9,)  # two redundant sources cut from the digits the main set (0-6) lacks


def _digits(digits: tuple[int, ...], name: str) -> Dataset:
    full = load("digits")
    part = full.train.take(np.isin(full.train.labels, digits))
    labels = np.searchsorted(np.array(digits), part.labels).astype(np.int64)
    return Dataset(name, tuple(f"d{d}" for d in digits), Split(part.images, labels), None, name, {})


if "ee_source_a" not in {info.name for info in list_datasets()}:

    @register_dataset("ee_source_a", layout="test stand-in: embedded digits 7 and 8", needs_path=False)
    def _source_a(path: Path | None = None, skip_bad_images: bool = False) -> Dataset:
        return _digits(SOURCE_A, "ee_source_a")

    @register_dataset("ee_source_b", layout="test stand-in: embedded digit 9", needs_path=False)
    def _source_b(path: Path | None = None, skip_bad_images: bool = False) -> Dataset:
        return _digits(SOURCE_B, "ee_source_b")

    @register_dataset("ee_source_empty", layout="test stand-in: a redundant source without images", needs_path=False)
    def _source_empty(path: Path | None = None, skip_bad_images: bool = False) -> Dataset:
        return Dataset("ee_source_empty", ("nothing",), Split(np.zeros((0, 8, 8, 1), np.uint8),
                                                              np.zeros(0, np.int64)), None, "ee_source_empty", {})

    @register_dataset("ee_source_two_channel", layout="test stand-in: 2-channel images", needs_path=False)
    def _source_two_channel(path: Path | None = None, skip_bad_images: bool = False) -> Dataset:
        images = np.random.default_rng(0).integers(0, 255, (40, 8, 8, 2), dtype=np.uint8)
        return Dataset("ee_source_two_channel", ("blob",), Split(images, np.zeros(40, np.int64)), None,
                       "ee_source_two_channel", {})


def _mix(shares: tuple[float, float], redundancy: float | None) -> MixSettings:
    sources = (RedundantSource("ee_source_a", shares[0]), RedundantSource("ee_source_b", shares[1]))
    return MixSettings("ee_main", "ee_source_a+ee_source_b", redundancy, False, (32, 32), 1, None, 0, sources)


@pytest.mark.parametrize(("shares", "redundancy"), [((0.75, 0.25), 0.5), ((1, 1), 0.3), ((0.2, 0.8), None)])
def test_several_sources_keep_their_shares_in_every_split_of_the_mix(shares, redundancy):
    settings = _mix(shares, redundancy)
    main, redundant = load_pools(settings)
    assert redundant.class_names == ("ee_source_a/d7", "ee_source_a/d8", "ee_source_b/d9")
    mixed = build_mix(main, redundant, settings)
    want = np.array(shares) / sum(shares)
    for name in ("train", "test"):
        part = getattr(redundant, name)
        from_a = int(np.sum(part.labels < 2))
        assert abs(from_a - want[0] * len(part)) <= 1, (name, from_a, len(part))
        # the mix keeps every pooled redundant image, so the shares reach it unchanged
        assert np.sum(getattr(mixed, name).labels == main.num_classes) == len(part)
        if redundancy is not None:  # too few redundant images: the mix drops main ones to reach the share
            assert np.mean(getattr(mixed, name).labels == main.num_classes) == pytest.approx(redundancy, abs=0.01)


def test_mix_settings_round_trip_and_one_source_mixes_record_what_they_always_did():
    settings = _mix((3, 1), 0.5)
    assert MixSettings.from_dict(settings.to_dict()) == settings
    single = MixSettings("ee_main", "ee_redundant", 0.5, False, (32, 32), 1)
    assert "sources" not in single.to_dict() and MixSettings.from_dict(single.to_dict()) == single


def test_remove_cues_flips_polarity_and_varies_brightness_and_contrast():
    images = np.tile(np.arange(0, 256, 4, dtype=np.uint8).reshape(1, 8, 8, 1), (400, 1, 1, 1))
    out = remove_cues(images, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.shape == images.shape
    first_pixel = out[:, 0, 0, 0].astype(int)
    last_pixel = out[:, -1, -1, 0].astype(int)
    flipped = first_pixel > last_pixel  # the ramp runs the other way
    assert 0.4 < flipped.mean() < 0.6
    assert np.std(out.reshape(400, -1).mean(axis=1)) > 20  # brightness spread
    assert np.std(out.reshape(400, -1).std(axis=1)) > 5  # contrast spread


@pytest.mark.parametrize("cues", [("polarity",), ("brightness", "contrast"), ("contrast",), ()])
def test_remove_cues_varies_only_the_cues_named_with_the_same_draws(cues):
    images = np.tile(np.arange(0, 256, 4, dtype=np.uint8).reshape(1, 8, 8, 1), (400, 1, 1, 1))
    out = remove_cues(images, np.random.default_rng(0), cues).astype(int)
    every = remove_cues(images, np.random.default_rng(0)).astype(int)  # all cues, same seed
    flipped = out[:, 0, 0, 0] > out[:, -1, -1, 0]
    assert flipped.any() == ("polarity" in cues)
    assert np.array_equal(flipped, every[:, 0, 0, 0] > every[:, -1, -1, 0]) or "polarity" not in cues
    spread = out.reshape(400, -1).std(axis=1)  # a contrast factor changes the ramp's spread
    assert (np.ptp(spread) > 5) == ("contrast" in cues)
    brightness = out.reshape(400, -1).mean(axis=1) - images.reshape(400, -1).mean(axis=1)
    assert (np.std(brightness) > 20) == ("brightness" in cues)
    if not cues:
        assert np.array_equal(out, images)


@pytest.mark.parametrize(("value", "expected"), [(True, CUES), (False, ()), ("all", CUES), ("none", ()),
                                                 ("contrast, polarity", ("polarity", "contrast")),
                                                 (["brightness"], ("brightness",))])
def test_cue_names_accepts_flags_lists_and_comma_separated_names(value, expected):
    assert cue_names(value) == expected


def test_the_typed_cue_names_are_the_vocabulary_cues():
    assert get_args(CueName) == CUES


def test_cue_names_refuses_an_unknown_cue_naming_it():
    with pytest.raises(ConfigError, match=r"unknown cue 'hue'; known: polarity, brightness, contrast"):
        cue_names("brightness,hue")


def _indexed(name: str, classes: int, per_class: int, first: int) -> Dataset:
    """A set whose every image carries its own id (``first`` + index) in its first two pixels, to trace it."""
    ids = first + np.arange(classes * per_class)
    images = np.zeros((len(ids), 4, 4, 1), np.uint8)
    images[:, 0, 0, 0], images[:, 0, 1, 0] = ids // 256, ids % 256
    labels = np.repeat(np.arange(classes), per_class)
    split = Split(images, labels)
    return Dataset(name, tuple(f"{name}{k}" for k in range(classes)), split, split, name)


def _ids(part: Split) -> set[int]:
    return set((part.images[:, 0, 0, 0].astype(int) * 256 + part.images[:, 0, 1, 0]).tolist())


def test_spare_main_images_are_main_class_images_the_capped_training_mix_left_out():
    main, redundant = _indexed("m", 3, 100, 0), _indexed("r", 2, 100, 1000)
    settings = MixSettings("m", "r", 0.4, False, (4, 4), 1, 150, 0)
    mixed = build_mix(main, redundant, settings)
    spare = spare_main_images(main, redundant, settings, 120)
    assert len(spare) == 120 and len(_ids(spare)) == 120 and np.all(spare.labels < main.num_classes)
    assert not _ids(spare) & _ids(mixed.train)  # never trained on nor validated on
    assert _ids(spare) <= set(range(300))  # main images only
    assert _ids(spare_main_images(main, redundant, settings, 120)) == _ids(spare)  # seeded
    with pytest.raises(ConfigError, match=r"calibration_images=500: .*leaves only 210 main-class images"):
        spare_main_images(main, redundant, settings, 500)
    uncapped = MixSettings("m", "r", 0.4, False, (4, 4), 1, None, 0)
    with pytest.raises(ConfigError, match="leaves only 0 main-class images"):
        spare_main_images(main, redundant, uncapped, 1)


def test_cue_augmentation_leaves_validation_and_test_images_alone(digit_mix):
    augmented = with_cues_removed(digit_mix, val_fraction=0.2, seed=0)
    before = training_splits(digit_mix, val_fraction=0.2, seed=0)
    after = training_splits(augmented, val_fraction=0.2, seed=0)
    assert np.array_equal(before["val"].images, after["val"].images)
    assert np.array_equal(before["test"].images, after["test"].images)
    changed = np.any(before["train"].images != after["train"].images, axis=(1, 2, 3))
    assert changed.mean() > 0.9 and np.array_equal(before["train"].labels, after["train"].labels)


@pytest.mark.slow
def test_training_on_several_sources_records_them_and_respects_their_shares(cli, tmp_path, tiny_backbone):
    from convbench.early_exit.evaluation import TrainedFolder

    rc, _, err = cli("early-exit", "train", "--main", "ee_main", "--redundant", "ee_source_a", "--redundant",
                     "ee_source_b", "--redundant-share", "3", "--redundant-share", "1", "--augment-cues", "all",
                     "--outlier-exposure", "ee_redundant", "--outlier-share", "0.2",
                     "--redundancy", "0.5", "--backbone", tiny_backbone, "--epochs", "1", "--out", tmp_path)
    assert rc == 0, err
    card = read_card(tmp_path / "early_exit" / "model.keras")
    assert card.early_exit.open_world == {
        "sources": [{"spec": "ee_source_a", "share": pytest.approx(0.6), "role": "redundant"},
                    {"spec": "ee_source_b", "share": pytest.approx(0.2), "role": "redundant"},
                    {"spec": "ee_redundant", "share": 0.2, "role": "outlier_exposure"}],
        "augment_cues": ["polarity", "brightness", "contrast"]}
    trained = TrainedFolder.open(tmp_path)
    assert [s.spec for s in trained.mix.sources] == ["ee_source_a", "ee_source_b", "ee_redundant"]
    _, redundant = trained.pools()  # rebuilt from the recorded specs, as every evaluation rebuilds it
    from_source = [np.sum(np.char.startswith(np.array(redundant.class_names)[redundant.train.labels], f"{name}/"))
                   for name in ("ee_source_a", "ee_source_b", "ee_redundant")]
    assert np.allclose(np.array(from_source) / len(redundant.train), [0.6, 0.2, 0.2], atol=1 / len(redundant.train))


@pytest.mark.parametrize(("args", "culprit"), [
    (("--redundant", "ee_source_a", "--redundant", "ee_source_b", "--redundant-share", "1"), "redundant_shares"),
    (("--redundant", "ee_source_a", "--redundant-share", "-1"), "redundant_share=-1.0"),
    (("--redundant", "ee_source_a", "--outlier-exposure", "ee_source_b", "--outlier-share", "1.5"),
     "outlier_share=1.5"),
])
def test_train_refuses_bad_source_shares_in_one_line(cli, tmp_path, args, culprit):
    rc, _, err = cli("early-exit", "train", "--main", "ee_main", *args, "--epochs", "1", "--out", tmp_path / "run")
    assert_one_line_error(rc, err, culprit)
    assert not (tmp_path / "run" / "training.json").exists()


def test_train_early_exit_options_are_checked_when_built(tiny_backbone):
    """Each record ``train_early_exit`` takes refuses a bad value when built, naming it, before any data is loaded."""
    from convbench.early_exit.placement import PlacementOptions
    from convbench.early_exit.training import MixOptions, NetworkOptions, OpenWorldOptions
    from convbench.errors import ModelError

    bad = [(lambda: MixOptions(redundancy=1.0), ConfigError, "redundancy=1.0"),
           (lambda: MixOptions(max_train=1), ConfigError, "max_train=1"),
           (lambda: OpenWorldOptions(augment_cues=["glare"]), ConfigError, "glare"),
           (lambda: OpenWorldOptions(outlier_exposure="ee_redundant", outlier_share=1.5), ConfigError,
            "outlier_share=1.5"),
           (lambda: NetworkOptions(tiny_backbone, "block9"), ModelError, "block9"),
           (lambda: NetworkOptions(tiny_backbone, ["block1", "block1"]), ConfigError, "each point once"),
           (lambda: NetworkOptions(tiny_backbone, "auto"), ConfigError, "time_placement"),
           (lambda: NetworkOptions(tiny_backbone, model_options={"dropout": 0.5}), ConfigError, "dropout")]
    for build, error, culprit in bad:
        with pytest.raises(error, match=culprit):
            build()
    assert OpenWorldOptions(augment_cues=True).augment_cues == CUES
    assert OpenWorldOptions(augment_cues="contrast,polarity").augment_cues == ("polarity", "contrast")
    assert OpenWorldOptions(outlier_share=1.5).outlier_share == 1.5  # no outlier-exposure set: the share is unused
    sweep = PlacementOptions(timer=lambda *_: None)  # a sweep needs its timer (never called here)
    network = NetworkOptions(tiny_backbone, ["block2", "block1"], [8], placement=sweep)
    assert (network.exit_after, network.exit_head, network.points()) == (("block2", "block1"), (8,),
                                                                         ("block2", "block1"))
    assert network.backbone_options() == {"dropout": 0.0}


@pytest.mark.slow
def test_eval_scores_each_redundant_source_on_its_own_test_mix(cli, trained_dir, tmp_path):
    rc, out, err = cli("early-exit", "eval", trained_dir, "--redundant", "ee_redundant", "--redundant", "ee_source_b",
                       "--limit", "40", "--repeats", "1", "--out", tmp_path)
    assert rc == 0, err
    assert "the exit on each redundant source" in out and "AUROC" in out
    result = read_json(tmp_path / "eval.json")
    rows = result["by_source"]
    assert [row["source"] for row in rows] == ["ee_redundant", "ee_source_b"]
    for row in rows:
        assert 0 <= row["auroc"] <= 1 and 0 <= row["fpr_at_95_tpr"] <= 1 and row["images"] == 40
        assert row["redundant_images"] == 20 and row["threshold"] == 0.5
    first = next(r for r in result["rows"] if r["model"] == "early exit")
    # the forced-full-path scores give the same decisions as the timed deployed runs
    assert rows[0]["exit_accuracy"] == first["exit_accuracy"] and rows[0]["exit_recall"] == first["exit_recall"]
    assert result["rejection"] == {k: rows[0][k] for k in result["rejection"]}
    assert rows[1]["saving"] != rows[0]["saving"]  # timed on its own mix


@pytest.mark.parametrize(("source", "culprit"), [
    ("ee_source_empty", ("ee_source_empty", "no images")),
    ("ee_source_two_channel", ("redundant source 'ee_source_two_channel': cannot bring its 2-channel images",)),
])
def test_train_refuses_an_unusable_redundant_source_in_one_line(cli, tmp_path, source, culprit):
    rc, _, err = cli("early-exit", "train", "--main", "ee_main", "--redundant", "ee_redundant", "--redundant", source,
                     "--epochs", "1", "--out", tmp_path / "run")
    assert_one_line_error(rc, err, *culprit)
    assert not (tmp_path / "run" / "training.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("source", "culprit"), [
    ("ee_source_empty", ("ee_source_empty", "no images")),
    ("ee_source_two_channel", ("ee_source_two_channel", "to the model's 32x32x1 input")),
])
def test_eval_refuses_an_unusable_redundant_source_before_any_work(cli, trained_dir, tmp_path, source, culprit):
    rc, _, err = cli("early-exit", "eval", trained_dir, "--redundant", "ee_redundant", "--redundant", source,
                     "--out", tmp_path)
    assert_one_line_error(rc, err, *culprit)
    assert not list(tmp_path.glob("*.tflite")) and not (tmp_path / "eval.json").exists()  # refused before exporting


def test_study_plans_one_exit_per_run_each_tested_on_every_source(tiny_backbone):
    from convbench.experiment.kinds.early_exit_eval import EarlyExitEvalKind
    from convbench.experiment.kinds.early_exit_train import EarlyExitTrainKind
    from convbench.experiment.plan import make_plan
    from convbench.experiment.schema import DataConfig, EarlyExitConfig, Experiment

    early_exit = EarlyExitConfig(
        backbone=tiny_backbone, redundancy=0.5, max_false_exit=0.01, augment_cues=True,
        sources={"sevens_eights": "ee_source_a", "nines": "ee_source_b"},
        runs=[{"name": "without-nines", "train_on": {"sevens_eights": 1}},
              {"name": "both", "train_on": {"sevens_eights": 1, "nines": 3}, "augment_cues": False}])
    steps = make_plan(Experiment(name="ow", data=DataConfig(main="ee_main"), early_exit=early_exit))
    trains = [s for s in steps if s.kind == EarlyExitTrainKind.name]
    assert [s.name for s in trains] == ["early_exit_ee_tiny_vgg_1.00_block1_without-nines",
                                        "early_exit_ee_tiny_vgg_1.00_block1_both"]
    first, second = (s.settings for s in trains)
    assert first.sources == (("ee_source_a", 1.0),) and first.trained_on == ("sevens_eights",) and first.augment_cues
    assert second.sources == (("ee_source_a", 1.0), ("ee_source_b", 3.0)) and not second.augment_cues
    assert first.max_false_exit == 0.01
    evals = [s for s in steps if s.kind == EarlyExitEvalKind.name]
    assert len(evals) == 2 and all(s.settings.threshold is None for s in evals)  # the calibrated one
    assert evals[0].settings.test_sources == (("sevens_eights", "ee_source_a"), ("nines", "ee_source_b"))


def test_study_without_open_world_settings_keeps_its_step_keys(tiny_backbone):
    """Steps of an experiment that names no source, run or remedy hash what they hashed before (no retraining)."""
    from convbench.experiment.kinds.early_exit_train import EarlyExitTrainSettings

    settings = EarlyExitTrainSettings(backbone="vgg19", width=0.25, exit_after="block1", input_size=32, channels=1,
                                      invert_redundant=False, redundancy=0.5, max_train=None, dropout=0.0,
                                      epochs=1, batch_size=32, patience=1, seed=0, augment=False, val_fraction=0.1,
                                      data="ee_main", data_fingerprint="embedded", redundant="ee_redundant",
                                      redundant_fingerprint="embedded")
    dumped = settings.model_dump(mode="json", exclude_defaults=True)
    open_world = {"sources", "trained_on", "augment_cues", "outlier_exposure", "max_false_exit", "exit_rate",
                  "calibration_confidence", "calibration_images"}
    assert not open_world & set(dumped)


@pytest.mark.parametrize(("early_exit", "culprit"), [
    ({"sources": {"a": "ee_source_a"}, "runs": [{"name": "x", "train_on": {"b": 1}}]}, "unknown source 'b'"),
    ({"max_false_exit": 0.01, "exit_rate": 0.5}, "not both"),
    ({"sources": {"a": "ee_source_a"}, "runs": [{"name": "x", "train_on": {"a": 0}}]}, "greater than 0"),
    ({"augment_cues": ["polarity", "hue"]}, "'polarity', 'brightness' or 'contrast'"),
    ({"exit_rate": 0.5, "calibration_images": 100}, "calibration_images=100 counts main-class images only"),
    ({"calibration_confidence": 0.95}, "calibration_confidence=0.95 needs a calibration goal"),
    ({"max_false_exit": 0.001, "calibration_confidence": 1.0}, "less than 1"),
])
def test_schema_refuses_bad_open_world_settings(early_exit, culprit):
    from convbench.experiment.schema import EarlyExitConfig

    with pytest.raises(ValidationError, match=culprit):
        EarlyExitConfig(**early_exit)


def test_shipped_open_world_experiment_plans_leave_one_source_out():
    from convbench.experiment.files import load_experiment
    from convbench.experiment.plan import make_plan

    if not Path("../shared/data/mnist").is_dir():
        pytest.skip("real data not found at ../shared/data (run from the project root)")
    experiment = load_experiment("mnist-open-world-early-exit")
    ee = experiment.early_exit
    assert set(ee.sources) == {"omniglot", "cifar10", "gtsrb"} and ee.max_false_exit == 0.001
    assert ee.calibration_confidence == 0.95 and ee.calibration_images >= 2995  # certifiable on held-out alone
    for source in ee.sources:  # each source left out by a run without the remedies and one with both
        left_out = [run for run in ee.runs if source not in run.train_on and len(run.train_on) == 2]
        remedies = {(bool(run.augment_cues), run.outlier_exposure is not None) for run in left_out}
        assert {(False, False), (True, True)} <= remedies
    steps = make_plan(experiment)
    assert sum(s.kind == "early_exit_train" for s in steps) == len(ee.runs)


@pytest.mark.slow
def test_study_eval_step_tests_every_source_and_the_report_shows_the_matrix(trained_dir, tiny_backbone, tmp_path):
    """The CLI run's model (its checkpoints copied: no retraining) through the study's kinds with named sources."""
    from convbench.experiment.schema import DataConfig, EarlyExitConfig, Experiment, TrainConfig
    from convbench.report.early_exit_section import early_exit_sections

    early_exit = EarlyExitConfig(backbone=tiny_backbone, redundancy=0.5, limit=30, repeats=1,
                                 sources={"sevens_eights": "ee_source_a", "nines": "ee_source_b"})
    experiment = Experiment(name="ow", data=DataConfig(main="ee_main", redundant="ee_redundant"),
                            train=TrainConfig(epochs=3), early_exit=early_exit)
    results = _run_study(experiment, tmp_path, trained=trained_dir)
    (ee,) = results.early_exit
    by_source = ee.evaluation.by_source
    assert [row.source for row in by_source] == ["sevens_eights", "nines"]
    assert all(row.images == 30 and row.auroc is not None for row in by_source)
    sections = early_exit_sections(results.early_exit, tmp_path)
    matrix = sections[0]
    assert matrix.title.startswith("Early exit in the open world")
    table = matrix.blocks[0]
    assert table.columns == ["exit", "trained on", "sevens_eights", "nines"] and len(table.rows) == 1
    assert table.rows[0][:2] == [ee.model, "ee_redundant"]


@pytest.mark.slow
def test_study_exports_and_evaluates_a_one_source_run_and_one_with_outlier_exposure(tiny_backbone, tmp_path):
    """Every step of a study whose runs train on one source, and on two plus an outlier-exposure set: the export and
    evaluation rebuild each run's mix from every set it drew from (a one-source run's mix has no source list; the
    outlier set is a source of the mix but not a source the run is trained or tested on)."""
    from convbench.experiment.schema import DataConfig, EarlyExitConfig, Experiment, TrainConfig

    early_exit = EarlyExitConfig(
        backbone=tiny_backbone, redundancy=0.5, limit=30, repeats=1, epochs=1,
        sources={"sevens_eights": "ee_source_a", "nines": "ee_source_b"},
        runs=[{"name": "one-source", "train_on": {"sevens_eights": 1}},
              {"name": "outliers", "train_on": {"sevens_eights": 0.5, "nines": 0.5}, "augment_cues": True,
               "outlier_exposure": "ee_redundant"}])
    experiment = Experiment(name="ow", data=DataConfig(main="ee_main"), train=TrainConfig(epochs=1),
                            early_exit=early_exit)
    results = _run_study(experiment, tmp_path)
    assert [ee.training.trained_on for ee in results.early_exit] == [("sevens_eights",), ("sevens_eights", "nines")]
    for ee in results.early_exit:
        assert [row.source for row in ee.evaluation.by_source] == ["sevens_eights", "nines"]


def _run_study(experiment, root: Path, trained: Path | None = None):
    """Plan the early-exit train, export and eval kinds of ``experiment`` and run every step in ``root`` as the study
    runs them (the first training step starting from a copy of ``trained``, when given: no retraining); the results
    with every step's contribution."""
    import shutil

    from convbench.experiment.kinds.early_exit_eval import EarlyExitEvalKind
    from convbench.experiment.kinds.early_exit_export import EarlyExitExportKind
    from convbench.experiment.kinds.early_exit_train import EarlyExitTrainKind
    from convbench.experiment.results import StudyResults
    from convbench.experiment.step import DataCache, Done, Planned, StepContext, step_kind

    planned = Planned()
    for kind in (EarlyExitTrainKind, EarlyExitExportKind, EarlyExitEvalKind):
        planned.steps += step_kind(kind.name).plan(experiment, planned)
    if trained is not None:
        shutil.copytree(trained, root / planned.of(EarlyExitTrainKind)[0].folder)
    results, datasets = StudyResults(root, "ee_main", {}), DataCache()
    for step in planned.steps:
        ctx = StepContext(root / step.folder, tuple(results.finished[k] for k in step.needs), datasets,
                          progress=False)
        ctx.dir.mkdir(parents=True, exist_ok=True)
        results.finished[step.key] = Done(step, ctx.dir, step_kind(step.kind).run(step, ctx))
    for step in planned.steps:
        step_kind(step.kind).contribute(results.finished[step.key], results)
    return results


@pytest.mark.parametrize("name", ["training.json", "placement.json"])
def test_early_exit_training_never_replaces_a_users_own_file_at_the_top_of_its_folder(tmp_path, name):
    """The networks' folders are checked by the trainer; the run's own top-level files are checked too, before
    any data is loaded, and the user's file is left as it was."""
    from convbench.early_exit.training import train_early_exit

    mine = tmp_path / name
    mine.write_text('{"mine": true}')
    with pytest.raises(ConfigError, match=rf"{name}: not written by convbench"):
        train_early_exit("digits", "no-such-dataset", out=tmp_path)
    assert mine.read_text() == '{"mine": true}'
