"""OpenVINO runner: the CPU plugin with the latency hint, reading a ``.tflite`` or a ``.onnx`` file directly.

On x86 OpenVINO is the runtime a user would deploy instead of LiteRT or ONNX Runtime, and it reads both of
convbench's export formats without conversion, so the same file can be timed in it unchanged. Its per-operator
profile is the CPU plugin's own performance counters (``PERF_COUNT``), read after each profiled call.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from convbench.errors import ModelError
from convbench.runtime.base import NodeTime, Runner, register_runner
from convbench.runtime.litert import LiteRTRunner, dequantize, quantize
from convbench.runtime.litert_compiled import tflite_io_quantization
from convbench.runtime.onnxrt import OnnxRuntimeRunner


@register_runner
class OpenVINORunner(Runner):
    """A ``.tflite`` or ``.onnx`` file in OpenVINO's CPU plugin: latency hint, ``threads`` inference threads, f32.

    Picked by name only (``--runtime openvino``): each suffix keeps its own default runtime.
    """

    name = "openvino"
    suffixes = ()  # never the default runtime of a suffix: .tflite stays LiteRT's, .onnx ONNX Runtime's
    delegate = "CPU plugin"
    no_profiler = None

    @property
    def version(self) -> str:
        import openvino

        # get_version() is "2026.4.1-22982-e213a147257-releases/2026/4": the release, then build, commit and branch
        return openvino.get_version().split("-")[0]

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return LiteRTRunner.sniff(path) or OnnxRuntimeRunner.sniff(path)

    def _compile(self, **extra: Any) -> Any:
        """The file compiled for the CPU plugin with this runner's settings (plus ``extra`` properties)."""
        import openvino

        core = openvino.Core()
        try:
            model = core.read_model(str(self.path))
            # Both readers leave the batch dimension dynamic ([?,H,W,C]); batch 1 compiled static is what is timed.
            model.reshape({model.input(0): list(self.input_shape)})
            return core.compile_model(model, "CPU", {
                "PERFORMANCE_HINT": "LATENCY",  # one stream, all threads on one request: batch-1 latency
                "INFERENCE_NUM_THREADS": self.threads,
                # On CPUs with bf16 support the plugin otherwise computes a float32 model in bf16 (probabilities off
                # by ~1e-2, far outside float32 parity): a float32 file must be run and timed in float32.
                "INFERENCE_PRECISION_HINT": "f32",
                **extra,
            })
        except RuntimeError as e:
            # OpenVINO nests its messages ("Exception from src/inference/src/cpp/core.cpp:84:" first): the reason
            # is the last line, and that is the one the one-line error must show
            raise RuntimeError(str(e).strip().splitlines()[-1]) from None

    def _load(self) -> None:
        compiled = self._compile()
        self._request = compiled.create_infer_request()
        self._in, self._out = self._request.get_input_tensor(0), self._request.get_output_tensor(0)
        self.input_dtype = np.dtype(self._in.data.dtype)
        # The graph keeps a .tflite's integer input and output but not their scales: those come from the file.
        float_io = (0.0, 0), (0.0, 0)
        self._in_quant, self._out_quant = tflite_io_quantization(self.path) if LiteRTRunner.sniff(self.path) \
            else float_io
        if np.issubdtype(self.input_dtype, np.integer) and not self._in_quant[0]:
            raise ModelError(f"{self.path}: {self.input_dtype} input without a quantisation scale")
        self._invoke = self._request.infer  # bound once: no attribute lookups in the timed call

    def _set_input(self, x: np.ndarray) -> None:
        self._in.data[...] = quantize(x, self.input_dtype, self._in_quant)

    def invoke(self) -> None:
        self._invoke()

    def _get_output(self) -> np.ndarray:
        return dequantize(self._out.data.copy(), self._out_quant)

    def profile_nodes(self, x: np.ndarray, runs: int) -> list[NodeTime]:
        """The CPU plugin's performance counters over ``runs`` calls of a second compiled model (``PERF_COUNT``).

        The counters describe the last call only, so they are read and summed after every call; one warm-up call
        comes first. Nodes the plugin fused away or skipped report ``NOT_RUN`` and are left out.
        """
        if not self.loaded:
            self.load()  # the input's dtype and quantisation
        request = self._compile(PERF_COUNT=True).create_infer_request()
        request.get_input_tensor(0).data[...] = quantize(x, self.input_dtype, self._in_quant)
        request.infer()  # warm-up: first-call allocations are not the model's steady state
        totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
        for _ in range(runs):
            request.infer()
            for info in request.profiling_info:
                if info.status.name == "EXECUTED":
                    total = totals[(info.node_name, info.node_type)]
                    total[0] += info.real_time.total_seconds()
                    total[1] += 1
        return [NodeTime(node, op, seconds, int(calls)) for (node, op), (seconds, calls) in totals.items()]
