"""Timer: run a callable under a fixed protocol and return a :class:`~convbench.bench.measurement.Measurement`.

Modelled on ``torch.utils.benchmark.Timer``. Why it times the way it does:

- **The clock is chosen once**: ``time.perf_counter_ns`` (monotonic, integer nanoseconds, the finest
  clock Python has), read exactly twice around each timed call and nowhere else in the loop.
- **Warm-up by count and by time** (at least ``warmup`` calls *and* ``warmup_seconds``): first calls
  pay for lazy allocation, page faults, cache and branch-predictor warm-up and CPU frequency ramp-up.
- **Each call is timed on its own** (batch 1, the deployment case), so the distribution (median,
  tail, IQR) is visible rather than only a mean; the loop runs at least ``runs`` calls *and* at least
  ``min_seconds``, so fast models get many samples and slow ones still get ``runs``.
- **Median and IQR, not a bare mean**: latency distributions are skewed by interruptions.
- **The garbage collector is paused** while timing (as :mod:`timeit` does), so a collection triggered
  by unrelated allocations is not charged to one unlucky call.
- **Threads are recorded, not set**: ``num_threads`` describes what the timed code was configured
  to use (a runtime owns its own thread pool).
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from convbench.bench.measurement import Measurement, TaskSpec
from convbench.checks import integer_in, number_in
from convbench.errors import ConfigError
from convbench.vocabulary import BENCH_DEFAULTS

Clock = Callable[[], int]

default_clock: Clock = time.perf_counter_ns  # chosen once for the whole process
CLOCK_NAME = "time.perf_counter_ns"
MAX_SAMPLES = 1_000_000  # bounds memory (8 MB of samples) when a sub-microsecond call meets a long time budget
MAX_LOOP_SECONDS = 3600.0  # a timed or warm-up loop longer than an hour is a typo (1e12), not a protocol


class Timer:
    """Time ``fn()`` (no arguments; its result is discarded).

    Args:
        fn: the callable to time; it must finish its work before returning (materialise async output).
        setup: called once, untimed, before each measurement (e.g. to set the input).
        label, sub_label, description: what is timed (see :class:`TaskSpec`); reports lay out by them.
        num_threads: threads ``fn`` was configured to use (recorded in the spec).
        env: a tag that keeps measurements from different environments apart.
        clock: integer-nanosecond clock; only tests replace the default.

    Example:
        >>> Timer(lambda: sum(range(100)), label="sum").run(runs=50, min_seconds=0.01).n >= 50
        True
    """

    def __init__(self, fn: Callable[[], Any], *, setup: Callable[[], Any] | None = None, label: str = "",
                 sub_label: str = "", description: str = "", num_threads: int = 1, env: str | None = None,
                 clock: Clock | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"Timer needs a callable, got {type(fn).__name__}")
        self._fn = fn
        self._setup = setup
        self._clock = clock or default_clock
        self.spec = TaskSpec(label, sub_label, description, num_threads, env)

    def run(self, runs: int = BENCH_DEFAULTS.runs, min_seconds: float = BENCH_DEFAULTS.min_seconds,
            warmup: int = BENCH_DEFAULTS.warmup, warmup_seconds: float = BENCH_DEFAULTS.warmup_seconds,
            max_samples: int = MAX_SAMPLES) -> Measurement:
        """Warm up (≥ ``warmup`` calls and ≥ ``warmup_seconds``), then time calls one by one until at least
        ``runs`` calls and at least ``min_seconds`` have passed (stopping early only at ``max_samples``).

        Pseudo-code::

            setup()
            while warm-up calls < warmup or warm-up time < warmup_seconds: fn()
            while samples < runs or loop time < min_seconds:
                t0 = clock(); fn(); t1 = clock(); samples.append(t1 - t0)
        """
        validate_protocol(runs=runs, min_seconds=min_seconds, warmup=warmup, warmup_seconds=warmup_seconds)
        return self._measure(1, runs, min_seconds, warmup, warmup_seconds, max_samples)

    def timeit(self, number: int = 100) -> Measurement:
        """Exactly ``number`` individually timed calls after a single warm-up call."""
        validate_protocol(runs=number)
        return self._measure(1, number, 0.0, 1, 0.0, max(number, MAX_SAMPLES))

    def blocked_autorange(self, min_run_time: float = 0.2) -> Measurement:
        """Time blocks of many calls (for calls too short to time one by one), ≥ ``min_run_time`` seconds.

        The block size grows ×10 until a block takes ≥ ``min_run_time``/1000 and the clock's own cost is
        ≤ 0.01 % of it (this also warms up); samples are then per-call averages of one block each.
        """
        validate_protocol(min_seconds=min_run_time)
        if self._setup is not None:
            self._setup()
        overhead = sorted(self._time_block(0) for _ in range(5))[2]
        number = 1
        while True:
            taken = self._time_block(number)
            if (overhead <= 1e-4 * taken and taken >= min_run_time * 1e9 / 1000) or taken > min_run_time * 1e9:
                break
            number *= 10
        return self._measure(number, 1, min_run_time, 0, 0.0, MAX_SAMPLES, setup=False)

    # -- the one timing loop ------------------------------------------------------------------------
    def _measure(self, number: int, runs: int, min_seconds: float, warmup: int, warmup_seconds: float,
                 max_samples: int, setup: bool = True) -> Measurement:
        if setup and self._setup is not None:
            self._setup()
        clock, call = self._clock, self._fn if number == 1 else _repeated(self._fn, number)
        samples = array("q")
        with _gc_paused():
            warm_start = clock()
            warm_end, warm_calls = warm_start + int(warmup_seconds * 1e9), 0
            now = warm_start
            while warm_calls < warmup or now < warm_end:
                call()
                warm_calls += 1
                now = clock()
            start = t1 = clock()
            end = start + int(min_seconds * 1e9)
            while (len(samples) < runs or t1 < end) and len(samples) < max_samples:
                t0 = clock()
                call()
                t1 = clock()
                samples.append(t1 - t0)
        metadata = {"clock": CLOCK_NAME, "warmup_calls": warm_calls, "warmup_s": (start - warm_start) * 1e-9,
                    "wall_s": (t1 - start) * 1e-9, "capped_at_max_samples": len(samples) >= max_samples > runs,
                    "gc_paused": True}
        return Measurement.from_ns(self.spec, samples, number, metadata)

    def _time_block(self, number: int) -> int:
        clock, fn = self._clock, self._fn
        t0 = clock()
        for _ in range(number):
            fn()
        return clock() - t0


def validate_protocol(*, runs: int = 1, min_seconds: float = 0.0, warmup: int = 0,
                      warmup_seconds: float = 0.0) -> None:
    """:class:`ConfigError` naming the option when a timing option is impossible (or absurd: ``MAX_LOOP_SECONDS``)."""
    integer_in("runs", runs, 1, MAX_SAMPLES)
    number_in("min_seconds", min_seconds, 0.0, MAX_LOOP_SECONDS)  # NaN and inf too: a loop that never ends
    integer_in("warmup", warmup, 0, MAX_SAMPLES)
    number_in("warmup_seconds", warmup_seconds, 0.0, MAX_LOOP_SECONDS)


def check_cpus(cpus: Sequence[int] | None) -> tuple[int, ...]:
    """The CPUs to pin to, each one this process may run on; :class:`ConfigError` naming the first that is not.

    ``None`` or empty: no pinning (``()``).
    """
    if not cpus:
        return ()
    if not hasattr(os, "sched_setaffinity"):
        raise ConfigError("pinning to CPUs (--pin) needs os.sched_setaffinity, which this platform lacks")
    allowed = os.sched_getaffinity(0)
    for cpu in cpus:
        if not isinstance(cpu, int) or cpu not in allowed:
            raise ConfigError(f"--pin: CPU {cpu!r} does not exist or is not available to this process; available: "
                              f"{', '.join(map(str, sorted(allowed)))}")
    return tuple(dict.fromkeys(cpus))


@contextlib.contextmanager
def pinned(cpus: Sequence[int]) -> Iterator[None]:
    """Run the block on ``cpus`` only (none: unchanged), restoring the process's affinity afterwards.

    Runtimes start their thread pools when a model loads, so load inside the block: the pools inherit it.
    """
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _repeated(fn: Callable[[], Any], number: int) -> Callable[[], None]:
    def block() -> None:
        for _ in range(number):
            fn()

    return block


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
