"""Exits anywhere: every exit point every registered backbone declares builds, trains a step, splits into stem /
exit head / rest that add up (outputs and MACs), exports to both deployed forms, and the exported files decide
as Keras does on real digits. Parametrized from the registry, so a new architecture's points are tested unedited."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pytest

from convbench.artifacts import EarlyExitSettings, ModelCard
from convbench.data import Preprocessing, load
from convbench.early_exit.measurement import decide
from convbench.export.early_exit import export_early_exit
from convbench.models import defaults, exit_points, list_models
from convbench.models.early_exit import EarlyExitModel, early_exit
from convbench.models.macs import count_macs
from convbench.runtime.early_exit import open_early_exit_runner
from convbench.train.loop import write_outputs

SIDE, WIDTH, CLASSES = 32, 0.1, 3  # tiny: two main classes (digits 0, 1) and the redundant one (2-9)
POINTS = [(arch, point.name) for arch in list_models() for point in exit_points(arch)]
# Export: each backbone's shallowest and deepest point (the stem and the rest at their extremes); the points between
# split the same way, and every one of them is built, trained and split above. Three conversions per point.
EXPORTED = [(arch, point) for arch in list_models() if (names := [p.name for p in exit_points(arch)])
            for point in dict.fromkeys((names[0], names[-1]))]


def test_the_zoo_declares_exit_points_through_the_registry():
    declared = {arch: [p.name for p in exit_points(arch)] for arch in list_models()}
    assert declared["vgg19"] == [f"block{b}" for b in range(1, 6)]
    assert declared["mobilenet_v1"] == [f"stage{s}" for s in range(1, 6)]
    assert declared["mobilenet_v2"] == [f"stage{s}" for s in range(1, 8)]
    assert declared["alexnet"] == declared["alexnet_separable"] == ["stage1", "stage2", "stage3"]
    assert declared["stagenet"] == []  # its stages are its options: no fixed point to declare
    assert all(defaults(arch).exit_points == exit_points(arch) for arch in list_models())


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """64 real digits at 32x32x1 in [0, 1], labels 0, 1 (main) and 2 (redundant: any other digit)."""
    data = load("digits")
    images = Preprocessing((SIDE, SIDE), 1)(data.train.images[:64])
    return images, np.minimum(data.train.labels[:64], 2)


@pytest.mark.parametrize(("arch", "point"), POINTS, ids=[f"{a}-{p}" for a, p in POINTS])
def test_every_point_builds_trains_and_splits_into_parts_that_add_up(arch, point, digits, tmp_path):
    images, labels = digits
    keras.utils.set_random_seed(0)
    model = early_exit((SIDE, SIDE, 1), CLASSES, WIDTH, backbone=arch, exit_after=point, dropout=0.0)
    assert model.get_layer("exit_pool").input is model.get_layer(model.exit_layer).output  # hangs off the point
    assert model.exit_layer.startswith(next(p.block for p in exit_points(arch) if p.name == point))

    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)  # one step: tracing would dominate
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(images[:32], labels[:32], return_dict=True)["loss"]
    assert np.isfinite(loss) and any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(),
                                                                              strict=True))

    split = model.mac_split()  # the three parts add up to the whole network
    assert split.stem + split.exit_head + split.rest == sum(row.macs for row in count_macs(model))
    assert split.stem > 0 and split.exit_head > 0 and 0 < split.stem_share < 1
    segments = model.segments()
    reference = model(images[:8], training=False)
    features = segments.stem(images[:8])
    np.testing.assert_allclose(segments.exit_head(features), reference["exit"], atol=1e-5)
    np.testing.assert_allclose(segments.rest(features), reference["main"], atol=1e-5)

    loaded = keras.models.load_model(_saved(model, arch, point, tmp_path))
    assert isinstance(loaded, EarlyExitModel) and loaded.exit_layer == model.exit_layer
    np.testing.assert_allclose(loaded(images[:8], training=False)["exit"], reference["exit"], atol=1e-6)


@pytest.mark.slow  # three LiteRT conversions per point
@pytest.mark.parametrize(("arch", "point"), EXPORTED, ids=[f"{a}-{p}" for a, p in EXPORTED])
def test_first_and_last_point_export_both_forms_that_decide_as_keras(arch, point, digits, tmp_path):
    images, _ = digits
    keras.utils.set_random_seed(0)  # untrained weights: parity does not depend on them
    model = early_exit((SIDE, SIDE, 1), CLASSES, WIDTH, backbone=arch, exit_after=point, dropout=0.0)
    exported = export_early_exit(_saved(model, arch, point, tmp_path))
    x = images[:12]
    reference = model(x, training=False)
    p_redundant = np.asarray(reference["exit"][:, 1])
    threshold = float(np.median(p_redundant))  # about half the images take each path
    expected = decide(p_redundant, np.asarray(reference["main"]), threshold)
    near = np.abs(p_redundant - threshold) < 1e-5  # a float32 tie may fall either way
    for file in (exported.single, exported.stem):
        runner = open_early_exit_runner(file, threshold=threshold)
        runner.load()
        for i, image in enumerate(x):
            runner.set_input(image[None])
            runner.invoke()
            np.testing.assert_allclose(runner.exit_probabilities()[1], p_redundant[i], atol=1e-5)
            if not near[i]:
                assert int(np.argmax(runner.get_output())) == expected[i]
            if not runner.exited:
                np.testing.assert_allclose(runner.main_probabilities(), reference["main"][i], atol=1e-5)


def _saved(model: EarlyExitModel, arch: str, point: str, out: Path) -> Path:
    split = model.mac_split()
    card = ModelCard(f"early_exit_{arch}", WIDTH, (SIDE, SIDE, 1), ("0", "1", "redundant"),
                     Preprocessing((SIDE, SIDE), 1),
                     early_exit=EarlyExitSettings(arch, point, dataclasses.asdict(split), split.stem_share,
                                                  split.exit_share))
    path, _ = write_outputs(out, model, card)
    return path


def test_a_model_saved_before_exit_layer_existed_still_loads_and_splits(tmp_path):
    model = early_exit((SIDE, SIDE, 1), CLASSES, 0.0625, exit_after="block2")
    path = _saved(model, "vgg19", "block2", tmp_path)
    config = model.get_config()
    del config["exit_layer"]  # what files written before exits could follow any point hold
    legacy = EarlyExitModel.from_config(config)
    assert legacy.exit_layer == "block2_pool" and legacy.mac_split() == model.mac_split()
    loaded = keras.models.load_model(path)
    assert loaded.exit_layer == "block2_pool"
    legacy.set_weights(loaded.get_weights())
    x = np.random.default_rng(0).random((2, SIDE, SIDE, 1), dtype=np.float32)
    segments = legacy.segments()
    np.testing.assert_allclose(segments.rest(segments.stem(x)), loaded(x, training=False)["main"], atol=1e-5)
