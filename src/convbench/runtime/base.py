"""The Runner contract: one small interface over every inference runtime, so the harness never branches on one.

A runner owns one model file and its card. Its lifecycle splits the work the way the latency harness times it::

    runner = open_runner("model.tflite", threads=1)   # reads the card only: cheap, validates options
    runner.load()                                     # file read + interpreter/session creation + allocation
    runner.set_input(x)                               # float32 (1, H, W, C); quantised here for int8 inputs
    runner.invoke()                                   # ONLY the run call: the steady-state timed region
    probs = runner.get_output()                       # float32 (1, classes), dequantised

``predict(x)`` wraps all four for any batch size. A runtime is one :class:`Runner` subclass decorated
with :func:`register_runner`; :func:`open_runner` picks it by name or by file suffix.
"""

from __future__ import annotations

import abc
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

import numpy as np

from convbench.artifacts import ModelCard, read_card
from convbench.checks import check_threads, one_of
from convbench.errors import ConvbenchError, ModelError
from convbench.verbosity import native_output
from convbench.vocabulary import RUNTIMES

_RUNNERS: dict[str, type[Runner]] = {}  # runtime name → Runner subclass


@dataclass(frozen=True)
class NodeTime:
    """One graph node's time under the runtime's own profiler, summed over the profiled runs.

    Attributes:
        node: the node's name as the runtime reports it (after the runtime's own graph rewrites: a fused node
            carries the name the runtime gave it).
        op_type: its operator type in the runtime's vocabulary (``Conv``, ``Convolution``, ``FusedConv`` …).
        seconds: its total time over all calls.
        calls: how many times it ran.
    """

    node: str
    op_type: str
    seconds: float
    calls: int


class Runner(abc.ABC):
    """Runs one model file at batch 1 in one runtime.

    Subclasses set the class attributes and implement :meth:`_load`, :meth:`_set_input`, :meth:`invoke`
    and :meth:`_get_output`; the base validates input shapes, loads lazily in :meth:`predict` and
    keeps ``input_dtype`` honest.

    Attributes:
        name: runtime name (``litert``, ``onnxruntime``, ``keras``): the registry key.
        suffixes: model file suffixes this runtime opens by default (``(".tflite",)``).
        path: the model file.
        card: its model card.
        threads: intra-op threads (≥ 1) the runtime uses.
        delegate: the execution provider / delegate doing the work (``xnnpack``, ``cpu``, ``tf.function``).
        input_shape: ``(1, H, W, C)`` from the card.
        input_dtype: dtype of the model's input tensor (``float32``, or ``int8`` for an int8-input file);
            known from the card before :meth:`load` and from the file itself after.
    """

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]] = ()
    delegate: str = "cpu"
    # Why :meth:`profile_nodes` cannot work in this runtime; None where it is implemented. The reason is shown to
    # the user as is, so it names what the installed library lacks.
    no_profiler: ClassVar[str | None] = "convbench has no per-operator profiler for this runtime"

    def __init__(self, path: str | os.PathLike[str], *, threads: int = 1, card: ModelCard | None = None) -> None:
        self.path = Path(path)
        self.threads = check_threads(threads)
        self.card = card if card is not None else read_card(self.path)
        self.input_shape: tuple[int, ...] = (1, *self.card.input_shape)
        self.input_dtype = np.dtype(self.card.extra.get("input_dtype", "float32"))
        self.loaded = False

    # -- the contract -------------------------------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def version(self) -> str:
        """Version of the runtime library (``ai-edge-litert 2.3.0`` → ``"2.3.0"``)."""

    def load(self) -> None:
        """Read the file, create the interpreter/session and allocate tensors: everything before inference.

        What the runtime's native code prints meanwhile stays off the terminal unless verbose
        (:class:`~convbench.verbosity.native_output`)."""
        try:
            with native_output():
                self._load()
        except ConvbenchError:
            raise
        except Exception as e:  # each runtime has its own exception zoo for a corrupt file
            raise ModelError(f"{self.path}: {self.name} cannot load it as a model ({first_line(e)})") from None
        self.loaded = True

    def set_input(self, x: np.ndarray) -> None:
        """Set one float32 input batch ``(1, H, W, C)`` (quantised with the tensor's scale/zero point if int8)."""
        x = np.asarray(x)
        if tuple(x.shape) != self.input_shape:
            raise ModelError(f"{self.path.name}: input of shape {tuple(x.shape)}, expected {self.input_shape}")
        self._set_input(x.astype(np.float32, copy=False))

    @abc.abstractmethod
    def invoke(self) -> None:
        """Run the model on the input already set: only the run call, nothing else (the timed region)."""

    def get_output(self) -> np.ndarray:
        """Class probabilities of the last :meth:`invoke`, float32 ``(1, classes)`` (dequantised)."""
        return np.asarray(self._get_output(), dtype=np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for a float32 batch ``(N, H, W, C)``, one image at a time; loads the model if needed."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape[1:]:
            raise ModelError(f"{self.path.name}: batch of shape {tuple(x.shape)}, expected (N, "
                             f"{', '.join(map(str, self.input_shape[1:]))})")
        if not self.loaded:
            self.load()
        outputs = []
        for image in x:
            self.set_input(image[None])
            self.invoke()
            outputs.append(self.get_output())
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.card.class_names)), np.float32)

    def profile_nodes(self, x: np.ndarray, runs: int) -> list[NodeTime]:
        """Run the model ``runs`` times on the float32 input ``x`` with the runtime's own profiler on.

        Optional: a runtime that offers a per-operator profiler in Python overrides this (and sets
        ``no_profiler = None``). The profiled model is a separate session or compiled model, so the one that is
        timed never carries the profiler's overhead; warm-up calls are left out of the records.

        Raises:
            NotImplementedError: this runtime has no profiler (the message is ``no_profiler``).
        """
        raise NotImplementedError(self.no_profiler)

    # -- what a runtime implements ------------------------------------------------------------------------------

    @abc.abstractmethod
    def _load(self) -> None:
        """Create the interpreter/session from ``self.path``; set ``self.input_dtype`` from the file."""

    @abc.abstractmethod
    def _set_input(self, x: np.ndarray) -> None:
        """Copy the float32 batch-1 input ``x`` (shape already checked) into the runtime."""

    @abc.abstractmethod
    def _get_output(self) -> np.ndarray:
        """The raw output of the last invoke (float32 or dequantised)."""

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """Cheap check that ``path`` looks like this runtime's file format (magic bytes); True if unsure."""
        return True

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.path)!r}, threads={self.threads}, {self.name} {self.version}, "
                f"delegate={self.delegate!r})")


R = TypeVar("R", bound=type[Runner])


def register_runner(cls: R) -> R:
    """Class decorator: make ``cls`` available to :func:`open_runner` under ``cls.name``."""
    if cls.name in _RUNNERS:
        warnings.warn(f"runtime {cls.name!r} registered twice", stacklevel=2)
    _RUNNERS[cls.name] = cls
    return cls


def list_runtimes() -> list[str]:
    """Names of the registered runtimes."""
    return sorted(_RUNNERS)


def runtime_for(path: str | os.PathLike[str]) -> str:
    """The default runtime of a model file, from its suffix; :class:`ModelError` for an unknown suffix."""
    suffix = Path(path).suffix.lower()
    for name, cls in _RUNNERS.items():
        if suffix in cls.suffixes:
            return name
    known = sorted(s for cls in _RUNNERS.values() for s in cls.suffixes)
    raise ModelError(f"{path}: not a model file convbench can run (suffix {suffix or 'none'!r}; "
                     f"known: {', '.join(known)})")


def open_runner(path: str | os.PathLike[str], runtime: str | None = None, threads: int = 1, *,
                card: ModelCard | None = None) -> Runner:
    """A runner for ``path`` in ``runtime`` (None: inferred from the suffix), not loaded yet.

    ``card`` stands in for the sidecar beside ``path`` (for a file whose card is not written yet).

    Raises:
        ConfigError: unknown runtime, or threads outside [1, ``MAX_THREADS``].
        ModelError: missing file, a file that is not a model of that runtime, or no model card beside it.
    """
    check_threads(threads)
    if runtime is not None:
        one_of("runtime", runtime, list_runtimes())
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    cls = _RUNNERS[runtime or runtime_for(path)]
    if not path.is_file() or not cls.sniff(path):
        raise ModelError(f"{path}: {cls.name} cannot open it ({_format_of(cls)})")
    card = card if card is not None else read_card(path)
    for opener in _CARD_RUNNERS:
        if (special := opener(path, cls.name, threads, card)) is not None:
            return special
    return cls(path, threads=threads, card=card)


CardRunner = Callable[[Path, str, int, ModelCard], "Runner | None"]
_CARD_RUNNERS: list[CardRunner] = []


def register_card_runner(opener: CardRunner) -> CardRunner:
    """Let a feature open the files whose card asks for more than a plain model's runner.

    ``opener(path, runtime, threads, card)`` returns the runner of a file that is its own, else ``None`` (an
    exported early-exit file: its threshold input and its chained segments are not a plain model's, see
    :mod:`convbench.runtime.early_exit`). :func:`open_runner` asks every registered opener before the runtime's own
    runner, so a generic caller never needs to know the feature exists.
    """
    _CARD_RUNNERS.append(opener)
    return opener




def _format_of(cls: type[Runner]) -> str:
    """What files ``cls`` opens, for an error (``not a .tflite model file``): never "a onnxruntime model file"."""
    info = RUNTIMES.get(cls.name)
    formats = [f".{f}" for f in info.file_formats] if info is not None else list(cls.suffixes)
    return f"not a {' or '.join(formats)} model file" if formats else "not a model file it runs"


def first_line(e: BaseException) -> str:
    """The first non-blank line of an exception's message (for one-line errors), else its type name."""
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__
