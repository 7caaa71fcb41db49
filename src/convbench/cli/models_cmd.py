"""CLI commands: models (thin wrappers over the library)."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from convbench.checks import MAX_INPUT_SIZE, check_width, integer_in
from convbench.cli.app import app
from convbench.cli.helptext import with_default
from convbench.errors import ConfigError
from convbench.vocabulary import DESCRIBE_DEFAULTS

MAX_CLASSES = 100_000  # output classes: more than any dataset convbench reads, by far


@app.command("models")
def models_command(
    input_size: int = typer.Option(None, "--input-size", help=with_default(
        "Square input side in pixels", "each architecture's own, see ModelDefaults")),
    channels: int = typer.Option(None, "--channels", help=with_default("Input channels, 1 or 3",
                                                                       DESCRIBE_DEFAULTS.channels)),
    classes: int = typer.Option(None, "--classes", help=with_default("Number of output classes",
                                                                     DESCRIBE_DEFAULTS.num_classes)),
    width: float = typer.Option(None, "--width", help=with_default("Width multiplier α", DESCRIBE_DEFAULTS.width)),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List each architecture with its parameter count and MACs per image."""
    if input_size is not None:  # 0 would otherwise read as "not given" and show each default silently
        integer_in("input_size", input_size, 1, MAX_INPUT_SIZE)
    if channels is not None and channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got channels={channels!r}")
    if classes is not None:
        integer_in("classes", classes, 2, MAX_CLASSES)
    if width is not None:
        check_width(width)
    from convbench.models import describe_all  # lazy: keras takes seconds to import

    settings = {"input_size": input_size, "channels": channels, "num_classes": classes, "width": width}
    rows = describe_all(**{k: v for k, v in settings.items() if v is not None})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    _print_table(rows)


def _print_table(rows: list[dict]) -> None:
    built = next(row for row in rows if "error" not in row)  # describe_all raises when none could be built
    table = Table(title=f"Architectures at width {built['width']:g}, {built['num_classes']} classes "
                        f"(MACs per image)")
    table.add_column("architecture")
    table.add_column("input")
    table.add_column("params", justify="right")
    table.add_column("MACs", justify="right")
    table.add_column("note")
    for row in rows:
        size = "x".join(str(d) for d in row["input_shape"])
        if "error" in row:
            table.add_row(row["arch"], size, "-", "-", Text(row["error"], style="red"))
        else:
            table.add_row(row["arch"], size, f"{row['params']:,}", f"{row['macs']:,}", "")
    Console().print(table)
