"""Keras reference runner: the model's call compiled once with ``tf.function`` (never eager, never ``predict``).

Eager ``model(x)`` and ``model.predict`` time Python dispatch, not the network (234 ms and 95 ms vs 6.3 ms
compiled for MobileNetV2 α0.35 on this CPU), so the Keras number is always the compiled call.
"""

from __future__ import annotations

import logging
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from convbench.runtime.base import Runner, register_runner


@register_runner
class KerasRunner(Runner):
    """A ``.keras`` file run through ``tf.function(model, jit_compile=False, reduce_retracing=True)``.

    TensorFlow's thread pools are process-wide and fixed once TensorFlow starts: ``threads`` is applied when
    it still can be; otherwise a warning says so and ``threads`` becomes the count actually in effect.
    """

    name = "keras"
    suffixes = (".keras",)
    delegate = "tf.function"
    no_profiler = ("TensorFlow's public profiler only writes a TensorBoard trace; per-op tables need TensorBoard's "
                   "profile plugin (tensorboard-plugin-profile), which is not installed")

    @property
    def version(self) -> str:
        import keras
        import tensorflow as tf

        return f"{keras.__version__} (tensorflow {tf.__version__})"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return zipfile.is_zipfile(path)  # a .keras file is a zip archive

    def _load(self) -> None:
        # Lazy: importing the runtimes must not cost TensorFlow's start-up (seconds) to a LiteRT or ONNX user.
        import tensorflow as tf

        from convbench.train import load_model

        self.threads = _pin_threads(tf, self.threads)
        logger = tf.get_logger()
        if not any(isinstance(f, _FreshLoadTracing) for f in logger.filters):
            logger.addFilter(_FreshLoadTracing())
        from convbench.models import deployed_forward

        self._model = load_model(self.path)[0]
        forward = deployed_forward(self._model)
        self._call = tf.function(lambda x: forward(x), jit_compile=False, reduce_retracing=True)  # named for the filter
        self._tf = tf
        self.input_dtype = np.dtype("float32")

    def _set_input(self, x: np.ndarray) -> None:
        self._x = self._tf.constant(x)

    def invoke(self) -> None:
        # .numpy() waits for the result: asynchronous work finishes inside the timed call.
        self._y = self._call(self._x).numpy()

    def _get_output(self) -> np.ndarray:
        return self._y

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for any batch: one compiled call per batch (Keras needs no batch-1 loop)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape[1:]:
            return super().predict(x)  # the base phrases the shape error
        if not self.loaded:
            self.load()
        return np.asarray(self._call(self._tf.constant(x)).numpy(), dtype=np.float32)


class _FreshLoadTracing(logging.Filter):
    """Drops TensorFlow's "excessive retracing" warning about this runner's own function, and only that one.

    Every fresh load builds a new ``tf.function`` that traces once on its first call, which is the load
    being measured, not a retracing bug; TensorFlow counts them together and warns after five loads.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and "KerasRunner._load" in message)


def _pin_threads(tf, threads: int) -> int:
    """Apply ``threads`` to TensorFlow's pools when still possible; return the intra-op threads in effect."""
    threading = tf.config.threading
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already started: its pools cannot be resized any more
        current = threading.get_intra_op_parallelism_threads() or os.cpu_count() or 1  # 0 means all cores
        if current != threads:
            warnings.warn(f"keras runtime: TensorFlow already runs with {current} intra-op threads in this process; "
                          f"threads={threads} cannot be applied (recorded as {current})", stacklevel=4)
        return current
    return threads
