"""CLI commands: export (a thin wrapper over :func:`convbench.export.export`)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from convbench.checks import output_file
from convbench.cli.app import app
from convbench.cli.helptext import listed, with_default
from convbench.errors import ConfigError, ModelError
from convbench.vocabulary import DEFAULT_QUANTIZE, EXPORT_SUFFIXES, QUANTIZE_MODES, QUANTIZE_NAMES, TF_OPTIMIZATIONS


@app.command("export")
def export_command(
    model: Annotated[Path, typer.Argument(help="A .keras model written by convbench (with its card).")],
    to: Annotated[str, typer.Option("--to", help=f"Target format: {listed(EXPORT_SUFFIXES)}.")] = "tflite",
    quantize: Annotated[str | None, typer.Option(help=with_default(
        f"{listed(QUANTIZE_MODES)} (TFLite only); {listed(TF_OPTIMIZATIONS, 'and')} mean dynamic",
        DEFAULT_QUANTIZE))] = None,
    calibration: Annotated[str | None, typer.Option(help=with_default("Data spec of int8 calibration images",
                                                                      "the model's training data"))] = None,
    data: Annotated[str | None, typer.Option(help=with_default("Data spec of labelled parity-check images",
                                                               "the model's test split"))] = None,
    out: Annotated[Path | None, typer.Option(help=with_default(
        "Output file", "model.<mode>.tflite / model.onnx beside the model"))] = None,
    allow_flex: Annotated[bool, typer.Option("--allow-flex", help="Allow TF (Flex) ops in a TFLite file.")] = False,
    int8_io: Annotated[bool, typer.Option("--int8-io", help="int8 input/output tensors (with --quantize "
                                                            "int8).")] = False,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Check the file against Keras on real "
                                                                   "images.")] = True,
) -> None:
    """Export a trained model to TFLite/LiteRT or ONNX; write the file and its card; check parity."""
    from convbench.data import check_spec  # numpy only

    if not model.is_file():  # checked here, before TensorFlow is imported (seconds, and its log lines)
        raise ModelError(f"model file not found: {model}" if not model.exists() else
                         f"{model}: is a folder; give the .keras file written by convbench")
    if to not in EXPORT_SUFFIXES:
        raise ConfigError(f"--to must be {listed(EXPORT_SUFFIXES)}, got {to!r}")
    if quantize is not None and quantize not in QUANTIZE_MODES and quantize.upper() not in TF_OPTIMIZATIONS:
        raise ConfigError(f"--quantize must be one of {', '.join(QUANTIZE_NAMES)}, got {quantize!r}")
    if out is not None:
        output_file(out, "--out")
    for spec in (calibration, data):
        if spec is not None:
            check_spec(spec)
    from convbench.export import ExportNote, export  # lazy: tensorflow takes seconds to import

    options = {"quantize": quantize, "out": out}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExportNote)  # printed below from the result, once
        result = export(model, to=to, calibration=calibration, data=data, allow_flex=allow_flex, int8_io=int8_io,
                        check=check, **{k: v for k, v in options.items() if v is not None})
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    card = result.card
    print(f"{result.path}: {card.format} {card.quantize}, {card.extra['size_bytes']:,} bytes, sha256 {card.sha256}, "
          f"converted in {card.extra['conversion_seconds']:.1f} s")
    if "parity_images" in card.metrics:
        m = card.metrics
        print(f"parity on {m['parity_images']} images of {m['parity_data']}: max |Δ| {m['parity_max_abs_diff']:.2e}, "
              f"top-1 agreement {m['parity_top1_agreement']:.2%}, accuracy {m['accuracy']:.2%} "
              f"(Keras {m['keras_accuracy']:.2%})")
