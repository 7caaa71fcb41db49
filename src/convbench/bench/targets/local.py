"""``local``: this machine, timed in process by :func:`convbench.bench.bench_interleaved` (the default target)."""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Sequence
from pathlib import Path

from convbench.bench.harness import BenchCase, bench_interleaved
from convbench.bench.result import BenchResult
from convbench.bench.targets.base import Protocol, Target, TargetEnvironment, TargetSpec, register_target
from convbench.env import cpu_model
from convbench.errors import ConfigError
from convbench.vocabulary import DEFAULT_TARGET


@register_target
class LocalTarget(Target):
    """This machine: the harness itself, with the machine's model and CPU governor recorded as well."""

    kind = DEFAULT_TARGET

    @classmethod
    def parse(cls, text: str, rest: str) -> TargetSpec:
        if rest:
            raise ConfigError(f"target {text!r}: 'local' takes nothing after it")
        return TargetSpec(cls.kind, cls.kind)

    def prepare(self, runtimes: Sequence[str]) -> TargetEnvironment:
        return TargetEnvironment(self.name, device=_read("/proc/device-tree/model")
                                 or _read("/sys/devices/virtual/dmi/id/product_name") or socket.gethostname(),
                                 cpu=cpu_model(), cores=os.cpu_count(),
                                 governor=_read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
                                 os=platform.platform(), machine=platform.machine(),
                                 python=platform.python_version())

    def run(self, configs: Sequence[BenchCase], protocol: Protocol) -> list[BenchResult]:
        if protocol.profile_ops or protocol.delegate:
            raise ConfigError("target local: per-op profiles come from `convbench bench --profile-ops`, and "
                              "delegates only from an adb target")
        results = bench_interleaved(list(configs), rounds=protocol.rounds, runs=protocol.runs,
                                    min_seconds=protocol.min_seconds, warmup=protocol.warmup,
                                    warmup_seconds=protocol.warmup_seconds, image=protocol.image, data=protocol.data,
                                    load_repeats=protocol.load_repeats, memory=protocol.memory, pin=protocol.pin,
                                    seed=protocol.seed)
        env = self.prepare([])
        for result in results:  # the harness's environment, plus what only a target records
            result.environment = {**result.environment, "target": self.name, "device": env.device,
                                  "governor": env.governor, "runtime": result.runtime["name"],
                                  "runtime_version": result.runtime.get("version")}
        return results


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip("\x00\n ") or None
    except OSError:
        return None
