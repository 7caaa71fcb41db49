"""CLI commands: datasets (a thin wrapper over :func:`convbench.data.datasets`)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from convbench.cli.app import app
from convbench.cli.helptext import with_default

_PER_CLASS_LISTED = 12  # more classes than this: show the smallest and largest class instead


@app.command("datasets")
def datasets_command(
    spec: str = typer.Argument(None, help=with_default("Data spec NAME:PATH[?key=value&…] to load and describe",
                                                       "list the dataset names and the layouts they read")),
    skip_bad_images: bool = typer.Option(False, "--skip-bad-images", help="Skip unreadable images (and count "
                                                                          "them) instead of stopping."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """List the datasets convbench reads, or load one and show what it found (a quick check of a download)."""
    from convbench.data import datasets

    options = {"skip_bad_images": True} if skip_bad_images else {}
    result = datasets(spec, **options)
    if as_json:
        print(json.dumps(result, indent=2))
    elif spec is None:
        _print_registry(result["datasets"])
    else:
        _print_summary(result)


def _print_registry(rows: list[dict[str, Any]]) -> None:
    table = Table(title="Datasets (data spec NAME:PATH[?key=value&…])")
    table.add_column("name")
    table.add_column("reads")
    for row in rows:
        table.add_row(row["name"], row["layout"])
    Console().print(table)


def _print_summary(summary: dict[str, Any]) -> None:
    classes = summary["classes"]
    shown = ", ".join(classes[:_PER_CLASS_LISTED]) + (" …" if len(classes) > _PER_CLASS_LISTED else "")
    print(f"{summary['source']}  (loaded in {summary['load_seconds']:.1f} s)")
    print(f"classes ({summary['num_classes']}): {shown}")
    print(f"image shape: {'x'.join(str(d) for d in summary['image_shape'])} uint8")
    for name, part in summary["splits"].items():
        counts = part["per_class"]
        if len(counts) <= _PER_CLASS_LISTED:
            per_class = ", ".join(f"{c} {n:,}" for c, n in zip(classes, counts, strict=True))
        else:
            per_class = f"{min(counts):,}-{max(counts):,} per class"
        print(f"{name}: {part['images']:,} images ({per_class})")
    print(f"skipped images: {summary['skipped_images']:,}")
    for file in summary["skipped_files"]:
        print(f"  skipped {file}")
    for key, value in summary["meta"].items():
        print(f"{key}: {value}")
