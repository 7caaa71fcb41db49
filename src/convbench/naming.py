"""How a width multiplier is written in model names (keras-free: experiment files use it before any model loads)."""


def width_text(width: float) -> str:
    """Two decimals, like keras.applications (``0.25``, ``1.00``); more only where needed (``0.125``)."""
    text = f"{width:.2f}"
    return text if float(text) == width else f"{width:g}"
