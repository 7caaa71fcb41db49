"""``adb[://SERIAL]``: time ``.tflite`` files on an Android phone with LiteRT's official ``benchmark_model``.

A phone has no Python, so the tool that times there is LiteRT's own C++ ``benchmark_model`` for the phone's ABI
(``$CONVBENCH_BENCHMARK_MODEL``, else ``~/.convbench/tools/android_<arch>_benchmark_model`` with ``<arch>`` one of
``aarch64``, ``arm``, ``x86_64``, ``x86``: the names of LiteRT's nightly prebuilt binaries). Our protocol maps onto
its flags: ``runs → --num_runs``, ``min_seconds → --min_secs``, ``warmup → --warmup_runs``,
``warmup_seconds → --warmup_min_secs``, threads → ``--num_threads``, XNNPACK on (as our LiteRT runner), GPU or NNAPI
delegate when asked, ``--enable_op_profiling`` for per-op times, ``--report_peak_memory_footprint`` for memory.

The tool prints **aggregates** of the steady state (count, avg, std, min, max, and in newer builds p5/median/p95),
not the per-call samples. The result says so (``aggregates_only`` in the inference Measurement's metadata), its
inference "samples" are the one reported figure, and statistics that need samples (confidence intervals,
significance tests) are reported as not available rather than computed from it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from convbench.bench.harness import BenchCase
from convbench.bench.measurement import Measurement, TaskSpec
from convbench.bench.result import BenchResult
from convbench.bench.targets.base import Protocol, Target, TargetEnvironment, TargetSpec, register_target
from convbench.bench.targets.staging import base_protocol, check_protocol, make_result, stage
from convbench.errors import ConfigError, TargetError
from convbench.vocabulary import BENCHMARK_MODEL_ENV, BENCHMARK_MODEL_HOME

DEVICE_DIR = "/data/local/tmp/convbench"  # where adb may write and execute on every Android device
ADB_TIMEOUT_S = 60  # any adb call but the benchmark itself
# Android ABI → (the arch in LiteRT's prebuilt binary names, the ELF e_machine a binary for it has)
ABIS = {"arm64-v8a": ("aarch64", 183), "armeabi-v7a": ("arm", 40), "x86_64": ("x86_64", 62), "x86": ("x86", 3)}
ELF_MACHINES = {machine: abi for abi, (_, machine) in ABIS.items()}
DELEGATE_FLAGS = {"gpu": "--use_gpu=true", "nnapi": "--use_nnapi=true"}
NOT_AVAILABLE = ("not available: benchmark_model reports aggregates (avg, std, min, max), not per-call samples, so "
                 "confidence intervals and significance tests cannot be computed")


# -- benchmark_model's output --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStats:
    """One ``count=… first=… curr=… min=… max=… avg=… std=…`` line of ``benchmark_model``, in microseconds."""

    count: int
    first: float
    curr: float
    min: float
    max: float
    avg: float
    std: float
    median: float | None = None  # newer builds add p5, median and p95
    p5: float | None = None
    p95: float | None = None


@dataclass(frozen=True)
class OpTime:
    """One row of the tool's per-op ``Run Order`` table: average milliseconds per run of one node."""

    node: str
    op_type: str
    first_ms: float
    avg_ms: float
    share: float  # of the run's total, 0–1
    times_called: int


@dataclass
class BenchmarkModelReport:
    """What one ``benchmark_model`` run printed (times in microseconds, memory in MB; ``None``: not printed)."""

    init_us: float | None = None
    first_us: float | None = None
    warmup_avg_us: float | None = None
    inference_avg_us: float | None = None
    warmup: RunStats | None = None
    steady: RunStats | None = None
    init_memory_mb: float | None = None
    overall_memory_mb: float | None = None
    peak_memory_mb: float | None = None
    ops: list[OpTime] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_STATS = re.compile(r"count=(?P<count>\d+)(?P<rest>(?:\s+\w+=[-\d.e+]+)+)")
_NUMBER = r"([-\d.e+]+)"


def parse_benchmark_output(text: str) -> BenchmarkModelReport:
    """Parse ``benchmark_model``'s log (``adb shell`` stdout or logcat lines, any prefix before each message).

    Recognised: the summary line (``Inference timings in us: Init: …, First inference: …, Warmup (avg): …,
    Inference (avg): …``, and the older ``Average inference timings in us: Warmup: …, Init: …, Inference: …``),
    the statistics line after each ``Running benchmark for at least …`` (warm-up, then steady state) or the
    profiler's ``Timings (microseconds): count=…``, the memory lines, and the op profile's ``Run Order`` table.
    """
    report = BenchmarkModelReport()
    runs: list[RunStats] = []
    after_running, profiler_steady = False, None
    for line in text.splitlines():
        if "Running benchmark for at least" in line:
            after_running = True
            continue
        if (m := _STATS.search(line)) and "Memory (bytes)" not in line:
            stats = _run_stats(m)
            if after_running:
                runs.append(stats)
                after_running = False
            elif "Timings (microseconds)" in line:
                profiler_steady = stats
            continue
        if "inference timings in us:" in line.lower():  # "Inference timings …", older "Average inference timings …"
            _summary(line, report)
        elif "Memory footprint delta from the start of the tool (MB):" in line:
            report.init_memory_mb = _float(rf"init={_NUMBER}", line)
            report.overall_memory_mb = _float(rf"overall={_NUMBER}", line)
        elif "Overall peak memory footprint (MB) via periodic monitoring:" in line:
            report.peak_memory_mb = _float(rf"monitoring:\s*{_NUMBER}", line)
    if runs:
        report.warmup = runs[0] if len(runs) > 1 else None
        report.steady = runs[-1]
    elif profiler_steady is not None:
        report.steady = profiler_steady
    report.ops = parse_op_profile(text)
    return report


def parse_op_profile(text: str) -> list[OpTime]:
    """The rows of the steady-state ``Run Order`` table (the one after "Regular Benchmark Runs" when the tool also
    profiled initialisation), in run order."""
    lines = text.splitlines()
    regular = next((i for i, line in enumerate(lines) if "Regular Benchmark Runs" in line), 0)
    start = next((i for i in range(regular, len(lines)) if "== Run Order ==" in lines[i]), None)
    if start is None:
        return []
    ops = []
    for line in lines[start + 2:]:  # skip the header row
        cells = line.split()
        if not cells or cells[0].startswith("=") or len(cells) < 9 or not line.rstrip().endswith("]"):
            break
        name = line[line.index("[", line.index(cells[7])) + 1:line.rstrip().rindex("]")]
        ops.append(OpTime(node=name, op_type=cells[0], first_ms=float(cells[2]), avg_ms=float(cells[3]),
                          share=float(cells[4].rstrip("%")) / 100, times_called=int(cells[7])))
    return ops


def _run_stats(m: re.Match[str]) -> RunStats:
    values = dict(pair.split("=") for pair in m.group("rest").split())
    get = {k: float(v) for k, v in values.items()}
    return RunStats(int(m.group("count")), get.get("first", 0.0), get.get("curr", 0.0), get.get("min", 0.0),
                    get.get("max", 0.0), get.get("avg", 0.0), get.get("std", 0.0), get.get("median"), get.get("p5"),
                    get.get("p95"))


def _summary(line: str, report: BenchmarkModelReport) -> None:
    report.init_us = _float(rf"Init:\s*{_NUMBER}", line)
    report.first_us = _float(rf"First inference:\s*{_NUMBER}", line)
    report.warmup_avg_us = _float(rf"Warmup(?: \(avg\))?:\s*{_NUMBER}", line)
    report.inference_avg_us = _float(rf"Inference(?: \(avg\))?:\s*{_NUMBER}", line)


def _float(pattern: str, line: str) -> float | None:
    m = re.search(pattern, line)
    return float(m.group(1)) if m else None


def parse_devices(text: str) -> list[str]:
    """Serials of the devices ``adb devices`` lists as ready (``device``; not ``offline`` or ``unauthorized``)."""
    return [parts[0] for line in text.splitlines()[1:] if len(parts := line.split()) >= 2 and parts[1] == "device"]


def binary_abi(path: str | Path) -> str | None:
    """The Android ABI an ELF binary is built for (from its ``e_machine``), ``None`` when it is not an ELF file."""
    with open(path, "rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    return ELF_MACHINES.get(int.from_bytes(header[18:20], "little" if header[5] == 1 else "big"), "unknown")


# -- the target ----------------------------------------------------------------------------------------------


@register_target
class AdbTarget(Target):
    """An Android device reached with the real ``adb`` client; see the module docstring."""

    kind = "adb"
    runtimes = ("litert",)  # benchmark_model runs .tflite files only

    def __init__(self, spec: TargetSpec) -> None:
        super().__init__(spec)
        self._serial: str | None = spec.serial
        self._abi: str | None = None

    @classmethod
    def parse(cls, text: str, rest: str) -> TargetSpec:
        if rest and not re.fullmatch(r"[\w.:\-]+", rest):
            raise ConfigError(f"target {text!r}: expected adb or adb://SERIAL (a serial from `adb devices`)")
        return TargetSpec("adb", f"adb://{rest}" if rest else "adb", serial=rest or None)

    def prepare(self, runtimes: Sequence[str]) -> TargetEnvironment:
        if set(runtimes) - {"litert"}:
            raise ConfigError(f"target {self.name}: only .tflite files in LiteRT can be timed on Android "
                              f"(benchmark_model); got runtime {sorted(set(runtimes) - {'litert'})[0]!r}")
        devices = parse_devices(self._adb(["devices"], serial=False).stdout)
        if self.spec.serial is None:
            if not devices:
                raise TargetError(f"target {self.name}: no device attached (`adb devices` lists none ready: plug "
                                  "the phone in, enable USB debugging and accept this computer on the phone)")
            if len(devices) > 1:
                raise TargetError(f"target {self.name}: {len(devices)} devices attached ({', '.join(devices)}); "
                                  "name one: adb://SERIAL")
            self._serial = devices[0]
        elif self.spec.serial not in devices:
            raise TargetError(f"target {self.name}: no device {self.spec.serial!r} attached (ready: "
                              f"{', '.join(devices) or 'none'})")
        keys = ("ro.product.manufacturer", "ro.product.model", "ro.product.cpu.abi", "ro.build.version.release",
                "ro.soc.model")
        script = "; ".join([*(f"getprop {k}" for k in keys),
                            "cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo",
                            "nproc 2>/dev/null || echo"])
        lines = [*self._adb(["shell", script]).stdout.splitlines(), *[""] * 7][:7]
        maker, model, self._abi, release, soc, governor, cores = (line.strip() for line in lines)
        return TargetEnvironment(self.name, device=f"{maker} {model}".strip() or None, cpu=soc or None,
                                 cores=int(cores) if cores.isdigit() else None, governor=governor or None,
                                 os=f"Android {release}" if release else "Android", machine=self._abi or None,
                                 runtime="litert", runtime_version="benchmark_model")

    def run(self, configs: Sequence[BenchCase], protocol: Protocol) -> list[BenchResult]:
        configs = list(configs)
        check_protocol(configs, protocol)
        if protocol.delegate not in (None, *DELEGATE_FLAGS):
            raise ConfigError(f"target {self.name}: unknown delegate {protocol.delegate!r}; known: "
                              f"{', '.join(DELEGATE_FLAGS)}")
        with tempfile.TemporaryDirectory(prefix="convbench-adb-") as tmp:
            staged = [stage(c, protocol, Path(tmp) / f"image{i}") for i, c in enumerate(configs)]
            env = self.prepare(sorted({s.runtime for s in staged}))
            binary = self._binary()
            self._adb(["shell", f"mkdir -p {DEVICE_DIR}"])
            self._adb(["push", str(binary), f"{DEVICE_DIR}/benchmark_model"])
            self._adb(["shell", f"chmod 755 {DEVICE_DIR}/benchmark_model"])
            results = []
            for i, s in enumerate(staged):
                remote = f"{DEVICE_DIR}/model{i}.tflite"
                self._adb(["push", str(s.path), remote])
                report = self._benchmark(remote, s.config.threads, protocol)
                results.append(self._result(s, report, protocol, env))
            self._adb(["shell", f"rm -rf {DEVICE_DIR}"], check=False)
        return results

    # -- the steps ----------------------------------------------------------------------------------------------

    def _binary(self) -> Path:
        arch = ABIS.get(self._abi or "", (self._abi, None))[0]
        path = Path(os.environ.get(BENCHMARK_MODEL_ENV) or
                    Path(BENCHMARK_MODEL_HOME).expanduser() / f"android_{arch}_benchmark_model")
        if not path.is_file():
            raise TargetError(f"target {self.name}: no benchmark_model binary at {path}; download LiteRT's "
                              f"android_{arch}_benchmark_model there or set ${BENCHMARK_MODEL_ENV}")
        built_for = binary_abi(path)
        if built_for != self._abi:
            raise TargetError(f"target {self.name}: {path} is built for {built_for or 'no Android ABI (not ELF)'}, "
                              f"but the device's ABI is {self._abi}; use android_{arch}_benchmark_model")
        return path

    def _benchmark(self, remote: str, threads: int, protocol: Protocol) -> BenchmarkModelReport:
        flags = [f"--graph={remote}", f"--num_threads={threads}", f"--num_runs={protocol.runs}",
                 f"--min_secs={protocol.min_seconds}", f"--warmup_runs={protocol.warmup}",
                 f"--warmup_min_secs={protocol.warmup_seconds}", "--use_xnnpack=true",
                 *([DELEGATE_FLAGS[protocol.delegate]] if protocol.delegate else []),
                 *(["--enable_op_profiling=true"] if protocol.profile_ops else []),
                 *(["--report_peak_memory_footprint=true"] if protocol.memory else [])]
        out = self._adb(["shell", " ".join(shlex.quote(a) for a in [f"{DEVICE_DIR}/benchmark_model", *flags])],
                        check=False, timeout=None)
        text = out.stdout + out.stderr
        if "not executable" in text or "Exec format error" in text:
            raise TargetError(f"target {self.name}: the benchmark_model binary is for another ABI than the device's "
                              f"({self._abi})")
        report = parse_benchmark_output(text)
        if out.returncode != 0 or report.steady is None:
            errors = [line.strip() for line in text.splitlines() if "ERROR" in line or "failed" in line.lower()]
            raise TargetError(f"target {self.name}: benchmark_model failed on {remote.rsplit('/', 1)[-1]} "
                              f"({errors[-1] if errors else f'exit {out.returncode}'})")
        return report

    def _result(self, s: Any, report: BenchmarkModelReport, protocol: Protocol,
                env: TargetEnvironment) -> BenchResult:
        steady = report.steady
        assert steady is not None  # _benchmark refuses a run without one
        spec = TaskSpec(s.label, s.sub_label, "", s.config.threads)
        tool = {"tool": "benchmark_model", "clock": "benchmark_model (microseconds)"}

        def single(phase: str, us: float | None) -> Measurement:
            return Measurement(TaskSpec(spec.label, spec.sub_label, phase, spec.num_threads),
                               [(us or 0.0) * 1e-6], metadata={**tool, "runs": 1})

        figure = steady.median if steady.median is not None else steady.avg
        inference = Measurement(
            TaskSpec(spec.label, spec.sub_label, "inference", spec.num_threads), [figure * 1e-6],
            metadata={**tool, "aggregates_only": True, "figure": "median" if steady.median is not None else "avg",
                      "reported_us": asdict(steady), "statistics_needing_samples": NOT_AVAILABLE,
                      **({"op_profile": [asdict(op) for op in report.ops]} if report.ops else {})})
        memory = None
        if report.peak_memory_mb is not None or report.overall_memory_mb is not None:
            peak_mb = report.peak_memory_mb if report.peak_memory_mb is not None else report.overall_memory_mb
            memory = {"peak_bytes": (peak_mb or 0.0) * 2 ** 20,
                      "model_bytes": (report.overall_memory_mb or 0.0) * 2 ** 20, "baseline_bytes": None,
                      "runs": steady.count, "source": "benchmark_model memory footprint (approximate)"}
        record = {**base_protocol(protocol), "load_repeats": 1, "tool": "benchmark_model",
                  "delegate": protocol.delegate or "xnnpack", "input": "random values (benchmark_model's own)",
                  "benchmark_model": report.to_dict() | {"ops": len(report.ops)}}
        return make_result(s, {"load": single("load", report.init_us),
                               "first_inference": single("first_inference", report.first_us),
                               "inference": inference},
                           runtime_version="benchmark_model", delegate=protocol.delegate or "xnnpack",
                           protocol=record, target_env=env, memory=memory)

    def _adb(self, args: list[str], *, serial: bool = True, check: bool = True,
             timeout: float | None = ADB_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        argv = ["adb", *(["-s", self._serial] if serial and self._serial else []), *args]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError:
            raise TargetError(f"target {self.name}: the adb client is not installed here (sudo apt install adb)") \
                from None
        except subprocess.TimeoutExpired:
            raise TargetError(f"target {self.name}: `adb {' '.join(args[:1])}` did not answer within {timeout} s") \
                from None
        if check and out.returncode != 0:
            last = next((line for line in reversed((out.stderr or out.stdout).splitlines()) if line.strip()),
                        f"exit {out.returncode}")
            raise TargetError(f"target {self.name}: adb {args[0]} failed ({last.strip()})")
        return out
