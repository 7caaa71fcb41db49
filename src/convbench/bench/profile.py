"""Where the time goes inside a model: a per-operator table from the runtime's own profiler.

Why the runtime's own profiler and not timers around Python calls: a model runs as one call, so only the
runtime sees its nodes, and it times them inside its executor (ONNX Runtime's profiling trace, OpenVINO's
performance counters), the way ``onnxruntime_perf_test -p`` and ``benchmark_app -pc`` report them.

Why a separate profiled run: profiling adds work to every node (events, counters), so it never shares a
session with the timing run; the shares it gives are what matters, and their sum is the profiler's own total,
not the timed median. Runtimes whose Python package offers no per-operator profiler say so in one line
(:class:`OpProfileUnavailable`); the reason comes from the runner (``Runner.no_profiler``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convbench.checks import integer_in
from convbench.errors import ConvbenchError
from convbench.io import read_json, write_json
from convbench.runtime import open_runner

PROFILE_RUNS = 50  # profiled calls after one warm-up: enough for stable shares, a second or less for small nets
SCHEMA = "convbench.op_profile/1"


class OpProfileUnavailable(ConvbenchError):
    """The runtime offers no per-operator profiler in Python; the message is the one line shown to the user."""

    def __init__(self, runtime: str, reason: str) -> None:
        super().__init__(f"per-op profile: not available in {runtime} ({reason})")
        self.runtime, self.reason = runtime, reason


@dataclass(frozen=True)
class OpTime:
    """One node's (or one op type's) time over the profiled runs.

    Attributes:
        node: the node's name as the runtime reports it (for an op-type row: the op type again).
        op_type: its operator type in the runtime's vocabulary.
        seconds: total time over the profiled runs.
        calls: how many times it ran.
        share: ``seconds`` over the total of every node: the part of the model's time it takes.
    """

    node: str
    op_type: str
    seconds: float
    calls: int
    share: float


@dataclass(frozen=True)
class OpProfile:
    """A model's per-operator profile in one runtime, nodes slowest first.

    Attributes:
        model: the model file.
        runtime, version, threads: where it ran.
        runs: profiled calls (the warm-up call is not among them).
        nodes: every node that ran, slowest first.
    """

    model: str
    runtime: str
    version: str
    threads: int
    runs: int
    nodes: tuple[OpTime, ...]

    @property
    def total_seconds(self) -> float:
        """The profiler's total over all nodes and runs (the profiled runs' sum, not the timed median)."""
        return sum(n.seconds for n in self.nodes)

    def per_run_ms(self, op: OpTime) -> float:
        """``op``'s time per model run, in ms."""
        return op.seconds / self.runs * 1e3

    def by_op_type(self) -> tuple[OpTime, ...]:
        """The nodes summed per op type, slowest first (``node`` is the op type; ``calls`` counts node calls)."""
        seconds: dict[str, float] = defaultdict(float)
        calls: dict[str, int] = defaultdict(int)
        for n in self.nodes:
            seconds[n.op_type] += n.seconds
            calls[n.op_type] += n.calls
        return _ranked([(op, op, s, calls[op]) for op, s in seconds.items()])

    def top(self, n: int = 10) -> tuple[OpTime, ...]:
        """The ``n`` slowest nodes."""
        return self.nodes[:n]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self), "total_seconds": self.total_seconds,
                "by_op_type": [asdict(op) for op in self.by_op_type()]}

    def save(self, path: str | os.PathLike[str]) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> OpProfile:
        data = read_json(path)
        return cls(data["model"], data["runtime"], data["version"], data["threads"], data["runs"],
                   tuple(OpTime(**n) for n in data["nodes"]))


def profile_ops(model_path: str | os.PathLike[str], *, runtime: str | None = None, threads: int = 1,
                runs: int = PROFILE_RUNS) -> OpProfile:
    """Profile ``model_path`` in ``runtime`` (None: from the suffix) with the runtime's own profiler.

    The input is a fixed pseudo-random image of the model's shape: operator times of these networks do not
    depend on the pixels, and a fixed input makes two profiles of one file comparable.

    Raises:
        ConfigError: runs below 1, threads below 1, or an unknown runtime.
        ModelError: a missing file or one the runtime cannot load.
        OpProfileUnavailable: the runtime has no per-operator profiler in Python (the message says why).
    """
    integer_in("runs", runs, 1)
    runner = open_runner(model_path, runtime=runtime, threads=threads)
    if runner.no_profiler is not None:
        raise OpProfileUnavailable(runner.name, runner.no_profiler)
    image = np.random.default_rng(0).random(runner.input_shape, dtype=np.float32)
    records = runner.profile_nodes(image, runs)
    nodes = _ranked([(r.node, r.op_type, r.seconds, r.calls) for r in records])
    return OpProfile(str(model_path), runner.name, runner.version, runner.threads, runs, nodes)


def _ranked(rows: list[tuple[str, str, float, int]]) -> tuple[OpTime, ...]:
    """OpTimes with their shares of the rows' total, slowest first (ties by name, so the order is stable)."""
    total = sum(seconds for _, _, seconds, _ in rows)
    ranked = sorted(rows, key=lambda r: (-r[2], r[0]))
    return tuple(OpTime(node, op, seconds, calls, seconds / total if total > 0 else 0.0)
                 for node, op, seconds, calls in ranked)
