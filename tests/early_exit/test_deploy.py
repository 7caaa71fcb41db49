"""Deployment: the single .tflite (IF op, no Flex ops) and the chained segments decide exactly as Keras does,
and the exit path is much faster than the full path where the analytic ratio says it should be."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from convbench.artifacts import EarlyExitSettings, ModelCard
from convbench.bench import Measurement, Timer
from convbench.data import Preprocessing
from convbench.early_exit.measurement import decide
from convbench.errors import ConfigError, ModelError
from convbench.export.early_exit import EarlyExitExport, export_early_exit, load_early_exit
from convbench.export.tflite import tflite_ops
from convbench.models.early_exit import early_exit
from convbench.runtime.early_exit import open_early_exit_runner
from convbench.train.loop import write_outputs


@pytest.fixture(scope="module")
def exported(trained_dir: Path) -> EarlyExitExport:
    return export_early_exit(trained_dir / "early_exit" / "model.keras")


def test_single_file_branches_with_an_if_op_and_needs_no_flex_ops(exported):
    ops = set(tflite_ops(exported.single.read_bytes()))
    assert "IF" in ops
    assert not any(op.startswith("Flex") for op in ops)
    for segment in (exported.stem, exported.rest):
        assert not any(op.startswith("Flex") for op in tflite_ops(segment.read_bytes()))


def test_both_forms_decide_as_keras_on_real_images(trained_dir, exported, digit_mix):
    model, card = load_early_exit(trained_dir / "early_exit" / "model.keras")
    x = card.preprocessing(digit_mix.test.images[:60])
    reference = model(x, training=False)
    p_redundant, main_probs = np.asarray(reference["exit"][:, 1]), np.asarray(reference["main"])
    ordered = np.sort(p_redundant)
    # a threshold halfway between two neighbouring probabilities: about half the images exit, none sits on it
    threshold = float(ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    expected = decide(p_redundant, main_probs, threshold)
    assert 0 < np.mean(expected == card.class_names.index("redundant")) < 1  # both paths are exercised

    for path in (exported.single, exported.stem):
        runner = open_early_exit_runner(path, threshold=0.5)
        runner.load()
        runner.threshold = threshold  # settable at run time
        for image, p_red, probs, decision in zip(x, p_redundant, main_probs, expected, strict=True):
            runner.set_input(image[None])
            runner.invoke()
            assert int(np.argmax(runner.get_output())) == decision
            assert runner.exited == (p_red >= threshold)
            np.testing.assert_allclose(runner.exit_probabilities()[1], p_red, atol=1e-5)
            if not runner.exited:
                np.testing.assert_allclose(runner.main_probabilities(), probs, atol=1e-5)
        np.testing.assert_array_equal(np.argmax(runner.predict(x), axis=1), expected)


def test_runner_refuses_bad_thresholds_and_wrong_files(exported):
    runner = open_early_exit_runner(exported.single)
    for bad in (0.0, 1.0, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="threshold"):
            runner.threshold = bad
    with pytest.raises(ModelError, match="stem segment"):
        open_early_exit_runner(exported.rest)


@pytest.fixture(scope="module")
def vgg_single(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """An (untrained: timing does not depend on the weights) VGG-19 α 0.25 with a block-1 exit, as one .tflite."""
    model = early_exit((32, 32, 1), 11, width=0.25)
    split = model.mac_split()
    card = ModelCard("early_exit_vgg19", 0.25, (32, 32, 1), (*map(str, range(10)), "redundant"),
                     Preprocessing((32, 32), 1),
                     early_exit=EarlyExitSettings("vgg19", "block1", dataclasses.asdict(split), split.stem_share,
                                                  split.exit_share))
    path, _ = write_outputs(tmp_path_factory.mktemp("vgg_exit"), model, card)
    return export_early_exit(path, forms=("single",)).single, (split.stem + split.exit_head) / split.backbone


def test_exit_path_is_much_faster_than_full_path(vgg_single):
    path, analytic_ratio = vgg_single
    assert analytic_ratio < 0.12
    runner = open_early_exit_runner(path)
    runner.load()
    image = np.random.default_rng(0).random((1, 32, 32, 1), dtype=np.float32)
    samples: dict[str, list[Measurement]] = {"exit": [], "full": []}
    for _ in range(8):  # alternate the paths so that a change in machine load hits both
        for which in samples:
            with runner.forced_path(which):
                samples[which].append(Timer(runner.invoke, setup=lambda: runner.set_input(image),
                                            description=which).timeit(25))
    exit_path, full_path = (Measurement.merge(samples[w])[0] for w in ("exit", "full"))
    assert exit_path.median < 0.5 * full_path.median, (exit_path.median, full_path.median)
