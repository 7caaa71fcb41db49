"""Runners: the shared contract, agreement with Keras in every runtime, int8 input, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.artifacts import read_card, write_card
from convbench.errors import ConfigError, ModelError
from convbench.runtime import Runner, list_runtimes, open_runner, runtime_for
from convbench.runtime.litert import dequantize, quantize

# TensorFlow's thread pools are fixed once it starts: the Keras runner then warns and records the count in effect.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:keras runtime:UserWarning")]


def model_file(tiny, runtime: str):
    """The tiny model's file for ``runtime``: float32 exports, or the .keras itself."""
    return {"litert": lambda: tiny.export("tflite", "none").path, "onnxruntime": lambda: tiny.export("onnx").path,
            "keras": lambda: tiny.model_path}[runtime]()


def test_registry():
    assert list_runtimes() == ["keras", "litert", "litert_compiled", "onnxruntime", "openvino"]
    assert [runtime_for(f"m{s}") for s in (".tflite", ".onnx", ".keras")] == ["litert", "onnxruntime", "keras"]


@pytest.mark.parametrize("runtime", ["litert", "onnxruntime", "keras"])
def test_predict_matches_keras(tiny, runtime):
    runner = open_runner(model_file(tiny, runtime), threads=1)
    assert isinstance(runner, Runner) and runner.name == runtime and not runner.loaded
    probs = runner.predict(tiny.images.x)
    assert probs.dtype == np.float32 and probs.shape == (len(tiny.images.x), 10)
    np.testing.assert_allclose(probs, tiny.keras_probs(tiny.images.x), atol=1e-4)


@pytest.mark.parametrize("runtime", ["litert", "onnxruntime", "keras"])
def test_the_timed_contract(tiny, runtime):
    runner = open_runner(model_file(tiny, runtime), threads=1)
    assert runner.input_shape == (1, 16, 16, 1) and runner.input_dtype == np.float32
    assert runner.version and runner.delegate in ("xnnpack", "cpu", "tf.function")
    runner.load()
    x = tiny.images.x[:1]
    runner.set_input(x)
    runner.invoke()
    first = runner.get_output()
    runner.invoke()  # input stays set: invoke alone repeats the run
    np.testing.assert_array_equal(runner.get_output(), first)
    assert first.shape == (1, 10) and first.dtype == np.float32 and abs(first.sum() - 1) < 1e-5
    assert runtime in repr(runner) and f"threads={runner.threads}" in repr(runner)


@pytest.mark.parametrize("runtime", ["litert", "onnxruntime"])
def test_two_threads_same_answer(tiny, runtime):
    path = model_file(tiny, runtime)
    one, two = open_runner(path, threads=1), open_runner(path, threads=2)
    assert two.threads == 2
    np.testing.assert_allclose(two.predict(tiny.images.x[:8]), one.predict(tiny.images.x[:8]), atol=1e-6)


def test_int8_input_and_output(tiny):
    runner = open_runner(tiny.export("tflite", "int8", int8_io=True).path)
    runner.load()
    assert runner.input_dtype == np.int8
    probs = runner.predict(tiny.images.x)
    assert probs.dtype == np.float32 and np.all(probs >= 0) and np.allclose(probs.sum(1), 1, atol=0.05)
    assert np.mean(probs.argmax(1) == tiny.keras_probs(tiny.images.x).argmax(1)) >= 0.9


def test_quantize_and_dequantize():
    x = np.array([-1.0, 0.0, 0.5, 10.0], np.float32)
    q = quantize(x, np.dtype(np.int8), (1 / 64, -10))
    np.testing.assert_array_equal(q, np.array([-74, -10, 22, 127], np.int8))  # 10.0 saturates at 127
    np.testing.assert_allclose(dequantize(q, (1 / 64, -10)), [-1.0, 0.0, 0.5, 137 / 64])
    assert quantize(x, np.dtype(np.float32), (0.0, 0)) is x


@pytest.mark.parametrize("kwargs, error, needle", [
    ({"runtime": "tensorrt"}, ConfigError,
     "unknown runtime 'tensorrt'; known: keras, litert, litert_compiled, onnxruntime, openvino"),
    ({"threads": 0}, ConfigError, "threads must be an integer >= 1 and <= 1024, got threads=0"),
    ({"threads": -2}, ConfigError, "threads=-2"),
    ({"threads": 1.5}, ConfigError, "threads=1.5"),
    ({"threads": 5000}, ConfigError, "threads must be an integer >= 1 and <= 1024, got threads=5000"),
    ({"runtime": "onnxruntime"}, ModelError, r"onnxruntime cannot open it \(not a \.onnx model file\)"),
])
def test_bad_options(tiny, kwargs, error, needle):
    with pytest.raises(error, match=needle):
        open_runner(model_file(tiny, "litert"), **kwargs)


def test_not_a_model(tmp_path, tiny):
    missing, text, raw = tmp_path / "missing.tflite", tmp_path / "notes.tflite", tmp_path / "raw.tflite"
    text.write_text("not a flatbuffer")
    write_card(text, read_card(model_file(tiny, "litert")))
    raw.write_bytes(model_file(tiny, "litert").read_bytes())  # a real model, but no card beside it
    with pytest.raises(ModelError, match=r"missing.tflite: no such model file"):
        open_runner(missing)
    with pytest.raises(ModelError, match=r"notes.tflite: litert cannot open it \(not a \.tflite model file\)"):
        open_runner(text)
    with pytest.raises(ModelError, match=r"raw.tflite.*no model card"):
        open_runner(raw)
    with pytest.raises(ModelError, match=r"suffix '.bin'"):
        open_runner(text.rename(tmp_path / "notes.bin"))


def test_corrupt_file_fails_at_load(tmp_path, tiny):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\0\0\0\0TFL3" + b"\x07" * 64)  # right magic, garbage body
    write_card(corrupt, read_card(model_file(tiny, "litert")))
    runner = open_runner(corrupt)
    with pytest.raises(ModelError, match=r"corrupt.tflite: litert cannot load it as a model"):
        runner.load()


@pytest.mark.parametrize("runtime", ["litert", "onnxruntime"])
def test_wrong_input_shape(tiny, runtime):
    runner = open_runner(model_file(tiny, runtime))
    runner.load()
    with pytest.raises(ModelError, match=r"input of shape \(1, 8, 8, 1\), expected \(1, 16, 16, 1\)"):
        runner.set_input(np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(ModelError, match=r"batch of shape \(4, 16, 16\)"):
        runner.predict(np.zeros((4, 16, 16), np.float32))


def test_fresh_keras_loads_do_not_warn_of_retracing(tiny):
    import logging

    import tensorflow as tf

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    tf.get_logger().addHandler(handler)
    try:
        for _ in range(7):  # TensorFlow warns from the fifth trace of the same code on
            runner = open_runner(tiny.model_path, "keras")
            runner.predict(tiny.images.x[:1])
    finally:
        tf.get_logger().removeHandler(handler)
    assert not [m for m in seen if "retracing" in m]
