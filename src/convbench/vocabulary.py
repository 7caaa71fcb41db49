"""The shared words of convbench: one home for every name that the schema, plan, exporter, runners, report and
CLI all use, so that each is spelled (and validated) once.

Keras-free and import-light on purpose: the experiment schema and ``convbench --help`` read it, and neither
may pay TensorFlow's import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# -- export modes ---------------------------------------------------------------------------------------------

QUANTIZE_MODES = ("none", "dynamic", "float16", "int8")  # "none" is float32
QuantizeModeName = Literal["none", "dynamic", "float16", "int8"]
# The reference study's TensorFlow optimisation names: TensorFlow documents OPTIMIZE_FOR_LATENCY and
# OPTIMIZE_FOR_SIZE as deprecated aliases of DEFAULT, which is dynamic-range quantisation (int8 weights,
# float activations), so all three name one mode and give byte-identical files.
TF_OPTIMIZATIONS = ("DEFAULT", "OPTIMIZE_FOR_LATENCY", "OPTIMIZE_FOR_SIZE")
QUANTIZE_ALIASES = dict.fromkeys(TF_OPTIMIZATIONS, "dynamic")
ALIAS_NOTE = ("TensorFlow documents OPTIMIZE_FOR_LATENCY, OPTIMIZE_FOR_SIZE and DEFAULT as the same optimisation "
              "(dynamic-range quantisation): expect byte-identical files (compare their sha256)")


def quantize_label(mode: str) -> str:
    """How reports name an export mode: ``none`` → ``float32``, the others as they are."""
    return "float32" if mode == "none" else mode


# -- file formats and runtimes ----------------------------------------------------------------------------------

EXPORT_SUFFIXES = {"tflite": ".tflite", "onnx": ".onnx"}  # export target → file suffix
ExportTarget = Literal["tflite", "onnx"]


@dataclass(frozen=True)
class RuntimeInfo:
    """A runtime as the rest of convbench speaks of it.

    Attributes:
        name: the registry key (``litert``), as experiment files and ``--runtime`` spell it.
        file_format: the model file format it runs (``tflite``, ``onnx``, ``keras``).
        display: its name in reports (``LiteRT``).
    """

    name: str
    file_format: str
    display: str


RUNTIMES = {info.name: info for info in (RuntimeInfo("litert", "tflite", "LiteRT"),
                                         RuntimeInfo("onnxruntime", "onnx", "ONNX Runtime"),
                                         RuntimeInfo("keras", "keras", "Keras tf.function"))}
RuntimeName = Literal["litert", "onnxruntime", "keras"]


def runtime_display(name: str) -> str:
    """A runtime's name in reports (``onnxruntime`` → ``ONNX Runtime``); unknown names as given."""
    info = RUNTIMES.get(name)
    return info.display if info is not None else name


# -- early exit -----------------------------------------------------------------------------------------------

EARLY_EXIT_FORMS = ("single", "chained")  # one .tflite with an IF op; two chained segments
EarlyExitForm = Literal["single", "chained"]
DEFAULT_THRESHOLD = 0.5  # exit when P(redundant) ≥ threshold
