"""The root ``convbench`` command that every area's commands register on (:data:`app`).

Its own module, below the command modules, so that they import it without importing the package that imports them
(no import cycle).
"""

from __future__ import annotations

import typer

from convbench import __version__

app = typer.Typer(name="convbench", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None,  # plain help text: keeps "[default: …]" (rich markup would eat it)
                  help="Train, export, time and compare CNN image classifiers for small devices.")


def _show_version(value: bool) -> None:
    if value:
        print(f"convbench {__version__}")
        raise typer.Exit()


VERBOSE_OPTION = "--verbose"


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                       help="Show the version and exit."),
          loud: bool = typer.Option(False, VERBOSE_OPTION, help=(
              "Also show the libraries' own log lines and warnings (TensorFlow, LiteRT, ONNX Runtime, OpenVINO, "
              "Optuna, Ray, Keras), which are kept off the terminal otherwise; accepted anywhere on the command "
              "line."))) -> None:
    """Train, export, time and compare CNN image classifiers for small devices."""
