"""Inference runtimes behind one Runner contract: LiteRT (Interpreter and CompiledModel), ONNX Runtime, OpenVINO,
and Keras (tf.function) for reference.

Heavy libraries are imported inside ``Runner.load``, so importing this package is cheap.
"""

# Register the runners, and the opener of exported early-exit files (runtime.base.register_card_runner).
from convbench.runtime import early_exit, keras_rt, litert, litert_compiled, onnxrt, openvino  # noqa: F401
from convbench.runtime.base import (
    Runner,
    list_runtimes,
    open_runner,
    register_card_runner,
    register_runner,
    runtime_for,
)

__all__ = ["Runner", "list_runtimes", "open_runner", "register_card_runner", "register_runner", "runtime_for"]
