"""The environment a result was measured in: machine, OS, Python, library versions, commit."""

from __future__ import annotations

import datetime as _dt
import functools
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

_LIBRARIES = ("convbench", "tensorflow-cpu", "tensorflow", "keras", "ai-edge-litert", "onnxruntime",
              "tf2onnx", "onnx", "numpy")


def cpu_model() -> str:
    """The CPU's marketing name (from /proc/cpuinfo on Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def int8_features() -> str:
    """The x86 instruction sets that decide which int8 kernels a runtime picks (``"avx2; no avx512; no vnni"``):
    with VNNI, int8 dot products accumulate in 32 bits in one instruction; without it, kernels take other paths
    (16-bit intermediate sums can saturate), so two runtimes' int8 outputs can differ on one CPU and agree on
    another. Empty off x86 or without /proc/cpuinfo."""
    try:
        flags = next((set(line.split(":", 1)[1].split()) for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), set())
    except OSError:
        return ""
    if not flags & {"avx2", "sse4_2"}:
        return ""
    vnni = flags & {"avx512_vnni", "avx_vnni"}
    return "; ".join(["avx2" if "avx2" in flags else "no avx2",
                      "avx512" if "avx512f" in flags else "no avx512",
                      ", ".join(sorted(vnni)) if vnni else "no vnni"])


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape a result (absent ones are left out)."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    """The convbench checkout's commit, when running from a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@functools.cache
def _static_environment() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": library_versions(),
        "git_commit": git_commit(),
    }


def environment() -> dict[str, Any]:
    """Everything about this machine and software that a measurement depends on, plus a UTC timestamp."""
    return {**_static_environment(), "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
