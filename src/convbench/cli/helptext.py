"""How every command's help states a default or a list of names, so that each is written the same way and none is
typed by hand: the values are the library's own (named constants in :mod:`convbench.vocabulary`), so a changed
default or a new name changes the help too.

The help is built when the CLI is imported, so the values must come from light modules: ``convbench --help`` never
imports Keras, TensorFlow or NumPy, and a default that lives only in a signature of such a module is first moved to
a named constant in :mod:`convbench.vocabulary`.
"""

from __future__ import annotations

from collections.abc import Iterable


def with_default(text: str, default: object) -> str:
    """``with_default("Most epochs to train", 20)`` → ``"Most epochs to train [default: 20]."``

    For options that default to ``None`` ("use the library's default"), whose default click cannot show itself.
    ``default`` is the library's value, or words for a default that depends on the input (``"the data's"``).
    """
    return f"{text} [default: {default}]."


def listed(names: Iterable[str], conjunction: str = "or") -> str:
    """``listed(("litert", "onnxruntime", "keras"))`` → ``"litert, onnxruntime or keras"``."""
    *first, last = names
    return f"{', '.join(first)} {conjunction} {last}" if first else last
