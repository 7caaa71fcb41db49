"""Timing the test mix as a deployment sees it (:func:`convbench.bench.early_exit.time_mix`): each model processes
the whole stream by itself, one call per image, in rounds; the decisions are each image's own call's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from convbench.artifacts import read_card
from convbench.bench.early_exit import full_outputs, time_mix
from convbench.errors import ConfigError
from convbench.experiment.early_exit_evaluation import EvaluationFiles, TrainedFolder, export_for_evaluation
from convbench.runtime import open_runner
from convbench.runtime.base import Runner
from convbench.runtime.early_exit import EarlyExitRunner, open_early_exit_runner

IMAGES = 12


@pytest.fixture(scope="module")
def files(trained_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> EvaluationFiles:
    trained = TrainedFolder.open(trained_dir)
    return export_for_evaluation(trained, trained.pools(), tmp_path_factory.mktemp("mix_timing"), ("single",))


@pytest.fixture(scope="module")
def images(trained_dir: Path, digit_mix) -> np.ndarray:
    """Distinct preprocessed test images (so that a call's image can be told from its input)."""
    x = read_card(trained_dir / "early_exit" / "model.keras").preprocessing(digit_mix.test.images)
    _, first = np.unique(x.reshape(len(x), -1), axis=0, return_index=True)
    return x[np.sort(first)[:IMAGES]]


def _runners(files: EvaluationFiles, images: np.ndarray) -> tuple[EarlyExitRunner, Runner]:
    """Both runners loaded, the early exit's threshold halfway up its images' P(redundant): both paths are taken."""
    early_exit, baseline = open_early_exit_runner(files.forms["single"]), open_runner(files.baseline)
    early_exit.load()
    baseline.load()
    ordered = np.sort(full_outputs(early_exit, images)[0][:, 1])
    early_exit.threshold = float(ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    return early_exit, baseline


def _record(runner: Runner, name: str, images: np.ndarray, calls: list[tuple[str, int]]) -> None:
    """Wrap the real runner's ``set_input`` and ``invoke`` so that every call logs (runner, image index)."""
    index = {image.tobytes(): i for i, image in enumerate(images)}
    fed: list[int] = []
    set_input, invoke = runner.set_input, runner.invoke

    def recorded_set_input(x: np.ndarray) -> None:
        fed.append(index[np.asarray(x, np.float32)[0].tobytes()])
        set_input(x)

    def recorded_invoke() -> None:
        calls.append((name, fed[-1]))
        invoke()

    runner.set_input, runner.invoke = recorded_set_input, recorded_invoke  # type: ignore[method-assign]


def test_each_model_runs_the_whole_stream_by_itself_in_shuffled_rounds(files, images):
    early_exit, baseline = _runners(files, images)
    calls: list[tuple[str, int]] = []
    _record(baseline, "baseline", images, calls)
    _record(early_exit, "early exit", images, calls)
    rounds = 8
    timing = time_mix(early_exit, baseline, images, rounds)

    stream = list(range(len(images)))
    passes = [calls[i:i + len(images)] for i in range(0, len(calls), len(images))]
    assert len(calls) == 2 * (1 + rounds) * len(images)  # one warm-up pass each, then one call per image per round
    for one in passes:  # every pass is one runner's whole stream, in order
        assert [image for _, image in one] == stream and len({name for name, _ in one}) == 1
    names = [one[0][0] for one in passes]
    assert names[:2] == ["baseline", "early exit"]
    orders = {tuple(names[i:i + 2]) for i in range(2, len(names), 2)}
    assert orders == {("baseline", "early exit"), ("early exit", "baseline")}  # each round has both, shuffled

    for seconds in (timing.early_exit_s, timing.baseline_s):
        assert seconds.shape == (len(images),) and np.all(np.isfinite(seconds)) and np.all(seconds > 0)
    assert 0 < timing.exited.sum() < len(images)  # both paths are timed
    summary = timing.summary()
    assert summary["images"] == len(images)
    assert summary["exit_path_images"] + summary["full_path_images"] == len(images)


def test_every_decision_is_that_of_a_single_call_on_the_image(files, images):
    early_exit, baseline = _runners(files, images)
    timing = time_mix(early_exit, baseline, images, 1)
    alone, base_alone = _runners(files, images)  # fresh runners, one call per image
    for i, image in enumerate(images[:, None]):
        alone.set_input(image)
        alone.invoke()
        assert timing.exited[i] == alone.exited
        assert timing.predicted[i] == int(np.argmax(alone.get_output()))
        base_alone.set_input(image)
        base_alone.invoke()
        np.testing.assert_allclose(timing.baseline_probs[i], base_alone.get_output()[0], atol=1e-6)


@pytest.mark.parametrize(("bad", "culprit"), [(lambda x: (x, 0), "repeats=0"), (lambda x: (x[:0], 1), "no images")])
def test_time_mix_refuses_bad_input_before_timing(files, images, bad: Callable, culprit: str):
    early_exit, baseline = _runners(files, images)
    calls: list[tuple[str, int]] = []
    _record(baseline, "baseline", images, calls)
    x, repeats = bad(images)
    with pytest.raises(ConfigError, match=culprit):
        time_mix(early_exit, baseline, x, repeats)
    assert calls == []
