"""Keras → TFLite/LiteRT through ``TFLiteConverter.from_keras_model``, in one of four quantisation modes.

- ``none``: float32.
- ``dynamic``: ``Optimize.DEFAULT`` alone: int8 weights, float activations (dynamic-range quantisation).
- ``float16``: ``Optimize.DEFAULT`` + ``supported_types=[tf.float16]``: float16 weights.
- ``int8``: full integer: weights and activations int8, ranges calibrated on a representative dataset of
  real training images; float32 input/output unless ``int8_io`` (then int8 tensors at both ends too).

Only builtin ops are allowed unless ``allow_flex``: a file needing TF (Flex) ops would not run on a stock
LiteRT runtime, so the converter is told so and the written op list is checked again.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from convbench.errors import ModelError
from convbench.export.modes import QuantizeMode
from convbench.runtime.base import first_line
from convbench.verbosity import native_output

FLEX_PREFIX = "Flex"  # custom op codes of TF (select) ops: FlexConv3D, FlexRFFT …


def convert_tflite(model: Any, mode: QuantizeMode, *, representative: np.ndarray | None = None,
                   int8_io: bool = False, allow_flex: bool = False) -> bytes:
    """The ``.tflite`` bytes of a Keras ``model`` in ``mode``.

    Args:
        model: a built ``keras.Model``.
        mode: from :func:`~convbench.export.modes.resolve_quantize`.
        representative: float32 preprocessed images ``(N, H, W, C)`` for int8 calibration (required for int8).
        int8_io: int8 input and output tensors (int8 mode only).
        allow_flex: let the converter fall back to TF (Flex) ops.

    Raises:
        ModelError: the model does not convert (names the converter's reason), or needs Flex ops when not allowed.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if mode.mode == "int8" else tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.target_spec.supported_ops = ops + ([tf.lite.OpsSet.SELECT_TF_OPS] if allow_flex else [])
    if mode.optimization is not None:
        # The requested member itself (OPTIMIZE_FOR_SIZE …), so identical files show TensorFlow's own aliasing.
        converter.optimizations = [getattr(tf.lite.Optimize, mode.optimization)]
    if mode.mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode.mode == "int8":
        assert representative is not None, "int8 needs representative images"
        converter.representative_dataset = lambda: _one_at_a_time(representative)
        if int8_io:
            converter.inference_input_type = converter.inference_output_type = tf.int8
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), native_output():
            # Keras prints "Saved artifact at …" for its temporary SavedModel; TF warns that a float-input
            # int8 model has no input statistics (expected: the QUANTIZE op at the input carries them); the
            # calibrator's C++ prints "fully_quantize: 0, inference_type: 6, …" straight to descriptor 2.
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            content = converter.convert()
    except Exception as e:  # ConverterError and the many errors of tracing/quantising a graph
        raise _conversion_error(e, mode, model.name) from None
    check_ops(content, allow_flex=allow_flex, name=model.name)
    return content


def _conversion_error(e: Exception, mode: QuantizeMode, name: str) -> ModelError:
    select = re.search(r"TF Select ops: ([^\n]+)", str(e))  # the converter lists the ops it would need from TF
    if select:
        return ModelError(f"{name}: the model needs TF (Flex) ops ({select.group(1).strip()}), which stock LiteRT "
                          "cannot run; pass allow_flex=True (--allow-flex) to keep them")
    return ModelError(f"{name}: TFLite conversion ({mode.requested}) failed: {first_line(e)}")


def tflite_ops(content: bytes) -> list[str]:
    """Operator names of a ``.tflite`` file's bytes (builtin names, or the custom code such as ``FlexRFFT``)."""
    from ai_edge_litert import schema_py_generated as schema

    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    model = schema.Model.GetRootAsModel(content, 0)
    ops = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        custom = code.CustomCode()
        # Newer files keep the code in BuiltinCode, older ones in the deprecated int8 field: take the larger.
        ops.append(custom.decode() if custom else names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()),
                                                           "UNKNOWN"))
    return ops


def check_ops(content: bytes, *, allow_flex: bool, name: str) -> list[str]:
    """The op list of a ``.tflite``; :class:`ModelError` naming the Flex ops when they are not allowed."""
    ops = tflite_ops(content)
    flex = sorted({op for op in ops if op.startswith(FLEX_PREFIX)})
    if flex and not allow_flex:
        raise ModelError(f"{name}: the TFLite file needs TF (Flex) ops {', '.join(flex)}, which stock LiteRT "
                         "cannot run; pass allow_flex=True (--allow-flex) to keep them")
    return ops


def _one_at_a_time(images: np.ndarray) -> Iterator[list[np.ndarray]]:
    for image in images:
        yield [image[None].astype(np.float32)]  # (1, H, W, C): the batch-1 input the file will see

