"""A real bench of a tiny model in LiteRT and in Keras (tf.function): cheap settings, no speed assertions."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

from convbench.artifacts import ModelCard, read_card, write_card
from convbench.bench import PHASES, bench
from convbench.data import Preprocessing

pytestmark = pytest.mark.slow
CHEAP = {"runs": 5, "min_seconds": 0.0, "warmup": 1, "warmup_seconds": 0.0}


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """``tiny.keras`` and ``tiny.tflite`` (8x8 grey → 2 classes), each with its card."""
    import keras
    import tensorflow as tf

    out = tmp_path_factory.mktemp("tiny")
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    card = ModelCard(arch="tiny", width=1.0, input_shape=(8, 8, 1), class_names=("a", "b"),
                     preprocessing=Preprocessing((8, 8), channels=1), params=model.count_params(), macs=36 * 36 + 8,
                     metrics={"test_accuracy": 0.5})
    model.save(out / "tiny.keras")
    write_card(out / "tiny.keras", card)
    (out / "tiny.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    write_card(out / "tiny.tflite", card.evolve(format="tflite"))
    return out


def test_litert_end_to_end(tiny_models, tmp_path):
    result = bench(tiny_models / "tiny.tflite", threads=2, load_repeats=2, data="digits", **CHEAP)
    assert tuple(result.phases) == PHASES and all(m.min > 0 for m in result.phases.values())
    assert result.runtime["name"] == "litert" and result.runtime["threads"] == 2
    assert result.runtime["delegate"] == "xnnpack" and result.runtime["version"]
    assert result.model["format"] == "tflite" and result.model["accuracy"] == 0.5
    assert result.attained_gflops > 0
    saved = result.save(tmp_path / "r.json")
    assert saved.stat().st_size > 0


def test_keras_end_to_end(tiny_models):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TensorFlow's thread pools may already be fixed by an earlier test
        result = bench(tiny_models / "tiny.keras", runtime="keras", load_repeats=1, **CHEAP)
    assert result.runtime["name"] == "keras" and result.inference.n == 5
    assert all(m.min > 0 for m in result.phases.values())


def test_card_disagreeing_with_the_file(tiny_models, tmp_path):
    """The card says 16x16 but the file takes 8x8: one ModelError naming the model, nothing timed."""
    import shutil

    from convbench.artifacts import read_card
    from convbench.errors import ModelError

    liar = tmp_path / "liar.tflite"
    shutil.copy(tiny_models / "tiny.tflite", liar)
    card = read_card(tiny_models / "tiny.tflite")
    write_card(liar, card.evolve(input_shape=(16, 16, 1), preprocessing=Preprocessing((16, 16), channels=1)))
    with pytest.raises(ModelError, match=r"liar\.tflite.*\(16, 16, 1\)"):
        bench(liar, load_repeats=1, **CHEAP)


def _convbench(*args: object) -> subprocess.CompletedProcess[str]:
    """A real ``convbench`` process: native libraries write to its descriptor 2, which only a process shows."""
    env = {k: v for k, v in os.environ.items() if k not in ("CONVBENCH_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")}
    return subprocess.run([sys.executable, "-m", "convbench", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


CHEAP_ARGS = ("--runs", "3", "--min-seconds", "0", "--warmup", "1", "--warmup-seconds", "0", "--load-repeats", "2")


@pytest.mark.parametrize(("runtime", "native"), [("litert", "XNNPACK delegate"), ("litert_compiled", "INFO:")])
def test_litert_log_lines_stay_off_the_terminal_unless_verbose(tiny_models, runtime, native):
    """LiteRT's C++ logger writes past Python ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", the
    CompiledModel environment's accelerator lines, their destructors' at exit): quiet by default."""
    quiet = _convbench("bench", tiny_models / "tiny.tflite", "--runtime", runtime, *CHEAP_ARGS)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    loud = _convbench("bench", tiny_models / "tiny.tflite", "--runtime", runtime, *CHEAP_ARGS, "--verbose")
    assert loud.returncode == 0 and native in loud.stderr
    assert "first_inference" in quiet.stdout and "first_inference" in loud.stdout  # the same table either way


@pytest.mark.parametrize("runtime", ["litert", "litert_compiled"])
def test_a_corrupt_tflite_is_one_line_of_convbench_in_every_litert_runtime(tiny_models, tmp_path, runtime):
    """A truncated file: LiteRT's CompiledModel does not verify it and crashed the process (SIGSEGV); now the
    verifier refuses it first, and the first line on stderr is convbench's."""
    cut = tmp_path / "cut.tflite"
    cut.write_bytes((tiny_models / "tiny.tflite").read_bytes()[:300])
    write_card(cut, read_card(tiny_models / "tiny.tflite"))
    result = _convbench("bench", cut, "--runtime", runtime, *CHEAP_ARGS)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"convbench: error: {cut}: {runtime} cannot load it as a model (The model "
                                          "is not a valid Flatbuffer buffer)"]
