"""OpenVINO and LiteRT CompiledModel behind the Runner contract: picked by name only, Keras parity, int8 input,
bad input as one-line errors, and `convbench bench --runtime` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convbench.artifacts import read_card, write_card
from convbench.env import cpu_model
from convbench.errors import ConfigError, ModelError
from convbench.export import FP32_TOLERANCE, RUNTIME_TOLERANCE, runtime_deviation
from convbench.runtime import list_runtimes, open_runner, runtime_for
from convbench.runtime.litert import LiteRTRunner
from convbench.runtime.litert_compiled import ACCELERATORS, CPU_KERNELS, LiteRTCompiledRunner
from convbench.runtime.onnxrt import OnnxRuntimeRunner
from convbench.runtime.openvino import OpenVINORunner

pytestmark = pytest.mark.slow

# (runtime, export target) pairs: every file format each new runtime reads
CASES = [("openvino", "tflite"), ("openvino", "onnx"), ("litert_compiled", "tflite")]
RUNNERS = {"openvino": OpenVINORunner, "litert_compiled": LiteRTCompiledRunner}
FAST_ARGS = ("--runs", "5", "--min-seconds", "0", "--warmup", "1", "--warmup-seconds", "0", "--load-repeats", "2")


def float32_file(tiny, target: str):
    return tiny.export(target, "none").path


def test_picked_by_name_only(tiny):
    assert {"openvino", "litert_compiled"} <= set(list_runtimes())
    assert runtime_for("m.tflite") == "litert" and runtime_for("m.onnx") == "onnxruntime"
    assert type(open_runner(float32_file(tiny, "tflite"))) is LiteRTRunner
    assert type(open_runner(float32_file(tiny, "onnx"))) is OnnxRuntimeRunner
    assert type(open_runner(float32_file(tiny, "onnx"), "openvino")) is OpenVINORunner
    assert type(open_runner(float32_file(tiny, "tflite"), "litert_compiled")) is LiteRTCompiledRunner


@pytest.mark.parametrize(("runtime", "target"), CASES)
def test_predict_matches_keras(tiny, runtime, target):
    runner = open_runner(float32_file(tiny, target), runtime, threads=1)
    assert runner.name == runtime and not runner.loaded
    probs = runner.predict(tiny.images.x)
    assert probs.dtype == np.float32 and probs.shape == (len(tiny.images.x), 10)
    np.testing.assert_allclose(probs, tiny.keras_probs(tiny.images.x), atol=FP32_TOLERANCE, rtol=0)


@pytest.mark.parametrize(("runtime", "target"), CASES)
def test_the_timed_contract(tiny, runtime, target):
    runner = open_runner(float32_file(tiny, target), runtime, threads=2)
    assert runner.threads == 2 and runner.input_shape == (1, 16, 16, 1)
    assert runner.version[0].isdigit() and runner.delegate
    runner.load()
    assert runner.input_dtype == np.float32
    runner.set_input(tiny.images.x[:1])
    runner.invoke()
    first = runner.get_output()
    runner.invoke()  # input stays set: invoke alone repeats the run
    np.testing.assert_array_equal(runner.get_output(), first)
    assert first.shape == (1, 10) and first.dtype == np.float32 and abs(first.sum() - 1) < 1e-5
    assert runtime in repr(runner) and "threads=2" in repr(runner) and runner.version in repr(runner)


def test_what_runs_them(tiny):
    import openvino

    ov, compiled = (open_runner(float32_file(tiny, "tflite"), rt) for rt in ("openvino", "litert_compiled"))
    assert ov.delegate == "CPU plugin" and openvino.get_version().startswith(ov.version)
    assert compiled.delegate == "cpu accelerator, xnnpack cpu kernels"
    assert compiled.version == LiteRTRunner(float32_file(tiny, "tflite")).version  # one wheel, two APIs


@pytest.mark.parametrize("cpu_kernel", ["builtin", "reference"])
def test_compiled_cpu_kernels_agree(tiny, cpu_kernel):
    path = float32_file(tiny, "tflite")
    runner = LiteRTCompiledRunner(path, threads=1, card=read_card(path), cpu_kernel=cpu_kernel)
    assert runner.delegate == f"cpu accelerator, {cpu_kernel} cpu kernels"
    np.testing.assert_allclose(runner.predict(tiny.images.x[:16]), tiny.keras_probs(tiny.images.x[:16]),
                               atol=FP32_TOLERANCE, rtol=0)


@pytest.mark.parametrize(("option", "value", "choices"), [("accelerator", "tpu", ACCELERATORS),
                                                          ("cpu_kernel", "fast", CPU_KERNELS)])
def test_compiled_rejects_unknown_options(tiny, option, value, choices):
    path = float32_file(tiny, "tflite")
    with pytest.raises(ConfigError, match=rf"{option} must be one of {', '.join(choices)}, got {option}='{value}'"):
        LiteRTCompiledRunner(path, card=read_card(path), **{option: value})


@pytest.mark.parametrize("runtime", sorted(RUNNERS))
def test_int8_input_and_output(tiny, runtime):
    runner = open_runner(tiny.export("tflite", "int8", int8_io=True).path, runtime)
    runner.load()
    assert runner.input_dtype == np.int8
    probs = runner.predict(tiny.images.x)
    assert probs.dtype == np.float32 and np.all(probs >= 0) and np.allclose(probs.sum(1), 1, atol=0.05)
    assert np.mean(probs.argmax(1) == tiny.keras_probs(tiny.images.x).argmax(1)) >= 0.9
    # Against the Interpreter on the same file: the runtimes need not quantise alike on every CPU (OpenVINO without
    # VNNI differs by up to 0.22), so what is checked is convbench's promise: agreement, or a note that says so.
    reference = open_runner(runner.path)
    deviation = runtime_deviation(runner, reference, tiny.images)
    diffs = np.abs(probs - reference.predict(tiny.images.x))
    if np.all(diffs <= RUNTIME_TOLERANCE):
        assert deviation is None
    else:
        assert deviation.values_over == np.count_nonzero(diffs > RUNTIME_TOLERANCE)
        assert deviation.note.startswith(f"{runtime} computes this quantised file differently from litert")
        assert cpu_model() in deviation.note and "\n" not in deviation.note


@pytest.mark.parametrize(("runtime", "target"), CASES)
@pytest.mark.parametrize("threads", [0, -1, 1.5])
def test_threads_below_one(tiny, runtime, target, threads):
    with pytest.raises(ConfigError, match=rf"threads must be an integer >= 1 and <= 1024, got threads={threads}"):
        open_runner(float32_file(tiny, target), runtime, threads=threads)
    with pytest.raises(ConfigError, match="threads must be"):
        RUNNERS[runtime](float32_file(tiny, target), threads=threads)


@pytest.mark.parametrize(("runtime", "target", "body", "reason"), [
    ("openvino", "tflite", b"\0\0\0\0TFL3" + b"\x07" * 64, "is corrupted or malformed"),  # right magic, bad body
    ("openvino", "onnx", b"\x08" + b"\x07" * 64, "Unable to read the model"),
    # CompiledModel does not verify a file (a truncated one crashed the process): LiteRT's verifier is asked first
    ("litert_compiled", "tflite", b"\0\0\0\0TFL3" + b"\x07" * 64, "not a valid Flatbuffer buffer"),
])
def test_corrupt_file_is_a_one_line_model_error(tmp_path, tiny, runtime, target, body, reason):
    corrupt = tmp_path / f"corrupt.{target}"
    corrupt.write_bytes(body)
    write_card(corrupt, read_card(float32_file(tiny, target)))
    runner = open_runner(corrupt, runtime)
    with pytest.raises(ModelError, match=rf"corrupt.{target}: {runtime} cannot load it as a model \(.*{reason}") as e:
        runner.load()
    assert "\n" not in str(e.value) and not runner.loaded


def test_wrong_format_for_the_runtime(tmp_path, tiny):
    with pytest.raises(ModelError, match=r"tiny.none.onnx: litert_compiled cannot open it \(not a \.tflite model"):
        open_runner(float32_file(tiny, "onnx"), "litert_compiled")
    text = tmp_path / "notes.onnx"
    text.write_text("neither a flatbuffer nor a protobuf")
    write_card(text, read_card(float32_file(tiny, "onnx")))
    with pytest.raises(ModelError, match=r"notes.onnx: openvino cannot open it \(not a \.tflite or \.onnx model"):
        open_runner(text, "openvino")


@pytest.mark.parametrize(("runtime", "target"), CASES)
def test_bench_cli_end_to_end(cli, tiny, tmp_path, runtime, target):
    out = tmp_path / "r.json"
    rc, stdout, err = cli("bench", float32_file(tiny, target), "--runtime", runtime, *FAST_ARGS, "--threads", "2",
                          "--data", "digits", "--json", out)
    assert rc == 0, err
    assert "inference" in stdout and runtime in stdout
    d = json.loads(out.read_text())
    assert d["runtime"]["name"] == runtime and d["runtime"]["threads"] == 2
    assert d["runtime"]["delegate"] == open_runner(float32_file(tiny, target), runtime).delegate
    assert d["phases"]["inference"]["stats"]["n"] == 5


def test_bench_cli_corrupt_file_is_one_line(cli, tiny, tmp_path):
    from support import assert_one_line_error

    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\0\0\0\0TFL3" + b"\x07" * 64)
    write_card(corrupt, read_card(float32_file(tiny, "tflite")))
    for runtime in sorted(RUNNERS):
        rc, _, err = cli("bench", corrupt, "--runtime", runtime, *FAST_ARGS, "--json", tmp_path / "r.json")
        assert_one_line_error(rc, err, "corrupt.tflite", runtime)
    assert not (tmp_path / "r.json").exists()


def test_importing_the_runtimes_loads_neither_library():
    import subprocess
    import sys

    code = "import sys, convbench.runtime; print([m for m in ('openvino', 'ai_edge_litert') if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


class _Shifted:
    """A runner whose probabilities are another's with some moved: a runtime that quantises differently."""

    name = "openvino"

    def __init__(self, runner, moved: int) -> None:
        self.runner, self.moved = runner, moved

    def predict(self, x):
        probs = self.runner.predict(x).copy()
        probs.flat[:self.moved] += 0.2
        return probs


def test_a_runtime_that_quantises_differently_is_named_with_the_cpu(tiny):
    """Whatever this CPU does, the deviation check names what differs, by how much, in which runtime and on which
    CPU."""
    reference = open_runner(tiny.export("tflite", "int8", int8_io=True).path)
    assert runtime_deviation(reference, reference, tiny.images) is None
    deviation = runtime_deviation(_Shifted(reference, 7), reference, tiny.images)
    assert deviation.values_over == 7 and deviation.max_abs_diff == pytest.approx(0.2, abs=1e-6)
    assert deviation.values == 10 * len(tiny.images.x)
    assert deviation.note.startswith("openvino computes this quantised file differently from litert on this CPU (")
    assert cpu_model() in deviation.note and "up to 0.2 on 7 of 1,000 values" in deviation.note
