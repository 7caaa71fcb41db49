"""Peak memory of a fresh process per model file: real probes on tiny models, and the failures it reports."""

from __future__ import annotations

import numpy as np
import pytest
from bench.test_bench_end_to_end import tiny_models  # noqa: F401 (the module fixture)

from convbench.artifacts import ModelCard, write_card
from convbench.bench.memory import MemoryResult, peak_memory
from convbench.data import Preprocessing
from convbench.errors import ConfigError, ModelError

pytestmark = pytest.mark.slow


def test_a_bigger_model_costs_more_memory_than_a_small_one(tiny_models, tmp_path):  # noqa: F811
    import keras
    import tensorflow as tf

    inputs = keras.Input((64, 64, 1))
    x = keras.layers.Flatten()(inputs)
    big = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Dense(2048)(x)))  # 32 MB
    (tmp_path / "big.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(big).convert())
    write_card(tmp_path / "big.tflite", ModelCard("big", 1.0, (64, 64, 1), ("a", "b"), Preprocessing((64, 64), 1),
                                                  format="tflite"))
    small, large = peak_memory(tiny_models / "tiny.tflite"), peak_memory(tmp_path / "big.tflite", runs=2)
    assert isinstance(small, MemoryResult) and small.runtime == "litert" and large.runs == 2
    assert 0 < small.baseline_bytes <= small.peak_bytes
    assert large.model_bytes > 30e6 > small.model_bytes  # the 33.6 MB of float32 weights are resident
    assert small.to_dict()["model_bytes"] == small.model_bytes


def test_bad_options_and_files_fail_with_one_line(tiny_models, tmp_path):  # noqa: F811
    with pytest.raises(ConfigError, match="runs must be an integer >= 1"):
        peak_memory(tiny_models / "tiny.tflite", runs=0)
    with pytest.raises(ConfigError, match="threads"):
        peak_memory(tiny_models / "tiny.tflite", threads=0)
    with pytest.raises(ModelError, match="model file not found"):
        peak_memory(tmp_path / "missing.tflite")
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    write_card(corrupt, ModelCard("c", 1.0, (8, 8, 1), ("a", "b"), Preprocessing((8, 8), 1), format="tflite"))
    with pytest.raises(ModelError, match=r"corrupt.tflite: litert cannot open it") as e:
        peak_memory(corrupt)  # refused before a process starts
    assert "\n" not in str(e.value)
    truncated = tmp_path / "truncated.tflite"  # the right magic bytes, then nothing: only loading finds out
    truncated.write_bytes((tiny_models / "tiny.tflite").read_bytes()[:64])
    write_card(truncated, ModelCard("t", 1.0, (8, 8, 1), ("a", "b"), Preprocessing((8, 8), 1), format="tflite"))
    with pytest.raises(ModelError, match=r"truncated.tflite: the memory probe failed in litert: .*cannot load") as e:
        peak_memory(truncated)
    assert "\n" not in str(e.value)


def test_bench_with_memory_records_it_and_the_cli_prints_it(tiny_models, tmp_path, cli):  # noqa: F811
    from convbench.bench import BenchResult, bench

    cheap = {"runs": 5, "min_seconds": 0.0, "warmup": 1, "warmup_seconds": 0.0, "load_repeats": 1}
    result = bench(tiny_models / "tiny.tflite", data="digits", memory=True, **cheap)
    assert result.memory["peak_bytes"] >= result.memory["baseline_bytes"] > 0
    assert BenchResult.from_dict(result.to_dict()).memory == result.memory
    assert "memory" not in bench(tiny_models / "tiny.tflite", data="digits", **cheap).to_dict()
    rc, out, err = cli("bench", tiny_models / "tiny.tflite", "--runs", "5", "--min-seconds", "0", "--load-repeats",
                       "1", "--data", "digits", "--memory")
    assert rc == 0, err
    assert "peak memory" in out and "MB of it for the model" in out
