"""The model registry: one builder per architecture name; ``build`` never names an architecture."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import keras

from convbench.errors import ModelError

Builder = Callable[..., keras.Model]

_BUILDERS: dict[str, Builder] = {}  # architecture name -> builder(input_shape, num_classes, width, **options)


def register_model(fn: Builder) -> Builder:
    """Register ``fn`` under its ``__name__`` (the architecture name used everywhere else)."""
    if fn.__name__ in _BUILDERS:
        warnings.warn(f"model {fn.__name__!r} registered twice", stacklevel=2)
    _BUILDERS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names of every registered architecture, sorted."""
    return sorted(_BUILDERS)


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
        ModelError: unknown name or impossible option (width ≤ 0, input too small, …).

    Example:
        >>> build("mobilenet_v2", (96, 96, 3), num_classes=2, width=0.35).count_params()
    """
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ModelError(f"unknown architecture {name!r}; known: {', '.join(list_models())}")
    if not width > 0:
        raise ModelError(f"width must be positive, got width={width!r}")
    if num_classes < 2:
        raise ModelError(f"num_classes must be at least 2, got num_classes={num_classes!r}")
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ModelError(f"input_shape must be (H, W, C), got input_shape={input_shape!r}")
    options = {k: v for k, v in options.items() if v is not None}
    return builder(tuple(int(d) for d in input_shape), int(num_classes), width=float(width), **options)
