"""The ``convbench`` command: a thin layer over the library; each area registers its commands here.

Every :class:`~convbench.errors.ConvbenchError` (bad files, names, options) becomes one line on
stderr and exit status 2, never a traceback; Ctrl-C one line saying what is kept, and exit status 130;
a warning of convbench's one line ``convbench: warning: …``.

Quiet by default (:mod:`convbench.verbosity`): the libraries' own log lines and warnings (TensorFlow, LiteRT, ONNX
Runtime, OpenVINO, Optuna, Ray, Keras) stay off the terminal unless ``--verbose`` is given (anywhere on the command
line), so the first line on stderr is always convbench's own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import typer

# Command modules register their commands on `app` when imported.
from convbench.cli import (
    bench_cmd,  # noqa: F401
    data_cmd,  # noqa: F401
    early_exit_cmd,  # noqa: F401
    export_cmd,  # noqa: F401
    models_cmd,  # noqa: F401
    run_cmd,  # noqa: F401
    search_cmd,
    train_cmd,  # noqa: F401
)
from convbench.cli.app import VERBOSE_OPTION, app
from convbench.errors import ConvbenchError
from convbench.verbosity import VERBOSE_ENV, set_verbose, verbose

# What Ctrl-C leaves for the next run, by command (the others write each file atomically at the end); {out} is the
# command's --out as given (or its default), so the line names the real folder.
_RESUMABLE = {
    "run": "finished steps are kept: run the same command again to resume",
    "train": "finished epochs are kept in {checkpoint}: run the same command again to resume",
    "early-exit train": "finished epochs are kept in {out}'s checkpoints: run the same command again to resume",
    "search": "finished trials are kept in {out}: run the same command with --resume to continue",
}
_DEFAULT_OUT = {"search": search_cmd.DEFAULT_OUT}
_OUT_OPTIONS = ("--out", "-o")
_NOTHING_HALF_WRITTEN = "nothing was half-written: run the command again"
INTERRUPTED_STATUS = 130  # 128 + SIGINT, as a shell reports a process ended by Ctrl-C


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (errors as one line on stderr)."""
    args, loud = _take_verbose(sys.argv[1:] if argv is None else list(argv))
    try:
        with _verbosity(loud), _one_line_warnings():
            status = app(args=args, prog_name="convbench", standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except typer.TyperException as e:  # usage errors (missing argument, unknown option, a value of the wrong type)
        ctx = getattr(e, "ctx", None)
        where = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
        print(f"convbench: error: {' '.join(e.format_message().split()).rstrip('.')}{where}", file=sys.stderr)
        return e.exit_code
    except typer.Abort:
        return _interrupted(args)
    except ConvbenchError as e:
        print(f"convbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted(args)
    except OSError as e:  # disk full, permission denied …: name the file, no traceback
        where = f" {e.filename}" if e.filename else ""
        print(f"convbench: error:{where} {e.strerror or e}", file=sys.stderr)
        return 2
    if status == INTERRUPTED_STATUS:  # typer turns Ctrl-C into this status (no command returns it otherwise)
        return _interrupted(args)
    return status if isinstance(status, int) else 0  # typer returns a command's `raise typer.Exit(n)` as n


def _interrupted(args: list[str]) -> int:
    """Ctrl-C: one line, what the next run keeps (naming the folder it is in), status 130."""
    words = [a for a in args if not a.startswith("-")][:2]
    command = " ".join(words) if words[:1] == ["early-exit"] else " ".join(words[:1])
    out = _option_value(args, _OUT_OPTIONS) or _DEFAULT_OUT.get(command, "the output folder")
    kept = _RESUMABLE.get(command, _NOTHING_HALF_WRITTEN).format(out=out, checkpoint=Path(out) / "checkpoint")
    print(f"convbench: interrupted; {kept}", file=sys.stderr)
    return INTERRUPTED_STATUS


def _option_value(args: list[str], names: tuple[str, ...]) -> str | None:
    """The value the last of ``names`` was given in ``args`` (``--out X`` or ``--out=X``), else ``None``."""
    found = None
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in names:
            found = value if eq else (args[i + 1] if i + 1 < len(args) else found)
    return found


def _take_verbose(args: list[str]) -> tuple[list[str], bool]:
    """``args`` without ``--verbose`` (before a ``--``), and whether it was there: the option is the root command's,
    but accepted after a subcommand too (``convbench bench m.tflite --verbose``)."""
    end = args.index("--") if "--" in args else len(args)
    kept = [a for a in args[:end] if a != VERBOSE_OPTION] + args[end:]
    return kept, len(kept) < len(args)


@contextlib.contextmanager
def _verbosity(loud: bool) -> Iterator[None]:
    """While the CLI runs: ``--verbose`` (or ``CONVBENCH_VERBOSE=1``) lets the libraries' log lines through; without
    it Python's logging is off (every library convbench drives logs through it: absl, TensorFlow, Optuna, tf2onnx;
    convbench itself prints, never logs), and native lines are kept off by :mod:`convbench.verbosity`."""
    saved = {name: os.environ.get(name) for name in (VERBOSE_ENV, "TF_CPP_MIN_LOG_LEVEL")}
    disabled = logging.root.manager.disable
    if loud:
        set_verbose(True)
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # TensorFlow reads it when first imported (the commands import late)
    if not verbose():
        logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(disabled)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _raised_by_convbench() -> bool:
    """Whether the warning being shown was raised by convbench's code (not a library's): the first frame outside
    the warnings machinery is the one that called ``warnings.warn``, wherever its ``stacklevel`` points."""
    frame = sys._getframe(2)  # the caller of show()
    while frame is not None and frame.f_globals.get("__name__") == "warnings":
        frame = frame.f_back
    return frame is not None and str(frame.f_globals.get("__name__", "")).startswith("convbench")


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Show each of convbench's warnings as one line on stderr (not Python's two, with a source line) while the CLI
    runs; a library's only with ``--verbose``."""
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: object = None,
             line: str | None = None) -> None:
        if not (verbose() or _raised_by_convbench()):
            return
        print(f"convbench: warning: {' '.join(str(message).split())}", file=sys.stderr)

    original = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


def entry_point() -> None:
    sys.exit(main())
