"""LiteRT (formerly TensorFlow Lite) runner: ``ai_edge_litert``'s Interpreter with its default XNNPACK delegate.

Never ``tf.lite.Interpreter``: deprecated since TF 2.20 and a different build of the same runtime.
"""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from convbench.runtime.base import Runner, register_runner
from convbench.verbosity import native_output


def open_interpreter(path: str | os.PathLike[str], threads: int) -> Any:
    """A LiteRT Interpreter for ``path`` with ``threads`` intra-op threads, tensors allocated (XNNPACK applied).

    The one place convbench creates an interpreter: the plain runner and both early-exit runners use it. LiteRT's C++
    logger announces the delegate on descriptor 2 (``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.``) and
    has no setting to keep it quiet: it goes nowhere unless verbose (:class:`~convbench.verbosity.native_output`).
    """
    # imported here as every runtime library is: opening the runner registry must not load them all
    from ai_edge_litert.interpreter import Interpreter

    with native_output():
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    return interpreter


def litert_version() -> str:
    """The installed ``ai-edge-litert`` version."""
    return version("ai-edge-litert")


@register_runner
class LiteRTRunner(Runner):
    """A ``.tflite`` file in LiteRT, ``threads`` intra-op threads, XNNPACK delegate (applied at allocation)."""

    name = "litert"
    suffixes = (".tflite",)
    delegate = "xnnpack"
    no_profiler = ("ai_edge_litert's Interpreter returns no per-op times in Python: LiteRT's op profiler is C++ only "
                   "(experimental_force_delegate_node_profiling just feeds a profiler Python cannot attach)")

    @property
    def version(self) -> str:
        return litert_version()

    @classmethod
    def sniff(cls, path: Path) -> bool:
        with open(path, "rb") as f:
            return f.read(8)[4:8] == b"TFL3"  # FlatBuffer file identifier of every .tflite

    def _load(self) -> None:
        self._interpreter = open_interpreter(self.path, self.threads)
        inp = self._interpreter.get_input_details()[0]
        out = self._interpreter.get_output_details()[0]
        self._in_index, self._out_index = inp["index"], out["index"]
        self._in_quant, self._out_quant = inp["quantization"], out["quantization"]
        self.input_dtype = np.dtype(inp["dtype"])
        self._invoke = self._interpreter.invoke  # bound once: no attribute lookups in the timed call

    def _set_input(self, x: np.ndarray) -> None:
        self._interpreter.set_tensor(self._in_index, quantize(x, self.input_dtype, self._in_quant))

    def invoke(self) -> None:
        self._invoke()

    def _get_output(self) -> np.ndarray:
        return dequantize(self._interpreter.get_tensor(self._out_index), self._out_quant)


def quantize(x: np.ndarray, dtype: np.dtype, quantization: tuple[float, int]) -> np.ndarray:
    """Float32 ``x`` as the tensor's ``dtype``: ``round(x / scale) + zero_point`` for integer tensors."""
    if not np.issubdtype(dtype, np.integer):
        return x.astype(dtype, copy=False)
    scale, zero_point = quantization
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(y: np.ndarray, quantization: tuple[float, int]) -> np.ndarray:
    """Integer tensor ``y`` back to float32: ``(y - zero_point) * scale``; float tensors unchanged."""
    if not np.issubdtype(y.dtype, np.integer):
        return y.astype(np.float32, copy=False)
    scale, zero_point = quantization
    return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)
