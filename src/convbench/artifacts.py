"""Model cards: every model file (.keras, .tflite, .onnx) carries a JSON sidecar describing it.

``model.tflite`` → ``model.tflite.json``. Runners, reports and the harness read the card instead
of asking the user again for the architecture, preprocessing or class names.

The card is a plain record: runtimes read it without Keras or TensorFlow, so nothing here imports
training code. Rebuilding the splits a card's model was trained on is
:func:`convbench.train.splits.model_splits`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from convbench.data._registry import absolute_spec
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
        val_split: how validation was held out (``random`` images, or whole ``groups``; ``vocabulary.VAL_SPLITS``).
        grouping: with ``val_split="groups"``, what one held-out group was (``frame sequence`` …); a description.
        val_seed: seed of the validation draw when it is not ``seed`` (a search's repeated validation splits: the
            test split stays ``seed``'s, so no repeat validates or trains on another's test images).
    """

    seed: int = 0
    val_fraction: float = 0.1
    test: str | None = None
    val_split: str = "random"
    grouping: str | None = None
    val_seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields, less ``val_split``/``grouping``/``val_seed`` at their defaults: cards from before them write
        back the same."""
        d = asdict(self)
        if self.val_seed is None:
            del d["val_seed"]
        if self.val_split == "random":
            del d["val_split"]
        if self.grouping is None:
            del d["grouping"]
        return d


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


@dataclass(frozen=True)
class EarlyExitSettings:
    """What makes a model an early-exit network, and, on an exported file, which deployed piece the file is.

    Attributes:
        backbone: the registered backbone (``vgg19``).
        exit_after: the block the exit follows (``block1``).
        exit_head: hidden units of the exit's Dense layers before width scaling (``()``: the exit block is
            MaxPool, Flatten and the 2-way softmax Dense alone); ``None`` on cards written before it was recorded,
            whose exits have VGG-19's ``(512, 512)``.
        macs: per-image multiply-accumulates of ``stem`` (input to the exit point), ``exit_head`` and ``rest``.
        stem_share, exit_share: the stem's and the exit head's share of the backbone's MACs (the analytic model).
        l1_weight, l2_weight: weights of the exit and main losses.
        mix: how the main + redundant training mix was built (:class:`~convbench.data.MixSettings` as a dict).
        open_world: the open-world training options (redundant sources and shares, cue-removing augmentation,
            outlier exposure), ``None`` when none was asked for.
        calibration: the threshold chosen on the validation split for a stated goal
            (:class:`~convbench.early_exit.open_world.Calibration` as a dict), ``None`` when not calibrated.
        form: exported files: ``single`` (one file with an ``IF`` op) or ``chained`` (two segments).
        segment: chained files: ``stem`` or ``rest``; rest_file: the stem's card names its rest segment.
        threshold, default_threshold: exported files: how the threshold is given (a runtime input) and its default.
        source_sha256: exported files: SHA-256 of the ``.keras`` model they were converted from.
        output, outputs: exported files: what their output tensors hold.
        ops: exported files: the LiteRT ops they use (checked free of Flex ops).
    """

    backbone: str
    exit_after: str
    macs: dict[str, int]
    stem_share: float
    exit_share: float
    l1_weight: float = 1.0
    l2_weight: float = 1.0
    mix: dict[str, Any] = field(default_factory=dict)
    open_world: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    threshold: str | None = None
    default_threshold: float | None = None
    source_sha256: str | None = None
    form: str | None = None
    segment: str | None = None
    output: str | None = None
    outputs: tuple[str, ...] | None = None
    rest_file: str | None = None
    ops: tuple[str, ...] | None = None
    exit_head: tuple[int, ...] | None = None

    _TRAINING = ("backbone", "exit_after", "l1_weight", "l2_weight", "mix", "macs", "stem_share", "exit_share")

    def to_dict(self) -> dict[str, Any]:
        """The card's JSON form: the training settings first (as the trainer writes them), then the export's
        (only those set)."""
        d = asdict(self)
        ordered = {key: d.pop(key) for key in self._TRAINING}
        return ordered | {key: list(value) if isinstance(value, tuple) else value for key, value in d.items()
                          if value is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EarlyExitSettings:
        return cls(**{key: tuple(value) if key in ("outputs", "ops", "exit_head") and value is not None else value
                      for key, value in d.items()})


# Card fields that the JSON keeps inside "extra", where every card version has kept them: old cards load
# unchanged and the files written stay the same.
_IN_EXTRA = ("data", "split", "source", "early_exit")


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
        early_exit: an early-exit network's settings (``None`` for any other model).
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
    early_exit: EarlyExitSettings | None = None

    def __post_init__(self) -> None:
        # One home per fact: a typed field hidden in extra would be written twice and read from either.
        clash = sorted(set(_IN_EXTRA) & self.extra.keys())
        if clash:
            raise ValueError(f"extra keys {clash} are card fields: pass {', '.join(f'{k}=' for k in clash)} "
                             f"instead, got extra={self.extra!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        typed = {key: d.pop(key) for key in _IN_EXTRA}
        typed.update({key: getattr(self, key).to_dict() for key in ("early_exit", "split")
                      if getattr(self, key) is not None})
        d["extra"] = {**{key: value for key, value in typed.items() if value is not None}, **d["extra"]}
        d["input_shape"] = list(self.input_shape)
        d["class_names"] = list(self.class_names)
        d["preprocessing"] = self.preprocessing.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        extra = dict(d.get("extra", {}))
        data, split, source, early_exit = (extra.pop(key, None) for key in _IN_EXTRA)
        return cls(**{**d, "input_shape": tuple(d["input_shape"]), "class_names": tuple(d["class_names"]),
                      "preprocessing": Preprocessing.from_dict(d["preprocessing"]), "extra": extra, "data": data,
                      "split": _optional(lambda d: SplitSettings(**d), split),
                      "source": _optional(lambda d: Provenance(**d), source),
                      "early_exit": _optional(EarlyExitSettings.from_dict, early_exit)})

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
    """Write ``card`` beside ``model_path`` (atomically), its data spec's paths made absolute.

    A relative data path means "from the folder training ran in", which a later ``export`` or ``bench`` run
    from another folder cannot know; the absolute one (same JSON layout) can be read from anywhere.
    """
    if card.data:
        card = replace(card, data=absolute_spec(card.data))
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


def _optional(read: Callable[[dict[str, Any]], Any], value: dict[str, Any] | None) -> Any:
    """An optional record of a card read back: ``None`` stays ``None``."""
    return None if value is None else read(value)
