"""ONNX Runtime runner: a CPU InferenceSession with pinned intra-op threads and sequential execution.

Its per-operator profile is ONNX Runtime's own (``SessionOptions.enable_profiling``): a Chrome-trace JSON file
with one ``Node`` event per kernel call, timed inside the runtime.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from convbench.runtime.base import NodeTime, Runner, register_runner
from convbench.verbosity import verbose

ORT_QUIET_SEVERITY, ORT_VERBOSE_SEVERITY = 3, 2  # ONNX Runtime's levels: 2 warning (its default), 3 error


@register_runner
class OnnxRuntimeRunner(Runner):
    """A ``.onnx`` file in ONNX Runtime: ``threads`` intra-op threads, one inter-op thread, CPU provider."""

    name = "onnxruntime"
    suffixes = (".onnx",)
    delegate = "cpu"
    no_profiler = None

    @property
    def version(self) -> str:
        import onnxruntime

        return onnxruntime.__version__

    @classmethod
    def sniff(cls, path: Path) -> bool:
        with open(path, "rb") as f:
            return f.read(1) == b"\x08"  # a ModelProto starts with field 1 (ir_version, varint)

    def _open_session(self, profile_prefix: str | None = None) -> Any:
        """An InferenceSession with this runner's options; profiling on when ``profile_prefix`` is given."""
        import onnxruntime as ort

        # Its own logger's setting keeps its warnings ("[W:onnxruntime:…]") off the terminal unless verbose.
        severity = ORT_VERBOSE_SEVERITY if verbose() else ORT_QUIET_SEVERITY
        ort.set_default_logger_severity(severity)
        options = ort.SessionOptions()
        options.log_severity_level = severity
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if profile_prefix is not None:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        return ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def _load(self) -> None:
        self._session = self._open_session()
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

    def profile_nodes(self, x: np.ndarray, runs: int) -> list[NodeTime]:
        """ONNX Runtime's own profile of ``runs`` calls, in a second session (the timed one is never profiled).

        The trace starts at session creation, so the first call (allocations, kernel caches) is run as a warm-up
        and its events are dropped: only node events that start after its ``model_run`` ends are counted.
        """
        if not self.loaded:
            self.load()  # the input's name and dtype
        feed = {self._input_name: np.ascontiguousarray(x, dtype=self.input_dtype)}
        with tempfile.TemporaryDirectory(prefix="convbench-ort-profile-") as folder:
            session = self._open_session(profile_prefix=str(Path(folder) / "profile"))
            for _ in range(runs + 1):
                session.run(None, feed)
            events = json.loads(Path(session.end_profiling()).read_text())
        return node_times(events)


def node_times(events: list[dict[str, Any]]) -> list[NodeTime]:
    """Per-node totals from ONNX Runtime's trace events, the first (warm-up) run left out.

    Kernel events are ``{"cat": "Node", "name": "<node>_kernel_time", "dur": µs, "args": {"op_name": …}}``;
    ``model_run`` (category ``Session``) events bracket each call.
    """
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("cat") == "Session"
                  and e.get("name") == "model_run")
    after = runs[0][1] if runs else -1  # the end of the warm-up call
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= after:
            total = totals[(e["name"].removesuffix("_kernel_time"), e.get("args", {}).get("op_name", "?"))]
            total[0] += e["dur"] * 1e-6
            total[1] += 1
    return [NodeTime(node, op, seconds, int(calls)) for (node, op), (seconds, calls) in totals.items()]


_ONNX_DTYPES = {"tensor(float)": "float32", "tensor(int8)": "int8", "tensor(uint8)": "uint8"}
