"""Quiet by default: what the libraries convbench drives may print on the terminal, and when.

Library and native log lines (TensorFlow, LiteRT's C++ ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.``
and its CompiledModel environment's, OpenVINO, ONNX Runtime, Optuna, Ray) stay off the terminal unless asked for
with ``convbench --verbose`` (or ``CONVBENCH_VERBOSE=1``, which child processes inherit): the first line a failing
command prints on stderr is always convbench's own.

Where a library has a setting, it is used: ``TF_CPP_MIN_LOG_LEVEL`` for TensorFlow's C++ logging (set in
:mod:`convbench`), Python's logging and warnings (the CLI, :func:`convbench.cli.main`), ONNX Runtime's session log
severity and Ray's ``log_to_driver`` (their runners). LiteRT has none: its C++ logger writes straight to file
descriptor 2, past Python's ``sys.stderr``, and ``ai_edge_litert`` neither reads an environment variable for it nor
exports its logger's setter. So :class:`native_output` points descriptor 2 at ``/dev/null`` while a native call
that talks runs (an interpreter or compiled model built, loaded or released, the int8 calibrator of the TFLite
converter), unless verbose; and once one has run,
the same holds at exit, where LiteRT's environments say goodbye from their destructors.

Light to import (the standard library only), beneath every layer.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from types import TracebackType

VERBOSE_ENV = "CONVBENCH_VERBOSE"

_lock = threading.Lock()
_depth = 0  # open native_output windows (nested ones do nothing: the outer one holds descriptor 2)
_saved_fd: int | None = None
_quiet_at_exit = False


def verbose() -> bool:
    """Whether library and native log lines may reach the terminal (``--verbose`` or ``CONVBENCH_VERBOSE=1``)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def set_verbose(on: bool) -> None:
    """Let library and native log lines through (``True``) or not; child processes inherit the choice."""
    os.environ[VERBOSE_ENV] = "1" if on else "0"


class native_output:  # a context manager, named as contextlib's are
    """Keep what native code writes to file descriptor 2 off the terminal while the body runs, unless verbose.

    Python's own writes to ``sys.stderr`` in the window (a warning, a progress bar) still reach the terminal: while
    descriptor 2 is silenced, ``sys.stderr`` writes to a copy of the terminal's descriptor. Re-entrant, and cheap
    inside an open window (a check and a counter: the latency harness opens one around its timed loads, so the
    loads' own windows cost the timing nothing).
    """

    __slots__ = ("_active",)

    def __init__(self) -> None:
        self._active = False

    def __enter__(self) -> native_output:
        global _depth, _saved_fd, _quiet_at_exit
        if verbose():
            return self
        with _lock:
            if _depth == 0:
                try:
                    sys.stderr.flush()
                    saved = os.dup(2)
                    sink = os.open(os.devnull, os.O_WRONLY)
                except (OSError, ValueError, AttributeError):  # no descriptor 2 (a daemon) or no sys.stderr
                    return self
                try:
                    os.dup2(sink, 2)
                finally:
                    os.close(sink)
                _saved_fd = saved
                _keep_python_stderr(saved)
                if not _quiet_at_exit:
                    atexit.register(_silence_at_exit)
                    _quiet_at_exit = True
            _depth += 1
            self._active = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        global _depth, _saved_fd
        if not self._active:
            return
        self._active = False
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_fd is not None:
                _restore_python_stderr()
                os.dup2(_saved_fd, 2)
                os.close(_saved_fd)
                _saved_fd = None


_swapped: tuple[object, object] | None = None  # (the sys.stderr put back after the window, the one used in it)


def _keep_python_stderr(terminal_fd: int) -> None:
    """Point ``sys.stderr`` at the terminal (``terminal_fd``) for the window, when it wrote to descriptor 2 (not when
    something else captures it: a test's capture keeps its own)."""
    global _swapped
    stream = sys.stderr
    try:
        if stream is None or stream.fileno() != 2:
            return
        copy = open(os.dup(terminal_fd), "w", encoding=stream.encoding, errors="backslashreplace",  # noqa: SIM115
                    buffering=1)
    except (OSError, ValueError, AttributeError):
        return
    _swapped = (stream, copy)
    sys.stderr = copy


def _restore_python_stderr() -> None:
    global _swapped
    if _swapped is None:
        return
    original, copy = _swapped
    _swapped = None
    if sys.stderr is copy:
        sys.stderr = original  # type: ignore[assignment]
    with contextlib.suppress(OSError, ValueError):
        copy.close()  # type: ignore[attr-defined]


def _silence_at_exit() -> None:
    """At exit, after a native library has been used quietly: its destructors' lines (LiteRT's
    ``DestroyAccelerator …``) go nowhere. Python's own output is flushed first."""
    if verbose():
        return
    try:
        sys.stderr.flush()
        sink = os.open(os.devnull, os.O_WRONLY)
        os.dup2(sink, 2)
        os.close(sink)
    except (OSError, ValueError, AttributeError):
        pass
