"""Loader options as they arrive from data specs (``?size=32&skip_bad_images=1``: strings) or from Python."""

from __future__ import annotations

from collections.abc import Sequence

from convbench.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def as_bool(value: bool | str | int, option: str) -> bool:
    """``True``/``False``, or their spellings ``1/0``, ``true/false``, ``yes/no``, ``on/off``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"option {option} must be true or false, got {option}={value!r}")


def as_choice(value: str, option: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"option {option} must be one of {', '.join(choices)}, got {option}={value!r}")
    return value


def as_size(value: int | str | Sequence[int] | None, option: str = "size") -> tuple[int, int] | None:
    """``(height, width)`` from ``32``, ``"32"``, ``"32x24"``, ``"32,24"`` or ``(32, 24)``; ``None`` stays None."""
    if value is None:
        return None
    try:
        if isinstance(value, str):
            parts = [int(p) for p in value.lower().replace(",", "x").split("x")]
        elif isinstance(value, int):
            parts = [value]
        else:
            parts = [int(p) for p in value]
    except (TypeError, ValueError):
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        raise ConfigError(f"option {option} must be a positive SIZE or HEIGHTxWIDTH, got {option}={value!r}")
    return parts[0], parts[1]
