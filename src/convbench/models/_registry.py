"""The model registry: one builder per architecture name; ``build`` never names an architecture.

Each architecture module may define ``DEFAULTS = {name: ModelDefaults(...)}`` before its builders;
``register_model`` picks the entry up (like timm's ``default_cfgs``), so training, export and the
CLI read input size, input scaling and the points an early exit may follow from one place.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras

from convbench.errors import ModelError
from convbench.models.macs import total_macs
from convbench.vocabulary import DESCRIBE_DEFAULTS

Builder = Callable[..., keras.Model]


@dataclass(frozen=True)
class ExitPoint:
    """A place an early exit may follow (:func:`convbench.models.early_exit.early_exit`'s ``exit_after``).

    Builders name the layers of one block or stage with a common prefix (``block2_conv1`` … ``block2_pool``,
    ``block_5_expand`` … ``block_5_add``); the exit follows the last layer of that block in graph order, whichever
    it is for the options built (MobileNetV2's ``block_{i}_add`` exists only where shapes allow a residual).

    Attributes:
        name: what users pass as ``exit_after`` (``block3``, ``stage2``).
        block: the layer-name prefix of the block: its layers are named ``block`` or ``block_*``.
    """

    name: str
    block: str


@dataclass(frozen=True)
class ModelDefaults:
    """What an architecture expects unless told otherwise.

    Attributes:
        input_size: default square input side (pixels) for training and listing.
        min_input_size: smallest input side its downsampling allows (the builder raises below it).
        scale, offset: input scaling ``x * scale + offset`` it is meant to see (as in :class:`Preprocessing`).
        width_range: ``(low, high)`` of the width α the builder builds sensibly: what an architecture search
            draws α from by default (``convbench.search``).
        search_options: the builder options a search may vary, each with the values it may try
            (``(("pooling", ("avg", "max")), …)``); options left out keep the builder's default.
        exit_points: where an early exit may attach, in graph order (stage outputs, where the feature map is
            about to shrink); ``()``: the architecture offers none (e.g. a layout its options reshape).
    """

    input_size: int = 32
    min_input_size: int = 32
    scale: float = 1.0 / 255.0
    offset: float = 0.0
    width_range: tuple[float, float] = (0.25, 1.0)
    search_options: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    exit_points: tuple[ExitPoint, ...] = ()


_BUILDERS: dict[str, Builder] = {}  # architecture name -> builder(input_shape, num_classes, width, **options)
_DEFAULTS: dict[str, ModelDefaults] = {}  # architecture name -> its module's DEFAULTS entry


def register_model(fn: Builder) -> Builder:
    """Register ``fn`` under its ``__name__`` (the architecture name used everywhere else)."""
    if fn.__name__ in _BUILDERS:
        warnings.warn(f"model {fn.__name__!r} registered twice", stacklevel=2)
    _BUILDERS[fn.__name__] = fn
    module_defaults = getattr(sys.modules.get(fn.__module__), "DEFAULTS", {})
    _DEFAULTS[fn.__name__] = module_defaults.get(fn.__name__, ModelDefaults())
    return fn


def list_models() -> list[str]:
    """Names of every registered architecture, sorted."""
    return sorted(_BUILDERS)


def _builder(name: str) -> Builder:
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ModelError(f"unknown architecture {name!r}; known: {', '.join(list_models())}")
    return builder


def defaults(name: str) -> ModelDefaults:
    """The registered :class:`ModelDefaults` of architecture ``name``."""
    _builder(name)
    return _DEFAULTS[name]


def exit_points(name: str) -> tuple[ExitPoint, ...]:
    """The points of architecture ``name`` an early exit may follow (its :attr:`ModelDefaults.exit_points`)."""
    return defaults(name).exit_points


def accepted_options(name: str) -> list[str]:
    """The architecture-specific keyword options ``build(name, …)`` accepts (besides ``width``)."""
    return [p.name for p in inspect.signature(_builder(name)).parameters.values() if p.kind == p.KEYWORD_ONLY]


def build(name: str, input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0,
          **options: Any) -> keras.Model:
    """Build an untrained registered architecture.

    Args:
        name: a name from :func:`list_models`.
        input_shape: ``(H, W, C)`` of the input.
        num_classes: size of the softmax output.
        width: the width multiplier (α): scales every layer's channel count.
        **options: architecture-specific options; ``None`` values mean "use the default" and are dropped.

    Raises:
        ModelError: unknown name, unknown option or impossible value (width ≤ 0, input too small, …).

    Example:
        >>> build("mobilenet_v2", (96, 96, 3), num_classes=2, width=0.35).count_params()
    """
    builder = _builder(name)
    if not width > 0:
        raise ModelError(f"width must be positive, got width={width!r}")
    if num_classes < 2:
        raise ModelError(f"num_classes must be at least 2, got num_classes={num_classes!r}")
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ModelError(f"input_shape must be (H, W, C), got input_shape={input_shape!r}")
    options = {k: v for k, v in options.items() if v is not None}
    accepted = accepted_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ModelError(f"{name}: unknown option(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}")
    return builder(tuple(int(d) for d in input_shape), int(num_classes), width=float(width), **options)


def describe(name: str, input_shape: tuple[int, int, int], num_classes: int = 2, width: float = 1.0,
             **options: Any) -> dict[str, Any]:
    """Build ``name`` and return its size: ``arch``, ``name`` (the model's), ``input_shape``, ``num_classes``,
    ``width``, ``params`` (as Keras counts them) and ``macs`` (per image, see :mod:`convbench.models.macs`).

    Raises:
        ModelError: as :func:`build`.
    """
    model = build(name, input_shape, num_classes, width, **options)
    return {"arch": name, "name": model.name, "input_shape": list(input_shape), "num_classes": num_classes,
            "width": width, "params": model.count_params(), "macs": total_macs(model)}


def describe_all(input_size: int | None = None, channels: int = DESCRIBE_DEFAULTS.channels,
                 num_classes: int = DESCRIBE_DEFAULTS.num_classes,
                 width: float = DESCRIBE_DEFAULTS.width) -> list[dict[str, Any]]:
    """:func:`describe` every registered architecture at ``input_size`` (default: each one's own default).

    An architecture that cannot be built with these settings (e.g. an input below its minimum) gets a
    row with an ``error`` message instead of sizes.

    Raises:
        ModelError: when no architecture can be built (e.g. width ≤ 0), with the first one's message.
    """
    rows = []
    for name in list_models():
        size = input_size or defaults(name).input_size
        try:
            rows.append(describe(name, (size, size, channels), num_classes, width))
        except ModelError as e:
            rows.append({"arch": name, "input_shape": [size, size, channels], "error": str(e)})
    errors = [row["error"] for row in rows if "error" in row]
    if errors and len(errors) == len(rows):
        raise ModelError(errors[0])
    return rows


def deployed_forward(model: keras.Model) -> Callable[[Any], Any]:
    """What a runner calls for a model's deployed class probabilities ``(N, C)``: the model itself, unless its class
    deploys a decision of its own as ``decision_probabilities(x)`` (an early-exit network answers with the decision
    its exported files make), so the Keras runner times and scores every model as its exported files run."""
    own = getattr(model, "decision_probabilities", None)
    return own if callable(own) else (lambda x: model(x, training=False))
