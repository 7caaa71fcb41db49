"""LiteRT's CompiledModel runner: the API LiteRT now recommends, and the one its official benchmark times.

``ai_edge_litert.compiled_model.CompiledModel`` replaces the Interpreter's tensor-by-index calls with
pre-allocated ``TensorBuffer``s and one ``run_by_index`` call; ``ai_edge_litert.tools.benchmark_litert_model``
(the Python mirror of the C++ ``benchmark_litert_model``) creates it the same way: grouped ``Options`` with the
hardware accelerator bitmask and ``CpuOptions(num_threads=…)``. Timing it beside the Interpreter
(:mod:`convbench.runtime.litert`) shows what the newer API costs or saves on the same file.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

from convbench.artifacts import ModelCard
from convbench.errors import ConfigError, ModelError
from convbench.runtime.base import Runner, first_line, register_runner
from convbench.runtime.litert import LiteRTRunner, dequantize, litert_version, quantize
from convbench.verbosity import native_output

# Accelerator name → the HardwareAccelerator flags it sets. GPU and NPU keep CPU as fallback for the ops they lack,
# as the wheel's own HardwareAccelerator docstring recommends; without the device LiteRT runs everything on CPU.
ACCELERATORS = {"cpu": ("CPU",), "gpu": ("GPU", "CPU"), "npu": ("NPU", "CPU")}
# CPU kernel name → the wheel's CpuKernelMode member: XNNPACK (LiteRT's default), TFLite's builtin or reference ops.
CPU_KERNELS = {"xnnpack": "XNNPACK", "builtin": "BUILTIN", "reference": "REFERENCE"}

Quantization = tuple[float, int]  # (scale, zero point); (0.0, 0) for a float tensor


def tflite_io_quantization(path: str | os.PathLike[str]) -> tuple[Quantization, Quantization]:
    """``(scale, zero_point)`` of the first input and first output tensor of a ``.tflite`` file's main subgraph.

    Runtimes that take a ``.tflite`` file but not its tensors' quantisation (CompiledModel's tensor details and
    OpenVINO's graph both leave it out) read it here, from the FlatBuffer itself: a few field reads, no interpreter.
    """
    from ai_edge_litert import schema_py_generated as schema  # LiteRT's own generated FlatBuffer schema

    subgraph = schema.Model.GetRootAsModel(Path(path).read_bytes(), 0).Subgraphs(0)

    def quantization(tensor_index: int) -> Quantization:
        params = subgraph.Tensors(tensor_index).Quantization()
        if params is None or params.ScaleLength() == 0:
            return 0.0, 0
        return float(params.Scale(0)), int(params.ZeroPoint(0))

    return quantization(subgraph.Inputs(0)), quantization(subgraph.Outputs(0))


@register_runner
class LiteRTCompiledRunner(Runner):
    """A ``.tflite`` file in LiteRT's CompiledModel API: one accelerator, ``threads`` CPU threads, buffers bound once.

    Picked by name only (``--runtime litert_compiled``): a ``.tflite`` file still opens in the Interpreter by default.

    Args:
        accelerator: ``cpu`` (default), ``gpu`` or ``npu``; the latter two fall back to CPU for what they cannot run.
        cpu_kernel: the CPU kernels: ``xnnpack`` (default, as the Interpreter), ``builtin`` or ``reference``.
    """

    name = "litert_compiled"
    suffixes = ()  # never the default runtime of a suffix: the Interpreter (litert) keeps .tflite
    no_profiler = ("ai_edge_litert's CompiledModel has no profiler in Python (its only profiling option is for "
                   "Qualcomm NPUs) and tools/benchmark_litert_model.py has no per-op flag")

    def __init__(self, path: str | os.PathLike[str], *, threads: int = 1, card: ModelCard | None = None,
                 accelerator: str = "cpu", cpu_kernel: str = "xnnpack") -> None:
        super().__init__(path, threads=threads, card=card)
        self.accelerator = _choose("accelerator", accelerator, ACCELERATORS)
        self.cpu_kernel = _choose("cpu_kernel", cpu_kernel, CPU_KERNELS)
        self.delegate = f"{accelerator} accelerator, {cpu_kernel} cpu kernels"
        self._unverified = flatbuffer_error(self.path)  # verified here, not in load(): not part of the load timed

    def __del__(self) -> None:
        """Release the compiled model, its buffers and its LiteRT environment quietly (their destructors log)."""
        try:
            with native_output():
                for name in ("_run", "_inputs", "_outputs", "_model"):
                    self.__dict__.pop(name, None)
        except Exception:  # at interpreter shutdown the modules it needs may be gone
            pass

    @property
    def version(self) -> str:
        return litert_version()

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return LiteRTRunner.sniff(path)

    def _load(self) -> None:
        if self._unverified is not None:  # CompiledModel would crash on it (see flatbuffer_error)
            raise ModelError(f"{self.path}: {self.name} cannot load it as a model ({self._unverified})")
        from ai_edge_litert.compiled_model import CompiledModel, CpuKernelMode, CpuOptions, HardwareAccelerator, Options

        flags = HardwareAccelerator(0)
        for member in ACCELERATORS[self.accelerator]:
            flags |= HardwareAccelerator[member]
        options = Options(hardware_accelerators=flags, cpu_options=CpuOptions(
            num_threads=self.threads, kernel_mode=CpuKernelMode[CPU_KERNELS[self.cpu_kernel]]))
        self._model = CompiledModel.from_file(str(self.path), options=options)
        signature = next(iter(self._model.get_signature_list()))  # Keras exports have one: serving_default
        inp = next(iter(self._model.get_input_tensor_details(signature).values()))
        out = next(iter(self._model.get_output_tensor_details(signature).values()))
        self.input_dtype, self._out_dtype = np.dtype(inp["dtype"]), np.dtype(out["dtype"])
        self._out_shape = tuple(out["shape"])
        self._in_quant, self._out_quant = tflite_io_quantization(self.path)
        if np.issubdtype(self.input_dtype, np.integer) and not self._in_quant[0]:
            raise ModelError(f"{self.path}: {self.input_dtype} input without a quantisation scale")
        self._inputs, self._outputs = self._model.create_input_buffers(0), self._model.create_output_buffers(0)
        self._run = self._model.run_by_index  # bound once: no attribute lookups in the timed call

    def _set_input(self, x: np.ndarray) -> None:
        self._inputs[0].write(quantize(x, self.input_dtype, self._in_quant))

    def invoke(self) -> None:
        self._run(0, self._inputs, self._outputs)

    def _get_output(self) -> np.ndarray:
        y = self._outputs[0].read(int(np.prod(self._out_shape)), self._out_dtype)
        return dequantize(np.asarray(y).reshape(self._out_shape), self._out_quant)


def flatbuffer_error(path: Path) -> str | None:
    """Why LiteRT's FlatBuffer verifier refuses the ``.tflite`` file at ``path``; ``None`` when it passes.

    ``CompiledModel.from_file`` does not verify the file: a truncated ``.tflite`` crashed the process (SIGSEGV)
    instead of failing. The Interpreter's constructor verifies it (without allocating anything), so the runner asks
    it first, when it is opened: its load, which the harness times, then only reads the answer. A file is verified
    once per content (path, size and modification time).
    """
    stat = path.stat()
    return _verifier_says(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _verifier_says(path: str, size: int, mtime_ns: int) -> str | None:
    from ai_edge_litert.interpreter import Interpreter

    try:
        with native_output():
            Interpreter(model_path=path)
    except (ValueError, RuntimeError) as e:
        return first_line(e)
    return None


def _choose(option: str, value: str, choices: dict[str, Any]) -> str:
    if value not in choices:
        raise ConfigError(f"{option} must be one of {', '.join(choices)}, got {option}={value!r}")
    return value
