"""bench(): time one model file in one runtime, phase by phase, as TFLite's ``benchmark_model`` and
ONNX Runtime's ``perf_test`` do, with the statistics of :class:`~convbench.bench.timer.Timer`.

Phases, each with its own :class:`~convbench.bench.measurement.Measurement`:

- ``load``: ``Runner.load()`` of a fresh runner (file read + interpreter/session creation + tensor
  allocation), ``load_repeats`` times;
- ``first_inference``: the first ``invoke()`` after each of those loads (cold: lazy initialisation,
  delegate preparation, graph tracing for Keras);
- ``preprocess``: decode + resize + normalise of a real image file with the model's own
  :class:`~convbench.data.Preprocessing` (the steps training used);
- ``inference``: steady state, only ``invoke()`` with the input already set.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from convbench.artifacts import ModelCard
from convbench.bench.measurement import Measurement, TaskSpec
from convbench.bench.memory import peak_memory
from convbench.bench.result import BenchResult
from convbench.bench.sample_image import sample_image
from convbench.bench.timer import CLOCK_NAME, Timer, default_clock, validate_protocol
from convbench.env import environment
from convbench.errors import ConfigError, ConvbenchError, ModelError
from convbench.io import sha256_file
from convbench.runtime import open_runner
from convbench.vocabulary import BENCH_DEFAULTS

BATCH_SIZE = 1  # the deployment case the harness measures
ACCURACY_KEYS = ("test_accuracy", "accuracy")  # where cards keep top-1 accuracy on the test split


def bench(model_path: str | os.PathLike[str], *, runtime: str | None = None, threads: int = BENCH_DEFAULTS.threads,
          runs: int = BENCH_DEFAULTS.runs, min_seconds: float = BENCH_DEFAULTS.min_seconds,
          warmup: int = BENCH_DEFAULTS.warmup, warmup_seconds: float = BENCH_DEFAULTS.warmup_seconds,
          image: str | os.PathLike[str] | None = None, data: str | None = None,
          load_repeats: int = BENCH_DEFAULTS.load_repeats, memory: bool = False) -> BenchResult:
    """Time ``model_path`` at batch 1 in ``runtime`` with ``threads`` threads.

    Args:
        model_path: a ``.tflite``, ``.onnx`` or ``.keras`` file written by convbench (with its card).
        runtime: ``litert``, ``onnxruntime`` or ``keras``; None infers it from the file suffix.
        threads: intra-op threads of the runtime (≥ 1).
        runs, min_seconds: steady-state loop runs at least ``runs`` calls and at least ``min_seconds``.
        warmup, warmup_seconds: warm-up by count and by time before each timed loop.
        image: a real image file to time preprocessing on; or
        data: a data spec whose first test image is used (default: the card's data, else embedded digits).
        load_repeats: fresh loads (each followed by one cold inference) to time.
        memory: also measure the peak resident memory of a fresh process running the model, after the timing
            (:func:`convbench.bench.memory.peak_memory`).

    Returns:
        A :class:`BenchResult` with the phases ``load``, ``first_inference``, ``preprocess``, ``inference``.

    Raises:
        ConfigError: an impossible option (checked before anything runs) or an unknown runtime.
        ModelError: a missing or unusable model file, or an input the model does not accept.
        DataError: an image that cannot be decoded, or an unusable data spec.

    Example:
        >>> result = bench("runs/fruits/mobilenet_v2/model.tflite", threads=2)
        >>> result.inference.median, result.inference.ci95
    """
    validate_protocol(runs=runs, min_seconds=min_seconds, warmup=warmup, warmup_seconds=warmup_seconds)
    if not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be an integer >= 1, got threads={threads!r}")
    if not isinstance(load_repeats, int) or load_repeats < 1:
        raise ConfigError(f"load_repeats must be an integer >= 1, got load_repeats={load_repeats!r}")
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")

    def fresh_runner() -> Any:
        return open_runner(path, runtime=runtime, threads=threads)

    runner = fresh_runner()  # validates the runtime name and the card before anything is timed
    card: ModelCard = runner.card
    with tempfile.TemporaryDirectory(prefix="convbench-bench-") as workdir:
        sample = sample_image(card, workdir, image=image, data=data)
        x = card.preprocessing.load_image(sample.path)
        _check_input(path, card, x)
        name, sub = card.arch or path.stem, f"{runner.name} t{threads}"
        runner, load, first = _cold_phases(runner, fresh_runner, x, load_repeats,
                                           TaskSpec(name, sub, "", threads))
        protocol = dict(runs=runs, min_seconds=min_seconds, warmup=warmup, warmup_seconds=warmup_seconds)
        preprocess = Timer(lambda: card.preprocessing.load_image(sample.path), label=name, sub_label=sub,
                           description="preprocess", num_threads=threads).run(**protocol)
    inference = Timer(runner.invoke, setup=lambda: runner.set_input(x), label=name, sub_label=sub,
                      description="inference", num_threads=threads).run(**protocol)
    footprint = peak_memory(path, runtime=runner.name, threads=threads).to_dict() if memory else None
    return BenchResult(
        model=_model_facts(path, card),
        runtime={"name": runner.name, "version": runner.version, "threads": runner.threads,
                 "delegate": runner.delegate},
        protocol={**protocol, "load_repeats": load_repeats, "batch_size": BATCH_SIZE, "clock": CLOCK_NAME},
        image=sample.to_dict() | {"shape": list(x.shape)},
        phases={"load": load, "first_inference": first, "preprocess": preprocess, "inference": inference},
        environment=environment(), memory=footprint)


def _cold_phases(runner: Any, fresh_runner: Any, x: np.ndarray, repeats: int,
                 spec: TaskSpec) -> tuple[Any, Measurement, Measurement]:
    """Time ``load()`` and the first ``invoke()`` of ``repeats`` fresh runners; return the last, loaded."""
    clock = default_clock
    load_ns, first_ns = [], []
    for i in range(repeats):
        if i:
            runner = fresh_runner()  # the previous one is released: only one model in memory at a time
        t0 = clock()
        runner.load()
        t1 = clock()
        _set_input(runner, x)
        t2 = clock()
        runner.invoke()
        t3 = clock()
        load_ns.append(t1 - t0)
        first_ns.append(t3 - t2)
    cold = {"clock": CLOCK_NAME, "fresh_runners": repeats}
    return (runner,
            Measurement.from_ns(TaskSpec(spec.label, spec.sub_label, "load", spec.num_threads), load_ns,
                                metadata=cold),
            Measurement.from_ns(TaskSpec(spec.label, spec.sub_label, "first_inference", spec.num_threads),
                                first_ns, metadata=cold))


def _check_input(path: Path, card: ModelCard, x: np.ndarray) -> None:
    if tuple(x.shape[1:]) != tuple(card.input_shape):
        raise ModelError(f"{path}: its card's preprocessing makes input {tuple(x.shape[1:])} but the model "
                         f"expects {tuple(card.input_shape)}")


def _set_input(runner: Any, x: np.ndarray) -> None:
    try:
        runner.set_input(x)
    except ConvbenchError:
        raise
    except ValueError as e:  # the runtime's own shape/dtype complaint, phrased for the user
        raise ModelError(f"{runner.path}: the model rejects input of shape {x.shape} (its card says "
                         f"{tuple(runner.card.input_shape)}): {e}") from None


def _model_facts(path: Path, card: ModelCard) -> dict[str, Any]:
    sha = sha256_file(path)
    if card.sha256 and card.sha256 != sha:
        warnings.warn(f"{path}: SHA-256 differs from its model card's; the card may describe another file",
                      stacklevel=3)
    accuracy = next((card.metrics[k] for k in ACCURACY_KEYS if card.metrics.get(k) is not None), None)
    return {"path": str(path), "name": path.name, "size_bytes": path.stat().st_size, "sha256": sha,
            "format": card.format, "arch": card.arch, "width": card.width, "quantize": card.quantize,
            "params": card.params, "macs": card.macs, "accuracy": accuracy, "input_shape": list(card.input_shape),
            "metrics": card.metrics}
