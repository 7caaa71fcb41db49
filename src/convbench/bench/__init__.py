"""Honest batch-1 latency: a Timer that returns Measurements, and bench() that times a model phase by phase.

Modelled on ``torch.utils.benchmark`` (Timer → Measurement with lazy statistics) and on TFLite's
``benchmark_model`` / ONNX Runtime's ``perf_test`` (load, first inference and steady state apart).
"""

from convbench.bench.harness import BenchCase, bench, bench_interleaved
from convbench.bench.measurement import Measurement, TaskSpec
from convbench.bench.result import PHASES, BenchResult
from convbench.bench.stats import UNSTABLE_IQR_RATIO, MedianCI, median_ci
from convbench.bench.timer import Timer

__all__ = [
           "PHASES",
           "UNSTABLE_IQR_RATIO",
           "BenchCase",
           "BenchResult",
           "Measurement",
           "MedianCI",
           "TaskSpec",
           "Timer",
           "bench",
           "bench_interleaved",
           "median_ci",
]
