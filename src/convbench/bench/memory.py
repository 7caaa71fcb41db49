"""Peak resident memory of a fresh process that loads one model file and runs it, measured apart from timing.

Why a fresh process: resident memory only grows in a process that has already imported other libraries,
loaded other models and grown its allocator's arenas, so the figure a device cares about (what running this
model costs) is the peak of a process that does nothing else, the way LiteRT's ``benchmark_model`` reports
its memory footprint and ``onnxruntime_perf_test -m`` its peak working set.

Why apart from the timing run: a sampler thread would compete with the timed calls for the cores. The
kernel's own high-water mark needs no sampler: the probe reads it once before the load (the runtime library
and Python alone) and once after ``runs`` inferences (everything), so the model's own cost is the difference.
It is ``VmHWM`` of ``/proc/self/status`` where there is one (Linux): ``ru_maxrss`` would carry over the
parent's peak across ``fork`` and ``exec``, so a probe started from a process that holds TensorFlow would
start at a gigabyte.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convbench.checks import integer_in
from convbench.errors import ConfigError, ModelError
from convbench.runtime import open_runner

PROBE_RUNS = 10  # inferences after the load: allocations made on the first calls (arenas, caches) count
_KIB = 1024


@dataclass(frozen=True)
class MemoryResult:
    """Resident memory of a fresh process that loaded ``model`` in ``runtime`` and ran it ``runs`` times.

    Attributes:
        model: the model file.
        runtime, threads: how it ran.
        runs: inferences after the load.
        baseline_bytes: peak resident memory before the load (Python, numpy, the runtime library).
        peak_bytes: peak resident memory of the whole process.
    """

    model: str
    runtime: str
    threads: int
    runs: int
    baseline_bytes: int
    peak_bytes: int

    @property
    def model_bytes(self) -> int:
        """What loading and running the model added to the process's peak."""
        return self.peak_bytes - self.baseline_bytes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"model_bytes": self.model_bytes}


def peak_memory(model_path: str | os.PathLike[str], *, runtime: str | None = None, threads: int = 1,
                runs: int = PROBE_RUNS) -> MemoryResult:
    """Peak resident memory of a fresh Python process that loads ``model_path`` and runs it ``runs`` times.

    Raises:
        ConfigError: threads or runs below 1, or an unknown runtime (checked here, before the process starts).
        ModelError: a missing file, or a model the runtime cannot load or run (the probe's own one-line error).
    """
    integer_in("runs", runs, 1)
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    runner = open_runner(path, runtime=runtime, threads=threads)  # validates runtime, threads and the card here
    command = [sys.executable, "-m", "convbench.bench.memory", str(path), runner.name, str(threads), str(runs)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ModelError(f"{path}: the memory probe failed in {runner.name}: "
                         f"{lines[-1] if lines else f'exit status {done.returncode}'}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return MemoryResult(str(path), runner.name, threads, runs, figures["baseline_kib"] * _KIB,
                        figures["peak_kib"] * _KIB)


def _probe(path: str, runtime: str, threads: int, runs: int) -> dict[str, int]:
    """In the fresh process: the high-water mark before the load and after ``runs`` inferences, in KiB."""
    runner = open_runner(path, runtime=runtime, threads=threads)
    baseline = _high_water_kib()
    runner.load()
    image = np.zeros(runner.input_shape, np.float32)  # memory does not depend on the pixels
    for _ in range(runs):
        runner.set_input(image)
        runner.invoke()
    runner.get_output()
    return {"baseline_kib": baseline, "peak_kib": _high_water_kib()}


def _high_water_kib() -> int:
    """This process's peak resident memory so far, in KiB (see the module docstring for why VmHWM)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; no /proc elsewhere


if __name__ == "__main__":  # the probe process started by peak_memory()
    model, runtime_name, thread_count, run_count = sys.argv[1:5]
    try:
        print(json.dumps(_probe(model, runtime_name, int(thread_count), int(run_count))))
    except (ConfigError, ModelError) as e:
        print(f"{e}", file=sys.stderr)
        sys.exit(2)
