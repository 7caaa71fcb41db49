"""Keras → ONNX through Keras's own ``model.export(path, format="onnx")`` (tf2onnx underneath).

Float32 only: ONNX Runtime's quantisation tools are a separate route convbench does not take.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from typing import Any

import numpy as np

from convbench.errors import ModelError
from convbench.runtime.base import first_line


def convert_onnx(model: Any, path: str | os.PathLike[str], sample: np.ndarray) -> None:
    """Write ``model`` as ONNX to ``path``.

    Args:
        model: a ``keras.Model``.
        path: output file.
        sample: a float32 input batch ``(1, H, W, C)``. A model loaded from a file has never been called,
            and Keras refuses to export it then ("The model provided has never called"): one call builds it.

    Raises:
        ModelError: tf2onnx cannot convert the model (names its reason).
    """
    model(sample, training=False)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # tf2onnx probes the removed np.object
            model.export(os.fspath(path), format="onnx", verbose=False)
    except Exception as e:  # tf2onnx raises plain exceptions of many kinds for unsupported graphs
        raise ModelError(f"{model.name}: ONNX conversion failed: {first_line(e)}") from None


def tf2onnx_version() -> str:
    from importlib.metadata import version

    return version("tf2onnx")
