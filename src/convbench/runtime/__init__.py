"""Inference runtimes behind one Runner contract: LiteRT, ONNX Runtime, and Keras (tf.function) for reference.

Heavy libraries are imported inside ``Runner.load``, so importing this package is cheap.
"""

from convbench.runtime import keras_rt, litert, onnxrt  # noqa: F401  (register the runners)
from convbench.runtime.base import Runner, list_runtimes, open_runner, register_runner, runtime_for

__all__ = ["Runner", "list_runtimes", "open_runner", "register_runner", "runtime_for"]
