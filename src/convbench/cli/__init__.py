"""The ``convbench`` command: a thin layer over the library; each area registers its commands here.

Every :class:`~convbench.errors.ConvbenchError` (bad files, names, options) becomes one line on
stderr and exit status 2, never a traceback; Ctrl-C one line saying what is kept, and exit status 130;
a Python warning one line ``convbench: warning: …``.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator

import typer

from convbench import __version__
from convbench.errors import ConvbenchError

app = typer.Typer(name="convbench", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None,  # plain help text: keeps "[default: …]" (rich markup would eat it)
                  help="Train, export, time and compare CNN image classifiers for small devices.")



def _show_version(value: bool) -> None:
    if value:
        print(f"convbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    """Train, export, time and compare CNN image classifiers for small devices."""


# Command modules register their commands on `app` when imported (kept last: they import `app`).
from convbench.cli import (  # noqa: E402
    bench_cmd,  # noqa: F401
    data_cmd,  # noqa: F401
    early_exit_cmd,  # noqa: F401
    export_cmd,  # noqa: F401
    models_cmd,  # noqa: F401
    run_cmd,  # noqa: F401
    search_cmd,  # noqa: F401
    train_cmd,  # noqa: F401
)

# What Ctrl-C leaves for the next run, by command (the others write each file atomically at the end).
_RESUMABLE = {
    "run": "finished steps are kept: run the same command again to resume",
    "train": "finished epochs are kept in OUT/checkpoint: run the same command again to resume",
    "early-exit train": "finished epochs are kept in OUT's checkpoints: run the same command again to resume",
    "search": "finished trials are kept in OUT: run the same command with --resume to continue",
}
_NOTHING_HALF_WRITTEN = "nothing was half-written: run the command again"
INTERRUPTED_STATUS = 130  # 128 + SIGINT, as a shell reports a process ended by Ctrl-C


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (errors as one line on stderr)."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with _one_line_warnings():
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
    """Ctrl-C: one line, what the next run keeps, status 130."""
    words = [a for a in args if not a.startswith("-")][:2]
    command = " ".join(words) if words[:1] == ["early-exit"] else " ".join(words[:1])
    print(f"convbench: interrupted; {_RESUMABLE.get(command, _NOTHING_HALF_WRITTEN)}", file=sys.stderr)
    return INTERRUPTED_STATUS


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Show each Python warning as one line on stderr (not Python's two, with a source line) while the CLI runs."""
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: object = None,
             line: str | None = None) -> None:
        print(f"convbench: warning: {' '.join(str(message).split())}", file=sys.stderr)

    original = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


def entry_point() -> None:
    sys.exit(main())
