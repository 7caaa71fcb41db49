"""Export targets and quantisation modes, with the reference study's TensorFlow optimisation names as aliases."""

from __future__ import annotations

from dataclasses import dataclass

from convbench.errors import ConfigError

TARGETS = {"tflite": ".tflite", "onnx": ".onnx"}  # target → file suffix
MODES = ("none", "dynamic", "float16", "int8")  # none = float32
# The reference study's names: TensorFlow documents OPTIMIZE_FOR_LATENCY and OPTIMIZE_FOR_SIZE as deprecated
# aliases of DEFAULT, which is dynamic-range quantisation (int8 weights, float activations).
TF_OPTIMIZATIONS = ("DEFAULT", "OPTIMIZE_FOR_LATENCY", "OPTIMIZE_FOR_SIZE")
ALIAS_NOTE = ("TensorFlow documents OPTIMIZE_FOR_LATENCY, OPTIMIZE_FOR_SIZE and DEFAULT as the same optimisation "
              "(dynamic-range quantisation): expect byte-identical files (compare their sha256)")


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
    if name in MODES:
        return QuantizeMode(name, None if name == "none" else "DEFAULT", name)
    upper = str(name).upper()
    if upper in TF_OPTIMIZATIONS:
        return QuantizeMode("dynamic", upper, upper)
    raise ConfigError(f"unknown quantize mode {name!r}; expected one of {', '.join(MODES + TF_OPTIMIZATIONS)}")


def resolve_target(to: str) -> str:
    """The target name, or :class:`ConfigError` listing the known ones."""
    if to not in TARGETS:
        raise ConfigError(f"unknown export target {to!r}; expected one of {', '.join(TARGETS)}")
    return to
