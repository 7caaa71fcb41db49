"""Timing the test mix as a deployment sees it (:func:`convbench.early_exit.measurement.time_mix`): each model processes
the stream by itself, one call per image, the two taking turns chunk by chunk in rounds; the decisions are each
image's own call's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from convbench.artifacts import read_card
from convbench.early_exit.evaluation import EvaluationFiles, TrainedFolder, export_for_evaluation
from convbench.early_exit.measurement import full_outputs, time_mix
from convbench.errors import ConfigError
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


def test_models_take_turns_chunk_by_chunk_each_chunk_rewarmed_in_shuffled_order(files, images):
    early_exit, baseline = _runners(files, images)
    calls: list[tuple[str, int]] = []
    _record(baseline, "baseline", images, calls)
    _record(early_exit, "early exit", images, calls)
    rounds, chunk = 8, 5
    timing = time_mix(early_exit, baseline, images, rounds, chunk=chunk)

    stream = list(range(len(images)))
    assert calls[:2 * len(images)] == [("baseline", i) for i in stream] + [("early exit", i) for i in stream]
    chunks = [stream[i:i + chunk] for i in range(0, len(stream), chunk)]  # 5 + 5 + 2 images
    turns, rest = [], calls[2 * len(images):]
    for _ in range(rounds):
        for images_in_chunk in chunks:
            for _ in range(2):  # both models, each on the chunk: one untimed call of its first image, then each
                size = 1 + len(images_in_chunk)
                turn, rest = rest[:size], rest[size:]
                assert [image for _, image in turn] == [images_in_chunk[0], *images_in_chunk]
                assert len({name for name, _ in turn}) == 1
                turns.append(turn[0][0])
    assert rest == []
    pairs = {tuple(turns[i:i + 2]) for i in range(0, len(turns), 2)}
    assert pairs == {("baseline", "early exit"), ("early exit", "baseline")}  # each chunk has both, shuffled

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


@pytest.mark.parametrize(("bad", "culprit"), [
    (lambda x: (x, 0, 50), "repeats=0"), (lambda x: (x[:0], 1, 50), "no images"), (lambda x: (x, 1, 0), "chunk=0")])
def test_time_mix_refuses_bad_input_before_timing(files, images, bad: Callable, culprit: str):
    early_exit, baseline = _runners(files, images)
    calls: list[tuple[str, int]] = []
    _record(baseline, "baseline", images, calls)
    x, repeats, chunk = bad(images)
    with pytest.raises(ConfigError, match=culprit):
        time_mix(early_exit, baseline, x, repeats, chunk=chunk)
    assert calls == []
