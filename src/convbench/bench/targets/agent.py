"""The agent convbench runs on an SSH host: the measuring protocol of :mod:`convbench.bench.harness`, there.

It is shipped as ONE file, a zipapp (``agent.pyz``, built by :func:`convbench.bench.targets.bundle.build_agent`)
holding this module as ``__main__`` plus convbench's own ``bench/timer.py``, ``bench/measurement.py``,
``bench/stats.py``, ``errors.py`` and ``vocabulary.py`` unchanged: the steady-state loop that runs on the host is
the very code that runs locally (warm-up by count and time, one clock, per-call samples, GC paused), so local
and remote figures can agree. On the host it needs only ``python3``, ``numpy`` and the runtime
(``ai-edge-litert``, or ``tflite-runtime``; ``onnxruntime``); it never imports scipy, TensorFlow or convbench's
other layers.

Commands (each prints one line ``CONVBENCH-AGENT {json}`` on stdout, whatever the runtime logs around it)::

    python3 agent.pyz probe litert onnxruntime   # the host's environment, or what is missing and how to install
    python3 agent.pyz run job.json               # time the job's model files; raw samples of every phase
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any

MARKER = "CONVBENCH-AGENT "  # the line the controller reads; anything else on stdout is runtime chatter
# runtime → (modules to try, in order; the distribution whose version is reported; how to install it)
RUNTIME_MODULES = {
    "litert": ((("ai_edge_litert.interpreter", "ai-edge-litert"), ("tflite_runtime.interpreter", "tflite-runtime")),
               "python3 -m pip install ai-edge-litert"),
    "onnxruntime": ((("onnxruntime", "onnxruntime"),), "python3 -m pip install onnxruntime"),
}


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "probe":
        return _reply(probe(args))
    if command == "run":
        missing = _missing(_job_runtimes(args[0]))
        return _reply(missing if missing else run(json.loads(Path(args[0]).read_text())))
    return _reply({"ok": False, "error": "usage", "message": f"unknown agent command {command!r}"})


# -- the host --------------------------------------------------------------------------------------------------


def probe(runtimes: list[str]) -> dict[str, Any]:
    """The host's environment, or the first missing dependency with the command that installs it."""
    missing = _missing(runtimes)
    if missing:
        return missing
    import numpy

    libraries = {"numpy": numpy.__version__}
    for runtime in runtimes:
        _, distribution = _import_runtime(runtime)
        libraries[distribution] = _version(distribution)
    return {"ok": True, "environment": {
        "device": _device_model(), "cpu": _cpu_name(), "cores": os.cpu_count(), "governor": _governor(),
        "os": platform.platform(), "machine": platform.machine(), "python": platform.python_version(),
        "libraries": libraries}}


def _missing(runtimes: list[str]) -> dict[str, Any] | None:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return {"ok": False, "error": "missing", "missing": "numpy",
                "install": "python3 -m pip install numpy (or: sudo apt install python3-numpy)"}
    for runtime in runtimes:
        if runtime not in RUNTIME_MODULES:
            return {"ok": False, "error": "missing", "missing": f"runtime {runtime!r}",
                    "install": f"convbench's agent runs only {', '.join(RUNTIME_MODULES)} on a remote host"}
        try:
            _import_runtime(runtime)
        except ImportError:
            candidates, install = RUNTIME_MODULES[runtime]
            return {"ok": False, "error": "missing", "missing": candidates[0][1], "install": install}
    return None


def _import_runtime(runtime: str) -> tuple[Any, str]:
    """The runtime's module and the distribution it came from; ImportError when none is installed."""
    candidates, _ = RUNTIME_MODULES[runtime]
    for module, distribution in candidates:
        try:
            return importlib.import_module(module), distribution
        except ImportError:
            continue
    raise ImportError(runtime)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip("\x00\n ") or None
    except OSError:
        return None


def _device_model() -> str:
    """A board's model (device tree), a PC's product name (DMI), else the host name."""
    return (_read("/proc/device-tree/model") or _read("/sys/devices/virtual/dmi/id/product_name")
            or socket.gethostname())


def _cpu_name() -> str:
    info = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in info.splitlines():
            if line.startswith(key) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _governor() -> str | None:
    return _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")


# -- the runtimes (load, set input, invoke: what convbench's runners do, nothing else) ---------------------------


class _LiteRT:
    def __init__(self, path: str, threads: int) -> None:
        module, self.distribution = _import_runtime("litert")
        self.interpreter = module.Interpreter(model_path=path, num_threads=threads)
        self.interpreter.allocate_tensors()
        detail = self.interpreter.get_input_details()[0]
        self.index, self.dtype, self.quantization = detail["index"], detail["dtype"], detail["quantization"]
        self.invoke = self.interpreter.invoke  # bound once: no attribute lookups in the timed call

    def set_input(self, x: Any) -> None:
        self.interpreter.set_tensor(self.index, _quantize(x, self.dtype, self.quantization))


class _OnnxRuntime:
    def __init__(self, path: str, threads: int) -> None:
        import numpy as np

        ort, self.distribution = _import_runtime("onnxruntime")
        options = ort.SessionOptions()  # the options of convbench's own OnnxRunner
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.name = inp.name
        self.dtype = np.dtype({"tensor(int8)": "int8", "tensor(uint8)": "uint8"}.get(inp.type, "float32"))
        self.binding = self.session.io_binding()
        self.binding.bind_output(self.session.get_outputs()[0].name, "cpu")

    def set_input(self, x: Any) -> None:
        import numpy as np

        self.x = np.ascontiguousarray(x, dtype=self.dtype)
        self.binding.bind_cpu_input(self.name, self.x)

    def invoke(self) -> None:
        self.session.run_with_iobinding(self.binding)


RUNNERS = {"litert": _LiteRT, "onnxruntime": _OnnxRuntime}


def _quantize(x: Any, dtype: Any, quantization: tuple[float, int]) -> Any:
    """As :func:`convbench.runtime.litert.quantize` (the agent cannot import the runtime layer)."""
    import numpy as np

    if not np.issubdtype(dtype, np.integer):
        return x.astype(dtype, copy=False)
    scale, zero_point = quantization
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


class ModelLoadError(Exception):
    """A model file the host's runtime cannot open."""


def _open(config: dict[str, Any]) -> Any:
    try:
        return RUNNERS[config["runtime"]](config["model"], int(config["threads"]))
    except Exception as e:  # each runtime has its own exception zoo for a file it cannot read
        first = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise ModelLoadError(f"{config['name']}: {config['runtime']} on this host cannot load it as a model "
                             f"({first.strip()})") from None


# -- the protocol ----------------------------------------------------------------------------------------------


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Cold phases per file (fresh loads, each with a timed first call), then the steady-state loop in ``rounds``
    shuffled rounds: :func:`convbench.bench.rounds.interleave`, the local harness's own loop, shipped with this file."""
    import time

    import numpy as np

    from convbench.bench.measurement import Measurement, TaskSpec
    from convbench.bench.rounds import interleave
    from convbench.bench.timer import CLOCK_NAME, Timer, default_clock

    protocol, rounds, repeats = job["protocol"], int(job["rounds"]), int(job["load_repeats"])
    begun = time.perf_counter()
    prepared = []
    try:
        for config in job["configs"]:
            x = np.load(config["input"])
            spec = TaskSpec(config["label"], config["sub_label"], "", int(config["threads"]))
            load_ns, first_ns, runner = [], [], None
            for _ in range(repeats):
                runner = None  # the previous one is released: one model in memory at a time
                t0 = default_clock()
                runner = _open(config)
                t1 = default_clock()
                runner.set_input(x)
                t2 = default_clock()
                runner.invoke()
                t3 = default_clock()
                load_ns.append(t1 - t0)
                first_ns.append(t3 - t2)
            cold = {"clock": CLOCK_NAME, "fresh_runners": repeats}
            phases = {phase: Measurement.from_ns(TaskSpec(spec.label, spec.sub_label, phase, spec.num_threads),
                                                 samples, metadata=cold)
                      for phase, samples in (("load", load_ns), ("first_inference", first_ns))}
            prepared.append((config, runner, x, phases))
    except ModelLoadError as e:
        return {"ok": False, "error": "model", "message": str(e)}

    def time_one(i: int, round_protocol: dict[str, Any]) -> Measurement:
        config, runner, x, _ = prepared[i]
        return Timer(runner.invoke, setup=lambda: runner.set_input(x), label=config["label"],
                     sub_label=config["sub_label"], description="inference",
                     num_threads=int(config["threads"])).run(**round_protocol)

    run = interleave(len(prepared), time_one, protocol, rounds=rounds, seed=int(job["seed"]))
    return {"ok": True, "round_orders": run.orders, "run_id": run.run_id, "machine": run.machine.to_dict(),
            "measuring_s": time.perf_counter() - begun,
            "results": [{"phases": {name: _raw(m) for name, m in phases.items()},
                         "inference": [_raw(m) for m in timed], "distribution": runner.distribution,
                         "version": _version(runner.distribution)}
                        for (_, runner, _, phases), timed in zip(prepared, run.timed, strict=True)]}


def _raw(m: Any) -> dict[str, Any]:
    """A Measurement's raw record (the controller recomputes the statistics: the host needs no scipy)."""
    from dataclasses import asdict

    return {"spec": asdict(m.spec), "unit": "s", "times_s": list(m.times_s), "number_per_run": m.number_per_run,
            "metadata": m.metadata}


def _job_runtimes(path: str) -> list[str]:
    return sorted({c["runtime"] for c in json.loads(Path(path).read_text())["configs"]})


def _reply(answer: dict[str, Any]) -> int:
    sys.stdout.write("\n" + MARKER + json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0 if answer.get("ok") else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
