"""ONNX Runtime runner: a CPU InferenceSession with pinned intra-op threads and sequential execution."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench.runtime.base import Runner, register_runner


@register_runner
class OnnxRuntimeRunner(Runner):
    """A ``.onnx`` file in ONNX Runtime: ``threads`` intra-op threads, one inter-op thread, CPU provider."""

    name = "onnxruntime"
    suffixes = (".onnx",)
    delegate = "cpu"

    @property
    def version(self) -> str:
        import onnxruntime

        return onnxruntime.__version__

    @classmethod
    def sniff(cls, path: Path) -> bool:
        with open(path, "rb") as f:
            return f.read(1) == b"\x08"  # a ModelProto starts with field 1 (ir_version, varint)

    def _load(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        self.input_dtype = np.dtype(_ONNX_DTYPES.get(inp.type, "float32"))
        # Pre-bound I/O: invoke() then runs the graph only, with no name lookups or output conversion.
        self._binding = self._session.io_binding()
        self._binding.bind_output(self._session.get_outputs()[0].name, "cpu")

    def _set_input(self, x: np.ndarray) -> None:
        self._x = np.ascontiguousarray(x, dtype=self.input_dtype)
        self._binding.bind_cpu_input(self._input_name, self._x)

    def invoke(self) -> None:
        self._session.run_with_iobinding(self._binding)

    def _get_output(self) -> np.ndarray:
        return self._binding.copy_outputs_to_cpu()[0]


_ONNX_DTYPES = {"tensor(float)": "float32", "tensor(int8)": "int8", "tensor(uint8)": "uint8"}
