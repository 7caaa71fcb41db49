"""The ``convbench`` command: a thin layer over the library; each area registers its commands here.

Every :class:`~convbench.errors.ConvbenchError` (bad files, names, options) becomes one line on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys

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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (errors as one line on stderr)."""
    try:
        status = app(args=argv, prog_name="convbench", standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except typer.TyperException as e:  # usage errors: typer already phrases them (with the usage line)
        e.show() if hasattr(e, "show") else print(f"convbench: error: {e.format_message()}", file=sys.stderr)
        return e.exit_code
    except typer.Abort:
        print("convbench: aborted", file=sys.stderr)
        return 130
    except ConvbenchError as e:
        print(f"convbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("convbench: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # disk full, permission denied …: name the file, no traceback
        where = f" {e.filename}" if e.filename else ""
        print(f"convbench: error:{where} {e.strerror or e}", file=sys.stderr)
        return 2
    return status if isinstance(status, int) else 0  # typer returns a command's `raise typer.Exit(n)` as n


def entry_point() -> None:
    sys.exit(main())
