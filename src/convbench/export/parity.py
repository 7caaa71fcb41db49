"""Parity of an exported file with its Keras model, on real labelled images.

Float32 files (TFLite ``none``, ONNX) must reproduce Keras's probabilities within ``FP32_TOLERANCE``;
quantised files are expected to differ, so for every file the figures that matter are recorded: the
largest probability difference, top-1 agreement with Keras, and accuracy next to Keras's on the same images.
The exporter checks a sample of the test split; the study checks the whole test split, the same way.

A quantised file run in another runtime than LiteRT's Interpreter (the converter's own reference) is also compared
with the Interpreter on the same images (:func:`runtime_deviation`). Runtimes need not quantise alike on every CPU:
on an AVX2-only EPYC without VNNI, OpenVINO's int8 probabilities differed from the Interpreter's on 71 of 1,000
values by up to 0.22 while agreeing on another CPU. Such a deviation is not an export bug, and convbench does not
promise runtimes agree; it promises to say so, naming the runtime and the CPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from convbench.env import cpu_model, int8_features
from convbench.errors import DataError, ModelError
from convbench.export.samples import Images
from convbench.runtime.base import Runner

FP32_TOLERANCE = 1e-4  # max |Δ probability| allowed for a float32 export
RUNTIME_TOLERANCE = 0.02  # |Δ probability| between two runtimes on one quantised file beyond which they differ
REFERENCE_RUNTIME = "litert"  # the Interpreter: the TFLite converter's own reference for quantised arithmetic
PREDICT_CHUNK = 256  # images preprocessed and run at a time (bounds memory on a whole test split)

# Parity field → its name in a card's metrics (the names cards have always used).
_METRIC_NAMES = {"max_abs_diff": "parity_max_abs_diff", "top1_agreement": "parity_top1_agreement",
                 "accuracy": "accuracy", "keras_accuracy": "keras_accuracy", "images": "parity_images",
                 "data": "parity_data"}


@dataclass(frozen=True)
class Parity:
    """How closely an exported file reproduces its Keras model on the same labelled images.

    Attributes:
        max_abs_diff: largest |Δ probability| over every image and class.
        top1_agreement: share of images whose top-1 class is Keras's.
        accuracy: top-1 accuracy of the exported file.
        keras_accuracy: top-1 accuracy of the Keras model on the same images.
        images: how many images.
        data: where they came from (``digits (test split)`` …).
    """

    max_abs_diff: float
    top1_agreement: float
    accuracy: float
    keras_accuracy: float
    images: int
    data: str

    def to_metrics(self) -> dict[str, Any]:
        """The figures as a card's ``metrics`` (``parity_max_abs_diff``, ``parity_top1_agreement``, ``accuracy`` …)."""
        return {_METRIC_NAMES[name]: value for name, value in asdict(self).items()}

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any]) -> Parity:
        """The figures back from a card's ``metrics`` (:class:`KeyError` when the file was not checked)."""
        return cls(**{name: metrics[key] for name, key in _METRIC_NAMES.items()})


def measure_parity(runner: Runner, reference: np.ndarray, images: Images, *, chunk: int = PREDICT_CHUNK) -> Parity:
    """Parity of ``runner``'s file against ``reference``, Keras's probabilities ``(N, classes)`` on ``images``.

    The images are preprocessed and run ``chunk`` at a time, so a whole test split fits in memory.

    Raises:
        DataError: no images.
        ModelError: ``reference`` is not one row of probabilities per image.
    """
    if len(images) == 0:
        raise DataError(f"{images.source}: no images to check parity on")
    if reference.shape[0] != len(images):
        raise ModelError(f"reference probabilities for {reference.shape[0]} images, but {len(images)} images "
                         f"({images.source}) to check")
    probs = np.concatenate([runner.predict(x) for x in images.chunks(chunk)])
    predicted, expected = probs.argmax(axis=1), reference.argmax(axis=1)
    return Parity(max_abs_diff=float(np.max(np.abs(probs - reference))),
                  top1_agreement=float(np.mean(predicted == expected)),
                  accuracy=float(np.mean(predicted == images.labels)),
                  keras_accuracy=float(np.mean(expected == images.labels)), images=len(images), data=images.source)


def check_float32(parity: Parity, name: str) -> None:
    """:class:`ModelError` when a float32 export strays from Keras by more than ``FP32_TOLERANCE``."""
    if not parity.max_abs_diff < FP32_TOLERANCE:
        raise ModelError(f"{name}: float32 export differs from Keras by max |Δ| = {parity.max_abs_diff:.3g} on "
                         f"{parity.images} images (tolerance {FP32_TOLERANCE:g}); file not written")


@dataclass(frozen=True)
class RuntimeDeviation:
    """How far one runtime's probabilities for a quantised file stray from the reference runtime's, on one CPU.

    Attributes:
        runtime, reference: the runtime checked and the one it is compared with.
        max_abs_diff: largest |Δ probability| between the two over every image and class.
        values_over: how many probabilities differ by more than :data:`RUNTIME_TOLERANCE`, of ``values``.
        cpu: the CPU's name and its int8-relevant instruction sets (:func:`convbench.env.int8_features`).
    """

    runtime: str
    reference: str
    max_abs_diff: float
    values_over: int
    values: int
    cpu: str

    @property
    def note(self) -> str:
        """One line for the report and the card: what differs, by how much, where, and what it means."""
        return (f"{self.runtime} computes this quantised file differently from {self.reference} on this CPU "
                f"({self.cpu}): probabilities differ by up to {self.max_abs_diff:.2g} on {self.values_over:,} of "
                f"{self.values:,} values (tolerance {RUNTIME_TOLERANCE:g}); its int8 kernels depend on the CPU's "
                f"instruction sets, so this file's figures in {self.runtime} hold for this CPU")


def runtime_deviation(runner: Runner, reference: Runner, images: Images, *,
                      chunk: int = PREDICT_CHUNK) -> RuntimeDeviation | None:
    """``runner``'s deviation from ``reference`` (both on one quantised file) on ``images``, or ``None`` when they
    agree within :data:`RUNTIME_TOLERANCE` everywhere."""
    diffs = np.concatenate([np.abs(runner.predict(x) - reference.predict(x)) for x in images.chunks(chunk)])
    over = int(np.count_nonzero(diffs > RUNTIME_TOLERANCE))
    if not over:
        return None
    features = int8_features()
    return RuntimeDeviation(runner.name, reference.name, float(diffs.max()), over, int(diffs.size),
                            cpu_model() + (f"; {features}" if features else ""))
