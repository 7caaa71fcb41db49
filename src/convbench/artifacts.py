"""Model cards: every model file (.keras, .tflite, .onnx) carries a JSON sidecar describing it.

``model.tflite`` → ``model.tflite.json``. Runners, reports and the harness read the card instead
of asking the user again for the architecture, preprocessing or class names.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from convbench.data.preprocess import Preprocessing
from convbench.errors import ModelError
from convbench.io import read_json, write_json


@dataclass(frozen=True)
class ModelCard:
    """What a model file is: architecture, shape, classes, preprocessing, provenance, quality.

    Attributes:
        arch: registry name (``mobilenet_v2``, ``early_exit_vgg19`` …).
        width: width multiplier α it was built with.
        input_shape: ``(H, W, C)``.
        class_names: output classes in order.
        preprocessing: the exact steps that turn pixels into input.
        params, macs: parameter count and multiply-accumulates per image.
        format: ``keras``, ``tflite`` or ``onnx``.
        quantize: export mode (``none``, ``dynamic``, ``float16``, ``int8``) for exported files.
        sha256: of the model file itself (exported files).
        metrics: quality figures (test accuracy, parity with Keras, …).
        extra: anything else (training config, early-exit settings, environment, …).
    """

    arch: str
    width: float
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    preprocessing: Preprocessing
    params: int | None = None
    macs: int | None = None
    format: str = "keras"
    quantize: str = "none"
    sha256: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["class_names"] = list(self.class_names)
        d["preprocessing"] = self.preprocessing.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        return cls(**{**d, "input_shape": tuple(d["input_shape"]), "class_names": tuple(d["class_names"]),
                      "preprocessing": Preprocessing.from_dict(d["preprocessing"])})

    def evolve(self, **changes: Any) -> ModelCard:
        """A copy with ``changes`` applied (``metrics``/``extra`` are merged, not replaced)."""
        for key in ("metrics", "extra"):
            if key in changes:
                changes[key] = {**getattr(self, key), **changes[key]}
        return replace(self, **changes)


def card_path(model_path: str | os.PathLike[str]) -> Path:
    """The sidecar path of a model file: ``X`` → ``X.json``."""
    p = Path(model_path)
    return p.with_name(p.name + ".json")


def write_card(model_path: str | os.PathLike[str], card: ModelCard) -> Path:
    """Write ``card`` beside ``model_path`` (atomically)."""
    return write_json(card_path(model_path), card.to_dict())


def read_card(model_path: str | os.PathLike[str]) -> ModelCard:
    """Read the sidecar of ``model_path``; :class:`ModelError` naming the file when absent or invalid."""
    path = card_path(model_path)
    if not path.exists():
        raise ModelError(f"{model_path}: no model card {path.name} beside it (was it made by convbench?)")
    try:
        return ModelCard.from_dict(read_json(path))
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{path}: not a valid model card ({e})") from None
