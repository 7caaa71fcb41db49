"""Where a model is timed: ``local`` (default), ``ssh://[user@]host[:port]`` (a Linux board, through the system
OpenSSH client and a one-file agent running our protocol), ``adb[://SERIAL]`` (an Android phone, through LiteRT's
``benchmark_model``). One registry of target kinds (:mod:`convbench.bench.targets.base`); each kind returns the one
result format, :class:`~convbench.bench.BenchResult`, with the target and its environment recorded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from convbench.bench.harness import BenchCase
from convbench.bench.result import BenchResult
from convbench.bench.targets import adb, local, ssh  # noqa: F401  (each registers its target kind)
from convbench.bench.targets.base import (
    Protocol,
    Target,
    TargetEnvironment,
    TargetSpec,
    aggregates_only,
    list_target_kinds,
    open_target,
    parse_target,
    register_target,
    target_of,
)
from convbench.vocabulary import BENCH_DEFAULTS, DEFAULT_ROUNDS

__all__ = ["Protocol", "Target", "TargetEnvironment", "TargetSpec", "aggregates_only", "bench_on",
           "list_target_kinds", "open_target", "parse_target", "register_target", "target_of"]


def bench_on(target: str | TargetSpec | None, models: Sequence[str | os.PathLike[str] | BenchCase], *,
             runtime: str | None = None, threads: int = BENCH_DEFAULTS.threads, rounds: int | None = None,
             **protocol: object) -> list[BenchResult]:
    """Time ``models`` on ``target`` with the protocol of :func:`~convbench.bench.bench_interleaved`.

    Args:
        target: ``local`` (or None), ``ssh://[user@]host[:port]`` or ``adb[://SERIAL]``.
        models: model files (timed in ``runtime`` with ``threads``) or :class:`BenchCase` configurations.
        rounds: interleaved rounds of the steady-state loop (default: 1 for one model, ``DEFAULT_ROUNDS`` for several).
        protocol: the other fields of :class:`Protocol` (runs, min_seconds, warmup, warmup_seconds, load_repeats,
            image, data, memory, pin, seed; profile_ops and delegate for adb).

    Returns:
        One :class:`BenchResult` per model, in order, each recording the target in ``environment["target"]``.

    Raises:
        ConfigError: an unknown target or option; TargetError: the target cannot be reached or lacks a tool
        (one line naming the target and the fix); ModelError: a missing or unusable model file.

    Example:
        >>> results = bench_on("ssh://pi@raspberrypi", ["runs/fruits/mobilenet_v2/model.tflite"])
        >>> results[0].environment["device"], results[0].inference.median
    """
    configs = [m if isinstance(m, BenchCase) else BenchCase(m, runtime, threads) for m in models]
    chosen = rounds if rounds is not None else (1 if len(configs) == 1 else DEFAULT_ROUNDS)
    return open_target(target).run(configs, Protocol(rounds=chosen, **protocol))  # type: ignore[arg-type]
