"""The adb target: the real adb client with no device attached, the ABI check of a benchmark_model binary, and the
parser of benchmark_model's output on the tool's own documented output; aggregates-only results in the reports."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from support import assert_one_line_error, latency_row

from convbench.bench import BenchResult, Measurement, TaskSpec
from convbench.bench.targets import open_target
from convbench.bench.targets.adb import NOT_AVAILABLE, binary_abi, parse_benchmark_output, parse_devices
from convbench.errors import TargetError
from convbench.report.compare import compare
from convbench.report.study import LatencyCandidate, recommend
from convbench.vocabulary import BENCHMARK_MODEL_ENV

# Verbatim from tensorflow/tensorflow, tensorflow/lite/tools/benchmark/README.md, section "Profiling model
# operators" (the output of `benchmark_model --enable_op_profiling=true` on mobilenet_quant_v1_224.tflite), with the
# Run Order and Top by Computation Time tables cut to their first rows.
README_PROFILE = """
============================== Run Order ==============================
\t             [node type]\t  [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t                 CONV_2D\t    0.000\t    4.269\t    4.269\t  0.107%\t  0.107%\t     0.000\t        0\t[MobilenetV1/MobilenetV1/Conv2d_0/Relu6]
\t       DEPTHWISE_CONV_2D\t    4.270\t    2.150\t    2.150\t  0.054%\t  0.161%\t     0.000\t        0\t[MobilenetV1/MobilenetV1/Conv2d_1_depthwise/Relu6]
\t                 CONV_2D\t    6.421\t    6.107\t    6.107\t  0.153%\t  0.314%\t     0.000\t        0\t[MobilenetV1/MobilenetV1/Conv2d_1_pointwise/Relu6]
\t                 RESHAPE\t   79.440\t    0.002\t    0.002\t  0.000%\t  1.992%\t     0.000\t        0\t[MobilenetV1/Predictions/Reshape]
\t                 SOFTMAX\t   79.443\t    0.029\t    0.029\t  0.001%\t  1.993%\t     0.000\t        0\t[MobilenetV1/Predictions/Softmax]

============================== Top by Computation Time ==============================
\t             [node type]\t  [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t                 CONV_2D\t   19.352\t    6.652\t    6.652\t  0.167%\t  0.167%\t     0.000\t        0\t[MobilenetV1/MobilenetV1/Conv2d_3_pointwise/Relu6]

Number of nodes executed: 31
============================== Summary by node type ==============================
\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t                 CONV_2D\t       15\t     1.406\t    89.270%\t    89.270%\t     0.000\t        0
\t       DEPTHWISE_CONV_2D\t       13\t     0.169\t    10.730%\t   100.000%\t     0.000\t        0

Timings (microseconds): count=50 first=79449 curr=81350 min=77385 max=88213 avg=79732 std=1929
Memory (bytes): count=0
31 nodes observed


Average inference timings in us: Warmup: 83235, Init: 38467, Inference: 79760.9
"""  # noqa: E501  (the tool's own lines, verbatim)

# The lines current builds print, in the formats of tensorflow/tensorflow
# tensorflow/lite/tools/benchmark/benchmark_model.cc: BenchmarkModel::Run ("Running benchmark for at least …", then
# the Stat line of that phase) and BenchmarkLoggingListener::OnBenchmarkEnd (the summary and memory lines), with the
# figures of the summary line in the TensorFlow Lite performance-measurement guide
# (tensorflow/lite/g3doc/performance/measurement.md: "Init: 5685, First inference: 18535, Warmup (avg): 14462.3,
# Inference (avg): 14575.2").
CURRENT_RUN = """INFO: Initialized TensorFlow Lite runtime.
INFO: The input model file size (MB): 4.27635
INFO: Initialized session in 5.685ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=35 first=18535 curr=14301 min=14101 max=18535 avg=14462.3 std=712

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=69 first=14620 curr=14566 min=14329 max=15810 avg=14575.2 std=301

INFO: Inference timings in us: Init: 5685, First inference: 18535, Warmup (avg): 14462.3, Inference (avg): 14575.2
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual \
memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=4.58984 overall=7.82031
INFO: Overall peak memory footprint (MB) via periodic monitoring: 12.5
"""


def test_parses_the_documented_op_profile_and_its_summary():
    report = parse_benchmark_output(README_PROFILE)
    assert (report.init_us, report.warmup_avg_us, report.inference_avg_us) == (38467, 83235, 79760.9)
    assert report.first_us is None  # this older summary line has no first inference
    steady = report.steady
    assert (steady.count, steady.avg, steady.std, steady.min, steady.max) == (50, 79732, 1929, 77385, 88213)
    assert [op.op_type for op in report.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "RESHAPE", "SOFTMAX"]
    first = report.ops[0]
    assert (first.node, first.avg_ms, first.times_called) == ("MobilenetV1/MobilenetV1/Conv2d_0/Relu6", 4.269, 0)
    assert report.ops[2].share == pytest.approx(0.00153)


def test_parses_a_current_run_warmup_steady_state_and_memory():
    report = parse_benchmark_output(CURRENT_RUN)
    assert (report.init_us, report.first_us, report.warmup_avg_us, report.inference_avg_us) == \
        (5685, 18535, 14462.3, 14575.2)
    assert report.warmup.count == 35 and report.warmup.first == report.first_us
    assert report.steady.count == 69 and report.steady.avg == report.inference_avg_us
    assert report.steady.median is None  # this build prints no percentiles: nothing is made up
    assert (report.init_memory_mb, report.overall_memory_mb, report.peak_memory_mb) == (4.58984, 7.82031, 12.5)
    assert report.ops == []


def test_adb_devices_output():
    listing = "List of devices attached\nemulator-5554\tdevice\nR58M60ABCDE\tunauthorized\n0a1b2c\tdevice\n\n"
    assert parse_devices(listing) == ["emulator-5554", "0a1b2c"]


@pytest.fixture
def adb_client():
    """The real adb client; its server (started by `adb devices`) is stopped afterwards."""
    if shutil.which("adb") is None:
        pytest.skip("adb is not installed (Debian package adb)")
    yield
    subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30, check=False)


def test_no_device_is_one_line(adb_client, cli, tmp_path):
    devices = subprocess.run(["adb", "devices"], capture_output=True, text=True, timeout=60).stdout
    if parse_devices(devices):
        pytest.skip("a device is attached to this machine")
    with pytest.raises(TargetError, match=r"target adb: no device attached"):
        open_target("adb").prepare(["litert"])
    with pytest.raises(TargetError, match=r"target adb://R58M60ABCDE: no device 'R58M60ABCDE' attached"):
        open_target("adb://R58M60ABCDE").prepare(["litert"])
    model = tmp_path / "m.tflite"
    rc, _, err = cli("bench", model, "--on", "adb")
    assert_one_line_error(rc, err)  # the missing model file or the missing device: one line either way


def test_a_binary_for_another_abi_is_refused(monkeypatch, tmp_path):
    assert binary_abi(shutil.which("adb") or "/bin/sh") in ("x86_64", "arm64-v8a", "x86", "armeabi-v7a")
    (tmp_path / "text").write_text("#!/bin/sh\n")
    assert binary_abi(tmp_path / "text") is None
    target = open_target("adb://SERIAL")
    host_abi = binary_abi("/bin/sh")
    target._abi = "armeabi-v7a" if host_abi != "armeabi-v7a" else "x86_64"  # the ABI a device reported
    monkeypatch.setenv(BENCHMARK_MODEL_ENV, "/bin/sh")
    with pytest.raises(TargetError, match=rf"built for {host_abi}, but the device's ABI is {target._abi}"):
        target._binary()


def _result(name: str, times: list[float], aggregates: bool) -> BenchResult:
    meta = {"aggregates_only": True, "statistics_needing_samples": NOT_AVAILABLE} if aggregates else {}
    phases = {p: Measurement(TaskSpec(name, "litert t1", p), times, metadata=meta if p == "inference" else {})
              for p in ("load", "first_inference", "preprocess", "inference")}
    env = {"target": "adb://PHONE" if aggregates else "local", "cpu": "cpu", "cores": 4}
    return BenchResult({"path": f"{name}.tflite", "arch": name, "quantize": "none", "size_bytes": 1000},
                       {"name": "litert", "threads": 1, "version": "x", "delegate": "xnnpack"}, {}, {}, phases, env)


def test_aggregates_only_results_say_not_available(tmp_path):
    local = _result("a", [0.001 + i * 1e-6 for i in range(30)], aggregates=False)
    phone = _result("b", [0.004], aggregates=True)
    comparison = compare([local, phone], out=None)
    row = next(r for r in comparison.rows if r["target"] == "adb://PHONE")
    assert row["ci95_low_ms"] is None and row["ci95_high_ms"] is None
    assert comparison.pairs == [] and comparison.untestable == [row["model"]]
    text = comparison.to_markdown()
    assert "[CI not available]" in text and "significance not available" in text
    assert set(comparison.fastest_per_target()) == {"local", "adb://PHONE"}
    second_phone = _result("c", [0.005], aggregates=True)
    results = {r.label: r for r in (local, phone, second_phone)}
    figures = ("model", "quantize", "runtime", "threads", "target", "median_ms", "ci95_low_ms", "ci95_high_ms",
               "p90_ms", "size_bytes")
    rows = [latency_row(**{k: r[k] for k in figures}, format="tflite", accuracy=0.9)
            for r in compare(list(results.values())).rows]
    answer = recommend([LatencyCandidate(r, results[r.model.split(" on ")[0]].inference) for r in rows])
    assert answer.per_target is not None and set(answer.per_target) == {"local", "adb://PHONE"}
    assert "On local: Ship" in answer.sentence and "On adb://PHONE: Ship" in answer.sentence
    phone_answer = answer.per_target["adb://PHONE"]
    assert phone_answer.clear is None and "is not available" in phone_answer.sentence
    assert list(answer.to_dict())[-2:] == ["sentence", "per_target"]
