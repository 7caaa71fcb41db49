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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convbench.artifacts import ModelCard
from convbench.bench.measurement import Measurement, TaskSpec
from convbench.bench.memory import peak_memory
from convbench.bench.result import BenchResult
from convbench.bench.rounds import interleave
from convbench.bench.sample_image import sample_image
from convbench.bench.timer import CLOCK_NAME, Timer, check_cpus, default_clock, pinned, validate_protocol
from convbench.checks import check_load_repeats, check_rounds, check_threads
from convbench.env import environment
from convbench.errors import ConfigError, ConvbenchError, ModelError
from convbench.io import sha256_file
from convbench.runtime import open_runner
from convbench.verbosity import native_output
from convbench.vocabulary import BENCH_DEFAULTS, DEFAULT_ROUNDS

BATCH_SIZE = 1  # the deployment case the harness measures
ACCURACY_KEYS = ("test_accuracy", "accuracy")  # where cards keep top-1 accuracy on the test split


def bench(model_path: str | os.PathLike[str], *, runtime: str | None = None, threads: int = BENCH_DEFAULTS.threads,
          runs: int = BENCH_DEFAULTS.runs, min_seconds: float = BENCH_DEFAULTS.min_seconds,
          warmup: int = BENCH_DEFAULTS.warmup, warmup_seconds: float = BENCH_DEFAULTS.warmup_seconds,
          image: str | os.PathLike[str] | None = None, data: str | None = None,
          load_repeats: int = BENCH_DEFAULTS.load_repeats, memory: bool = False,
          pin: Sequence[int] | None = None) -> BenchResult:
    """Time ``model_path`` at batch 1 in ``runtime`` with ``threads`` threads.

    Args:
        model_path: a ``.tflite``, ``.onnx`` or ``.keras`` file written by convbench (with its card).
        runtime: a registered runtime (``litert``, ``onnxruntime``, ``keras`` …); None infers it from the suffix.
        threads: intra-op threads of the runtime (1 … :data:`~convbench.checks.MAX_THREADS`).
        runs, min_seconds: steady-state loop runs at least ``runs`` calls and at least ``min_seconds``.
        warmup, warmup_seconds: warm-up by count and by time before each timed loop.
        image: a real image file to time preprocessing on; or
        data: a data spec whose first test image is used (default: the card's data, else embedded digits).
        load_repeats: fresh loads (each followed by one cold inference) to time, at most
            :data:`~convbench.checks.MAX_LOAD_REPEATS`.
        memory: also measure the peak resident memory of a fresh process running the model, after the timing
            (:func:`convbench.bench.memory.peak_memory`).
        pin: run on these CPUs only (``os.sched_setaffinity``), recorded in the protocol.

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
    return bench_interleaved([BenchCase(model_path, runtime, threads)], rounds=1, runs=runs,
                             min_seconds=min_seconds, warmup=warmup, warmup_seconds=warmup_seconds, image=image,
                             data=data, load_repeats=load_repeats, memory=memory, pin=pin)[0]


@dataclass(frozen=True)
class BenchCase:
    """One configuration to time: a model file in a runtime (``None``: from its suffix) at a thread count."""

    model: str | os.PathLike[str]
    runtime: str | None = None
    threads: int = BENCH_DEFAULTS.threads


def bench_interleaved(targets: Sequence[BenchCase], *, rounds: int = DEFAULT_ROUNDS,
                      runs: int = BENCH_DEFAULTS.runs, min_seconds: float = BENCH_DEFAULTS.min_seconds,
                      warmup: int = BENCH_DEFAULTS.warmup, warmup_seconds: float = BENCH_DEFAULTS.warmup_seconds,
                      image: str | os.PathLike[str] | None = None, data: str | None = None,
                      load_repeats: int = BENCH_DEFAULTS.load_repeats, memory: bool = False,
                      pin: Sequence[int] | None = None, seed: int = 0,
                      before_round: Callable[[int], None] | None = None) -> list[BenchResult]:
    """Time several configurations side by side: steady-state inference in ``rounds`` rounds, each round
    timing every configuration once in a fresh shuffled order (A B C, C A B, …).

    Drift of the machine (frequency, another process) then hits every configuration alike instead of
    whichever ran last, and each configuration's inference Measurement pools its rounds as replicates, so
    its confidence interval and its "rounds disagree" flag reflect round-to-round variation
    (:attr:`~convbench.bench.Measurement.ci95`). The rounds are :func:`convbench.bench.rounds.interleave`'s
    (each runs ``runs / rounds`` calls and ``min_seconds / rounds`` seconds at least, see
    :func:`~convbench.bench.rounds.round_protocols` for the warm-up). Load, first inference and preprocessing
    are timed per configuration first, as :func:`bench` does.

    Args:
        targets: the configurations.
        rounds: rounds of the steady-state loop (1: each configuration timed once, one after another), at most
            :data:`~convbench.checks.MAX_ROUNDS`.
        seed: seeds the shuffled orders (recorded in the protocol).
        before_round: called with the round's index before each round, once every configuration is loaded and
            its cold phases timed. A caller that runs this in several processes blocks here until it is a
            process's turn, so the processes' rounds interleave too and drift hits each process alike (a
            repeatability run compares separate processes, not one stretch of time against another).
        runs, min_seconds, warmup, warmup_seconds, image, data, load_repeats, memory, pin: as :func:`bench`.

    Returns:
        One :class:`BenchResult` per target, in the order given; the protocol records the rounds, their
        orders, the pinned CPUs and how busy the machine was while the rounds ran (``machine``: a
        :class:`~convbench.bench.machine_load.MachineLoad`). Each inference Measurement carries the run's id and
        that load, so :func:`~convbench.bench.verdict.verdict` can pair two configurations round by round.

    Raises:
        as :func:`bench`; ConfigError also for no targets or ``rounds`` outside [1, ``MAX_ROUNDS``].
    """
    validate_protocol(runs=runs, min_seconds=min_seconds, warmup=warmup, warmup_seconds=warmup_seconds)
    if not targets:
        raise ConfigError("bench needs at least one model file")
    check_rounds(rounds)
    for target in targets:
        check_threads(target.threads)
    check_load_repeats(load_repeats)
    cpus = check_cpus(pin)
    for target in targets:
        if not Path(target.model).is_file():
            raise ModelError(f"model file not found: {target.model}")

    protocol = dict(runs=runs, min_seconds=min_seconds, warmup=warmup, warmup_seconds=warmup_seconds)
    with pinned(cpus), tempfile.TemporaryDirectory(prefix="convbench-bench-") as workdir:
        prepared = [_prepare(t, Path(workdir) / str(i), image, data, load_repeats, protocol)
                    for i, t in enumerate(targets)]
        run = interleave(len(prepared), lambda i, round_protocol: prepared[i].time_inference(round_protocol),
                         protocol, rounds=rounds, seed=seed, before_round=before_round)
    record = {**protocol, "load_repeats": load_repeats, "batch_size": BATCH_SIZE, "clock": CLOCK_NAME,
              **({"pinned_cpus": list(cpus)} if cpus else {}), **run.protocol_record(seed)}
    return [p.result(run.pooled(i), record,
                     peak_memory(p.path, runtime=p.runner.name, threads=p.runner.threads).to_dict() if memory else None)
            for i, p in enumerate(prepared)]


@dataclass
class _Prepared:
    """One configuration loaded and ready for its steady-state loop, with its cold phases already timed."""

    path: Path
    runner: Any
    card: ModelCard
    x: np.ndarray
    image: dict[str, Any]
    load: Measurement
    first: Measurement
    preprocess: Measurement

    def time_inference(self, protocol: dict[str, Any]) -> Measurement:
        name, sub = self.card.arch or self.path.stem, f"{self.runner.name} t{self.runner.threads}"
        return Timer(self.runner.invoke, setup=lambda: self.runner.set_input(self.x), label=name, sub_label=sub,
                     description="inference", num_threads=self.runner.threads).run(**protocol)

    def result(self, inference: Measurement, protocol: dict[str, Any], memory: dict[str, Any] | None) -> BenchResult:
        runner = self.runner
        return BenchResult(
            model=_model_facts(self.path, self.card),
            runtime={"name": runner.name, "version": runner.version, "threads": runner.threads,
                     "delegate": runner.delegate},
            protocol=protocol, image=self.image,
            phases={"load": self.load, "first_inference": self.first, "preprocess": self.preprocess,
                    "inference": inference},
            environment=environment(), memory=memory)


def _prepare(target: BenchCase, workdir: Path, image: str | os.PathLike[str] | None, data: str | None,
             load_repeats: int, protocol: dict[str, Any]) -> _Prepared:
    """Open, load and cold-time one configuration, and time its image preprocessing."""
    path = Path(target.model)

    def fresh_runner() -> Any:
        return open_runner(path, runtime=target.runtime, threads=target.threads)

    runner = fresh_runner()  # validates the runtime name and the card before anything is timed
    card: ModelCard = runner.card
    workdir.mkdir(parents=True, exist_ok=True)
    sample = sample_image(card, workdir, image=image, data=data)
    x = card.preprocessing.load_image(sample.path)
    _check_input(path, card, x)
    name, sub = card.arch or path.stem, f"{runner.name} t{target.threads}"
    runner, load, first = _cold_phases(runner, fresh_runner, x, load_repeats, TaskSpec(name, sub, "", target.threads))
    preprocess = Timer(lambda: card.preprocessing.load_image(sample.path), label=name, sub_label=sub,
                       description="preprocess", num_threads=target.threads).run(**protocol)
    return _Prepared(path, runner, card, x, sample.to_dict() | {"shape": list(x.shape)}, load, first, preprocess)


def _cold_phases(runner: Any, fresh_runner: Any, x: np.ndarray, repeats: int,
                 spec: TaskSpec) -> tuple[Any, Measurement, Measurement]:
    """Time ``load()`` and the first ``invoke()`` of ``repeats`` fresh runners; return the last, loaded.

    One window keeps the runtimes' native log lines off the terminal (:class:`~convbench.verbosity.native_output`)
    around all of them, outside the clocks: each load's own window is then a no-op, timed as nothing."""
    clock = default_clock
    load_ns, first_ns = [], []
    with native_output():
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
