"""How busy the machine was while something was timed: the load average, and the CPU other processes took.

A timing is only as good as the machine was quiet. On a 2-core VM another CPU-bound process nearly doubles a
median and, worse, hits the configurations of one run unequally, so a ranking measured beside it can flip when
the machine is idle (two opposite "clearly ahead" verdicts on one commit, issue 29). The load average alone is
a minute-long exponential average of the run queue: it lags, and it counts our own timed thread. What decides
is the CPU time *other* processes used while we timed: the machine's busy time from ``/proc/stat`` minus this
process's own CPU time (``os.times``, every thread of the runtime's pool included), per second of wall time.
That is 0 on an idle machine and about 1 core beside one CPU-bound neighbour, whatever the core count.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Other processes using more than this many cores on average while we timed make the machine busy: an idle VM
# shows 0.00-0.05 (kernel threads, the hypervisor's agent); one CPU-bound neighbour shows about 1.
BUSY_OTHER_CORES = 0.25
BUSY_LOAD_PER_CORE = 1.0  # without /proc/stat: a run queue longer than the cores before or after means busy
MACHINE_KEY = "machine"  # where a protocol and an inference Measurement keep the run's MachineLoad
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user nice system irq softirq steal (idle and iowait are not busy)


@dataclass(frozen=True)
class MachineLoad:
    """What else the machine did while a timing ran.

    Attributes:
        load_average_1min: the 1-minute load average before and after the timing.
        other_cores: cores' worth of CPU that other processes (and the hypervisor's steal) used on average during
            the timing; ``None`` where ``/proc/stat`` does not exist (not Linux).
        seconds: the wall time watched.
        cores: the machine's logical cores.
    """

    load_average_1min: tuple[float, float]
    other_cores: float | None
    seconds: float
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    @property
    def busy(self) -> bool:
        """True when other processes took more than :data:`BUSY_OTHER_CORES` cores on average (or, without
        ``/proc/stat``, the load average exceeded the core count): then no timing of this run decides a verdict."""
        if self.other_cores is not None:
            return self.other_cores > BUSY_OTHER_CORES
        return max(self.load_average_1min) > BUSY_LOAD_PER_CORE * self.cores

    @property
    def description(self) -> str:
        """``"other processes used 0.98 cores on average (load 1.2 → 2.0)"``: the evidence in words."""
        load = f"load average {self.load_average_1min[0]:.2f} → {self.load_average_1min[1]:.2f}"
        if self.other_cores is None:
            return f"{load} on {self.cores} cores"
        return f"other processes used {self.other_cores:.2f} of {self.cores} cores on average ({load})"

    def to_dict(self) -> dict[str, Any]:
        return {"load_average_1min": list(self.load_average_1min), "other_cores": self.other_cores,
                "seconds": self.seconds, "cores": self.cores, "busy": self.busy}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MachineLoad:
        before, after = d["load_average_1min"]
        return cls((float(before), float(after)), None if d.get("other_cores") is None else float(d["other_cores"]),
                   float(d["seconds"]), int(d.get("cores") or 1))


@dataclass
class LoadWatch:
    """Filled in when the ``with watch_machine()`` block ends."""

    load: MachineLoad | None = None


@contextlib.contextmanager
def watch_machine() -> Iterator[LoadWatch]:
    """Watch what else the machine does while the block runs; ``watch.load`` holds it afterwards.

    Example:
        >>> with watch_machine() as watch:
        ...     time_everything()
        >>> watch.load.busy
        False
    """
    watch = LoadWatch()
    load_before, busy_before, own_before, wall_before = os.getloadavg()[0], _busy_seconds(), _own_cpu(), \
        time.monotonic()
    try:
        yield watch
    finally:
        wall = time.monotonic() - wall_before
        busy_after, own_after = _busy_seconds(), _own_cpu()
        other = None
        if busy_before is not None and busy_after is not None and wall > 0:
            # jiffies are coarse (10 ms): a short watch can read slightly negative; clamp at 0
            other = max(0.0, (busy_after - busy_before) - (own_after - own_before)) / wall
        watch.load = MachineLoad((load_before, os.getloadavg()[0]), other, wall)


def _busy_seconds() -> float | None:
    """The machine's busy CPU time so far, in seconds summed over every core (``None`` without /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    return sum(ticks[i] for i in _BUSY_FIELDS if i < len(ticks)) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system
