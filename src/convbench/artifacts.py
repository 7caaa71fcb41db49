"""Model cards: every model file (.keras, .tflite, .onnx) carries a JSON sidecar describing it.

``model.tflite`` → ``model.tflite.json``. Runners, reports and the harness read the card instead
of asking the user again for the architecture, preprocessing or class names.

The card is a plain record: runtimes read it without Keras or TensorFlow, so nothing here imports
training code. Rebuilding the splits a card's model was trained on is
:func:`convbench.train.splits.model_splits`.
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
class SplitSettings:
    """How a model's train/val/test splits were drawn: enough to draw the very same ones again.

    The defaults are :func:`convbench.train.train`'s, which is what a card without split settings is
    taken to have been trained with.

    Attributes:
        seed: seed of the stratified draws.
        val_fraction: share of the training pool held out for validation.
        test: where the test split came from (``official``, ``held out (20% of train)``); a description only.
    """

    seed: int = 0
    val_fraction: float = 0.1
    test: str | None = None


@dataclass(frozen=True)
class Provenance:
    """The Keras model an exported file was made from, as it was at export time.

    Attributes:
        path: the ``.keras`` file.
        sha256: its SHA-256 (from its card), so a later step can tell whether the export is still current.
        metrics: its quality figures (its test accuracy …); the exported file's own are in the card's ``metrics``.
    """

    path: str
    sha256: str | None
    metrics: dict[str, Any] = field(default_factory=dict)


# Card fields that the JSON keeps inside "extra", where every card version has kept them: old cards load
# unchanged and the files written stay the same.
_IN_EXTRA = ("data", "split", "source")


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
        extra: anything else (training config, early-exit settings, export details, …).
        data: data spec of the images the model was trained on (``None``: not recorded).
        split: how its train/val/test splits were drawn from ``data`` (``None``: not recorded).
        source: for an exported file, the Keras model it was made from (``None`` for a ``.keras`` model).
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
    data: str | None = None
    split: SplitSettings | None = None
    source: Provenance | None = None

    def __post_init__(self) -> None:
        # One home per fact: a typed field hidden in extra would be written twice and read from either.
        clash = sorted(set(_IN_EXTRA) & self.extra.keys())
        if clash:
            raise ValueError(f"extra keys {clash} are card fields: pass {', '.join(f'{k}=' for k in clash)} "
                             f"instead, got extra={self.extra!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        typed = {key: d.pop(key) for key in _IN_EXTRA}
        d["extra"] = {**{key: value for key, value in typed.items() if value is not None}, **d["extra"]}
        d["input_shape"] = list(self.input_shape)
        d["class_names"] = list(self.class_names)
        d["preprocessing"] = self.preprocessing.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        extra = dict(d.get("extra", {}))
        data, split, source = (extra.pop(key, None) for key in _IN_EXTRA)
        return cls(**{**d, "input_shape": tuple(d["input_shape"]), "class_names": tuple(d["class_names"]),
                      "preprocessing": Preprocessing.from_dict(d["preprocessing"]), "extra": extra, "data": data,
                      "split": None if split is None else SplitSettings(**split),
                      "source": None if source is None else Provenance(**source)})

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
