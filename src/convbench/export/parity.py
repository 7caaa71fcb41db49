"""Parity of an exported file with its Keras model, on real labelled images.

Float32 files (TFLite ``none``, ONNX) must reproduce Keras's probabilities within ``FP32_TOLERANCE``;
quantised files are expected to differ, so for every file the figures that matter are recorded: the
largest probability difference, top-1 agreement with Keras, and accuracy next to Keras's on the same images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convbench.errors import ModelError
from convbench.export.samples import Images
from convbench.runtime.base import Runner

FP32_TOLERANCE = 1e-4  # max |Δ probability| allowed for a float32 export


def measure_parity(runner: Runner, reference: np.ndarray, images: Images) -> dict[str, Any]:
    """Parity figures of ``runner``'s file against ``reference`` (Keras's probabilities on ``images``).

    Returns:
        ``parity_max_abs_diff``, ``parity_top1_agreement``, ``accuracy`` (of the exported file),
        ``keras_accuracy`` (same images), ``parity_images`` (count) and ``parity_data`` (their source).
    """
    probs = runner.predict(images.x)
    predicted, expected = probs.argmax(axis=1), reference.argmax(axis=1)
    return {"parity_max_abs_diff": float(np.max(np.abs(probs - reference))),
            "parity_top1_agreement": float(np.mean(predicted == expected)),
            "accuracy": float(np.mean(predicted == images.labels)),
            "keras_accuracy": float(np.mean(expected == images.labels)),
            "parity_images": len(images.labels), "parity_data": images.source}


def check_float32(figures: dict[str, Any], name: str) -> None:
    """:class:`ModelError` when a float32 export strays from Keras by more than ``FP32_TOLERANCE``."""
    diff = figures["parity_max_abs_diff"]
    if not diff < FP32_TOLERANCE:
        raise ModelError(f"{name}: float32 export differs from Keras by max |Δ| = {diff:.3g} on "
                         f"{figures['parity_images']} images (tolerance {FP32_TOLERANCE:g}); file not written")
