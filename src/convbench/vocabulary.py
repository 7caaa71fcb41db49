"""The shared words of convbench: one home for every name that the schema, plan, exporter, runners, report and
CLI all use, so that each is spelled (and validated) once; and the defaults that the library's functions, the
experiment schema and the CLI's help all state, so that each is written once.

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
QUANTIZE_NAMES = (*QUANTIZE_MODES, *TF_OPTIMIZATIONS)  # every accepted quantize= name, as error messages list them
DEFAULT_QUANTIZE: QuantizeModeName = "none"  # float32: what export() writes unless told otherwise
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
        file_formats: the model file formats it runs (``tflite``, ``onnx``, ``keras``).
        display: its name in reports (``LiteRT``).
    """

    name: str
    file_formats: tuple[str, ...]
    display: str


RUNTIMES = {info.name: info for info in (RuntimeInfo("litert", ("tflite",), "LiteRT"),
                                         RuntimeInfo("onnxruntime", ("onnx",), "ONNX Runtime"),
                                         RuntimeInfo("keras", ("keras",), "Keras tf.function"),
                                         RuntimeInfo("openvino", ("tflite", "onnx"), "OpenVINO"),
                                         RuntimeInfo("litert_compiled", ("tflite",), "LiteRT CompiledModel"))}
RuntimeName = Literal["litert", "onnxruntime", "keras", "openvino", "litert_compiled"]
# The runtime a file of each format runs in unless another is named (the runners' own file suffixes agree).
DEFAULT_RUNTIMES = {"tflite": "litert", "onnx": "onnxruntime", "keras": "keras"}


def runtime_display(name: str) -> str:
    """A runtime's name in reports (``onnxruntime`` → ``ONNX Runtime``); unknown names as given."""
    info = RUNTIMES.get(name)
    return info.display if info is not None else name


# -- early exit -----------------------------------------------------------------------------------------------

EARLY_EXIT_FORMS = ("single", "chained")  # one .tflite with an IF op; two chained segments
EarlyExitForm = Literal["single", "chained"]
DEFAULT_THRESHOLD = 0.5  # exit when P(redundant) ≥ threshold
DEFAULT_OUTLIER_SHARE = 0.25  # of the redundant class given to an outlier-exposure set
# cues the open-world augmentation can take away from the exit (augment_cues): polarity is a trivial cue only where the
# main class comes in both polarities (MNIST digits are always light on dark: flipping them hides a real cue)
CUES = ("polarity", "brightness", "contrast")
CueName = Literal["polarity", "brightness", "contrast"]  # one of CUES, for typed settings
DEFAULT_EXIT_HEAD = (512, 512)  # the exit's hidden Dense units before width scaling: VGG-19's fc1, fc2


# -- defaults -------------------------------------------------------------------------------------------------
# Each record mirrors the keyword defaults of one library function, which reads its defaults from here, as do the
# experiment schema and the CLI's help; tests/test_vocabulary.py checks each record against its function's signature.

DEFAULT_WIDTH = 1.0  # width multiplier α: every builder at its paper's width
# How the validation split is held out of the training pool: single images at random (stratified by class),
# or whole groups of images as the loader gives them (a Fruits-360 frame sequence, an Omniglot alphabet …).
VAL_SPLITS = ("random", "groups")


@dataclass(frozen=True)
class TrainDefaults:
    """:func:`convbench.train.train`'s settings unless told otherwise (also the experiment's ``[train]``)."""

    width: float = DEFAULT_WIDTH
    epochs: int = 20
    batch_size: int = 32
    patience: int = 5  # epochs without a better validation accuracy before stopping
    seed: int = 0
    val_fraction: float = 0.1  # share of the training split held out for validation
    val_split: str = "random"  # how validation is held out: one of VAL_SPLITS


@dataclass(frozen=True)
class BenchDefaults:
    """:func:`convbench.bench.bench`'s settings unless told otherwise (also the experiment's ``[bench]``)."""

    threads: int = 1
    runs: int = 100  # timed calls, at least
    min_seconds: float = 1.0  # timed loop length, at least
    warmup: int = 10
    warmup_seconds: float = 0.5
    load_repeats: int = 5  # fresh loads timed, each with a cold first call


@dataclass(frozen=True)
class DescribeDefaults:
    """:func:`convbench.models.describe_all`'s shape unless told otherwise (``convbench models``)."""

    channels: int = 3
    num_classes: int = 2
    width: float = DEFAULT_WIDTH


# Interleaved rounds when several configurations are timed side by side: a verdict is decided on the rounds
# (convbench.bench.verdict), and 10 paired rounds let the exact signed-rank test reach p = 0.002 and the
# order-statistic interval of the median 95 % (ranks 2 and 9).
DEFAULT_ROUNDS = 10

TRAIN_DEFAULTS = TrainDefaults()
BENCH_DEFAULTS = BenchDefaults()
DESCRIBE_DEFAULTS = DescribeDefaults()

# -- studies and their history --------------------------------------------------------------------------------

DEFAULT_EXPERIMENT = "default"  # the shipped experiment `convbench run` runs when none is named
RESULTS_ROOT = "results"  # a study's default output folder: results/<study name> under the current directory
HISTORY_ENV = "CONVBENCH_HISTORY"  # environment variable naming the SQLite results history
DEFAULT_HISTORY = "~/.convbench/results.sqlite"  # the history without $CONVBENCH_HISTORY or an explicit path

# -- timing targets -------------------------------------------------------------------------------------------

DEFAULT_TARGET = "local"  # where bench times a model unless told otherwise: this machine
TARGET_FORMS = ("local", "ssh://[user@]host[:port]", "adb[://SERIAL]")  # how error messages and --help list them
SSH_OPTIONS_ENV = "CONVBENCH_SSH_OPTIONS"  # extra ssh/scp options (-F config, -i key, -o …), split like a shell
REMOTE_PYTHON_ENV = "CONVBENCH_REMOTE_PYTHON"  # the interpreter that runs the agent on an ssh host (python3)
BENCHMARK_MODEL_ENV = "CONVBENCH_BENCHMARK_MODEL"  # the benchmark_model binary pushed to an adb device
BENCHMARK_MODEL_HOME = "~/.convbench/tools"  # where convbench looks for android_<abi>_benchmark_model otherwise
