"""export(): one ``.keras`` model → a ``.tflite`` or ``.onnx`` file with its card, checked against Keras."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from convbench.artifacts import ModelCard, Provenance, card_path, read_card, write_card
from convbench.errors import ConfigError, ModelError
from convbench.export import onnx as onnx_export
from convbench.export import tflite as tflite_export
from convbench.export.modes import QuantizeMode, resolve_format, resolve_quantize
from convbench.export.parity import Parity, check_float32, measure_parity
from convbench.export.samples import PARITY_IMAGES, DataSource, Images, calibration_images, parity_images
from convbench.io import atomic_path, sha256_file
from convbench.outputs import check_replaceable
from convbench.runtime import open_runner, runtime_for
from convbench.train import keras_probabilities, load_model
from convbench.vocabulary import ALIAS_NOTE, DEFAULT_QUANTIZE, EXPORT_SUFFIXES


class ExportNote(UserWarning):
    """Something the user should know about an export that succeeded (e.g. aliased optimisation names)."""


@dataclass(frozen=True)
class ExportResult:
    """The exported file, its card (parity figures in ``card.metrics``), and notes for the user."""

    path: Path
    card: ModelCard
    notes: tuple[str, ...] = ()


def export(model_path: str | os.PathLike[str], to: str = "tflite", quantize: str = DEFAULT_QUANTIZE, *,
           out: str | os.PathLike[str] | None = None, calibration: DataSource = None, data: DataSource = None,
           check: bool = True, allow_flex: bool = False, int8_io: bool = False,
           check_images: int | None = PARITY_IMAGES) -> ExportResult:
    """Export a trained ``.keras`` model to TFLite/LiteRT or ONNX, write its card, and check it against Keras.

    Args:
        model_path: a ``.keras`` file with its card (as :func:`convbench.train.train` writes them).
        to: ``tflite`` or ``onnx``.
        quantize: ``none`` (float32), ``dynamic``, ``float16`` or ``int8`` (TFLite only); TensorFlow's names
            ``DEFAULT``, ``OPTIMIZE_FOR_LATENCY`` and ``OPTIMIZE_FOR_SIZE`` are accepted and mean ``dynamic``
            (TensorFlow documents all three as the same optimisation; an :class:`ExportNote` says so).
        out: output file; defaults to ``model.<mode>.tflite`` / ``model.onnx`` beside the model.
        calibration: int8 calibration images: data spec, :class:`~convbench.data.Dataset` (its training split)
            or :class:`~convbench.data.Split`; None → the model's own training split (from its card).
        data: labelled images for the parity check: data spec, Dataset (its test split) or Split; None → the
            test split of the model's training data.
        check: run the parity check (float32 files must match Keras within 1e-4, else nothing is written).
        allow_flex: allow TF (Flex) ops in a TFLite file.
        int8_io: int8 input and output tensors (``quantize="int8"`` only); runners quantise float input.
        check_images: how many test images the parity check uses (None: the whole test split).

    Returns:
        :class:`ExportResult` with the written path and card (format, quantize, sha256, the source model,
        parity figures in ``metrics`` (see :meth:`Parity.to_metrics`); size, conversion time and op list in
        ``extra``).

    Raises:
        ConfigError: unknown format or mode, a mode the format does not support, int8 without calibration
            images, a parity check without labelled images, an ``out`` with the wrong suffix, an ``out`` (or its
            card's path) holding a file that convbench did not write (it never replaces one).
        ModelError: not a ``.keras`` model with a card, a failed conversion, Flex ops, a float32 parity failure.
        DataError: calibration or parity data that cannot be loaded.

    Example:
        >>> result = export("runs/mnv2/model.keras", to="tflite", quantize="int8")
        >>> result.card.metrics["parity_top1_agreement"]
    """
    file_format, mode = resolve_format(to), resolve_quantize(quantize)
    notes = (ALIAS_NOTE,) if mode.is_alias else ()
    for note in notes:
        warnings.warn(note, ExportNote, stacklevel=2)
    _check_options(file_format, mode, int8_io)
    model_path = Path(model_path)
    source_card = _source_card(model_path)
    out = _out_path(model_path, file_format, mode, out)
    check_replaceable([out, card_path(out)])  # a file there that convbench did not write is never replaced
    for special in _CARD_EXPORTERS:
        if (result := special(model_path, source_card, file_format, mode, out, notes)) is not None:
            return result

    # Real images first: a bad data spec fails before the slow model load and conversion.
    representative = calibration_images(source_card, calibration) if mode.mode == "int8" else None
    checked = parity_images(source_card, data, check_images) if check else None

    model = load_model(model_path)[0]
    with atomic_path(out) as tmp:
        started = time.perf_counter()
        extra = _convert(model, file_format, mode, tmp, representative, checked, int8_io, allow_flex)
        seconds = time.perf_counter() - started
        flex = [op for op in extra.get("ops", ()) if op.startswith(tflite_export.FLEX_PREFIX)]
        if flex and checked is not None:  # allowed, but then no LiteRT build here can run the file
            notes += (f"parity not checked: stock LiteRT cannot run the TF (Flex) ops {', '.join(flex)}",)
            warnings.warn(notes[-1], ExportNote, stacklevel=2)
            checked = None
        card = _exported_card(source_card, model_path, tmp, file_format, mode, seconds, extra, notes)
        if checked is not None:
            card = card.evolve(metrics=_parity(model, tmp, out, card, checked, mode).to_metrics())
        write_card(out, card)
    return ExportResult(out, card, notes)


CardExporter = Callable[[Path, ModelCard, str, QuantizeMode, Path, tuple[str, ...]], "ExportResult | None"]
_CARD_EXPORTERS: list[CardExporter] = []


def register_card_exporter(exporter: CardExporter) -> CardExporter:
    """Let a feature export the models whose card asks for more than a plain conversion.

    ``exporter(model_path, card, file_format, mode, out, notes)`` writes and returns the export of a model that is its
    own, else returns ``None`` (an early-exit model exports as its single LiteRT file with an ``IF`` op, see
    :mod:`convbench.export.early_exit`). :func:`export` asks every registered exporter first, so it never needs to
    know the feature exists.
    """
    _CARD_EXPORTERS.append(exporter)
    return exporter


def _check_options(file_format: str, mode: QuantizeMode, int8_io: bool) -> None:
    if file_format == "onnx" and mode.mode != "none":
        raise ConfigError(f"quantize={mode.requested!r} is not supported for ONNX export; ONNX exports are "
                          "float32 (quantize='none')")
    if int8_io and mode.mode != "int8":
        raise ConfigError(f"int8_io needs quantize='int8', got quantize={mode.requested!r}")


def _source_card(model_path: Path) -> ModelCard:
    if model_path.suffix != ".keras":
        raise ModelError(f"{model_path}: not a Keras model file (expected a .keras file)")
    if not model_path.is_file():
        raise ModelError(f"{model_path}: no such model file")
    return read_card(model_path)


def _out_path(model_path: Path, file_format: str, mode: QuantizeMode, out: str | os.PathLike[str] | None) -> Path:
    suffix = EXPORT_SUFFIXES[file_format]
    if out is None:
        return model_path.with_name(f"{model_path.stem}{'' if file_format == 'onnx' else '.' + mode.tag}{suffix}")
    out = Path(out)
    if out.suffix != suffix:
        raise ConfigError(f"out={str(out)!r}: the {file_format} file must end with {suffix}")
    return out


def _convert(model: keras.Model, file_format: str, mode: QuantizeMode, path: Path, representative: Images | None,
             checked: Images | None, int8_io: bool, allow_flex: bool) -> dict[str, Any]:
    """Write the converted model at ``path``; return what the card should say about the conversion."""
    if file_format == "onnx":
        # One real image when there is one (any batch builds the model; a real one shows it runs sensibly).
        sample = checked.x[:1] if checked is not None else np.zeros((1, *model.input_shape[1:]), np.float32)
        onnx_export.convert_onnx(model, path, sample)
        return {"converter": f"keras {keras.__version__} export(format='onnx'), "
                             f"tf2onnx {onnx_export.tf2onnx_version()}"}

    images = None if representative is None else representative.x
    content = tflite_export.convert_tflite(model, mode, representative=images, int8_io=int8_io, allow_flex=allow_flex)
    path.write_bytes(content)
    extra: dict[str, Any] = {"converter": f"tf.lite.TFLiteConverter.from_keras_model (tensorflow {tf.__version__})",
                             "optimization": mode.optimization, "ops": sorted(set(tflite_export.tflite_ops(content)))}
    if representative is not None:
        extra["calibration"] = {"images": len(representative), "data": representative.source}
    if int8_io:
        extra["input_dtype"] = "int8"
    return extra


def _exported_card(source: ModelCard, model_path: Path, path: Path, file_format: str, mode: QuantizeMode,
                   seconds: float, extra: dict[str, Any], notes: tuple[str, ...]) -> ModelCard:
    # The source's metrics describe the Keras model; the exported file gets its own (from the parity check).
    card = replace(source, format=file_format, quantize=mode.mode, sha256=sha256_file(path), metrics={},
                   source=Provenance(str(model_path.absolute()), source.sha256, source.metrics))  # readable anywhere
    return card.evolve(extra={
        "requested_quantize": mode.requested, "size_bytes": path.stat().st_size,
        "conversion_seconds": round(seconds, 3), **extra, **({"notes": list(notes)} if notes else {})})


def _parity(model: keras.Model, path: Path, out: Path, card: ModelCard, images: Images, mode: QuantizeMode) -> Parity:
    """Parity of the file at ``path`` (to be moved to ``out``) with ``model``; float32 files must match Keras."""
    runner = open_runner(path, runtime=runtime_for(out), card=card)  # its card is not written yet
    parity = measure_parity(runner, keras_probabilities(model, images.x), images)
    if mode.mode == "none":
        check_float32(parity, out.name)
    return parity
