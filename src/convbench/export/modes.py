"""Export targets and quantisation modes, with the reference study's TensorFlow optimisation names as aliases."""

from __future__ import annotations

from dataclasses import dataclass

from convbench.errors import ConfigError
from convbench.vocabulary import EXPORT_SUFFIXES, QUANTIZE_MODES, QUANTIZE_NAMES, TF_OPTIMIZATIONS


@dataclass(frozen=True)
class QuantizeMode:
    """A resolved ``quantize=`` option.

    Attributes:
        mode: ``none``, ``dynamic``, ``float16`` or ``int8``.
        optimization: the ``tf.lite.Optimize`` member handed to the converter (``None`` for float32).
        requested: the name the user gave (``OPTIMIZE_FOR_SIZE`` …), kept for file names and cards.
    """

    mode: str
    optimization: str | None
    requested: str

    @property
    def is_alias(self) -> bool:
        return self.requested in TF_OPTIMIZATIONS

    @property
    def tag(self) -> str:
        """File-name tag: the mode, or the alias in lower case so the three reference files can coexist."""
        return self.requested.lower()


def resolve_quantize(name: str) -> QuantizeMode:
    """``"int8"`` → int8 mode; ``"OPTIMIZE_FOR_SIZE"`` (any case) → dynamic through that optimisation name."""
    if name in QUANTIZE_MODES:
        return QuantizeMode(name, None if name == "none" else "DEFAULT", name)
    upper = str(name).upper()
    if upper in TF_OPTIMIZATIONS:
        return QuantizeMode("dynamic", upper, upper)
    raise ConfigError(f"unknown quantize mode {name!r}; expected one of {', '.join(QUANTIZE_NAMES)}")


def resolve_format(to: str) -> str:
    """The export format's name (``tflite``, ``onnx``), or :class:`ConfigError` listing the known ones."""
    if to not in EXPORT_SUFFIXES:
        raise ConfigError(f"unknown export target {to!r}; expected one of {', '.join(EXPORT_SUFFIXES)}")
    return to
