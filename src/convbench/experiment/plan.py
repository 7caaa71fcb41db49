"""The plan of a study: its steps in dependency order, each keyed by a hash of everything it depends on.

train → export → parity → bench for every candidate model (and format, quantisation mode, runtime,
thread count); early-exit train → early-exit eval for an ``[early_exit]`` section. A step's key hashes
its kind, its settings, the keys of the steps it reads, and the library versions, so changing one
setting changes the keys of exactly the steps that depend on it: only those are redone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convbench.env import cpu_model, library_versions
from convbench.experiment.schema import Experiment

STAGES = ("train", "export", "parity", "early_exit_train", "bench", "early_exit_eval")
# Runtime → the model file format it runs.
RUNTIME_FORMAT = {"litert": "tflite", "onnxruntime": "onnx", "keras": "keras"}


@dataclass(frozen=True)
class Step:
    """One unit of cached work.

    Attributes:
        kind: ``train``, ``export``, ``parity``, ``bench``, ``early_exit_train`` or ``early_exit_eval``.
        name: what it is, for people (``mobilenet_v2_0.35_32 tflite int8``).
        key: hex SHA-256 of kind, settings, the keys of ``needs`` and the library versions.
        settings: everything the step's function is called with (JSON values).
        needs: keys of the steps whose outputs it reads.
        model: label of the model it belongs to.
    """

    kind: str
    name: str
    key: str
    settings: dict[str, Any] = field(hash=False)
    needs: tuple[str, ...] = ()
    model: str = ""

    @property
    def folder(self) -> str:
        """Its folder inside the study's output folder (named for people, unique by key)."""
        return f"steps/{self.kind}/{re.sub(r'[^A-Za-z0-9_.+-]+', '-', self.name)}-{self.key[:10]}"

    def describe(self) -> str:
        return f"{self.kind.replace('_', ' ')} {self.name}"


def make_step(kind: str, name: str, settings: dict[str, Any], needs: tuple[Step, ...] = (), model: str = "") -> Step:
    """A step whose key is the hash of its kind, settings, dependencies and library versions."""
    payload = {"kind": kind, "settings": settings, "needs": [s.key for s in needs], "versions": _versions()}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return Step(kind, name, key, settings, tuple(s.key for s in needs), model)


def make_plan(experiment: Experiment) -> list[Step]:
    """Every step of ``experiment`` in an order where each step comes after the steps it needs."""
    steps: list[Step] = []
    data = {"data": experiment.data.main, "data_fingerprint": fingerprint(experiment.data.main)}
    machine = {"cpu": cpu_model(), "cores": os.cpu_count()}  # timings are only valid on the machine that took them
    bench = experiment.bench
    timing = {k: getattr(bench, k) for k in ("runs", "min_seconds", "warmup", "warmup_seconds")}
    for m in experiment.models:
        label = m.label(_default_input_size(m.arch))
        train = make_step("train", label, {"arch": m.arch, "width": m.width, "input_size": m.input_size,
                                           "channels": m.channels, "options": m.options,
                                           **m.train_settings(experiment.train), **data},
                          model=label)
        steps.append(train)
        files = {"keras": train}  # "format mode" → the step that wrote the file
        for fmt, mode in _exports(experiment):
            export = make_step("export", f"{label} {fmt} {mode}", {"to": fmt, "quantize": mode, **data}, (train,),
                               model=label)
            parity = make_step("parity", f"{label} {fmt} {mode}", data, (train, export), model=label)
            steps += [export, parity]
            files[f"{fmt} {mode}"] = export
        for runtime, threads_list in bench.runtimes.items():
            fmt = RUNTIME_FORMAT[runtime]
            for file_name, source in files.items():
                if not file_name.startswith(fmt):
                    continue
                for threads in threads_list:
                    steps.append(make_step("bench", f"{label} {file_name} {runtime} {threads}t",
                                           {"runtime": runtime, "threads": threads, **timing, **data, **machine},
                                           (source,), model=label))
    if experiment.early_exit is not None:
        steps += _early_exit_steps(experiment, data, machine)
    # Stage by stage (all training first, all timing last): failures show early, and timings run back to back.
    return sorted(steps, key=lambda s: STAGES.index(s.kind))


def _exports(experiment: Experiment) -> list[tuple[str, str]]:
    """(format, quantisation mode) of every exported file the runtimes in ``[bench]`` need."""
    runtimes = experiment.bench.runtimes
    exports = [("tflite", mode) for mode in experiment.export.modes()] if "litert" in runtimes else []
    return exports + ([("onnx", "none")] if "onnxruntime" in runtimes else [])


def _early_exit_steps(experiment: Experiment, data: dict[str, Any], machine: dict[str, Any]) -> list[Step]:
    """Train the early-exit model and its baseline once; evaluate them per LiteRT form and thread count."""
    ee = experiment.early_exit
    assert ee is not None
    redundant = {"redundant": experiment.data.redundant,
                 "redundant_fingerprint": fingerprint(experiment.data.redundant)}
    model = {k: getattr(ee, k) for k in ("backbone", "width", "exit_after", "input_size", "channels",
                                         "invert_redundant", "redundancy", "max_train", "dropout")}
    overrides = {k: getattr(ee, k) for k in ("epochs", "batch_size", "patience") if getattr(ee, k) is not None}
    label = ee.label()
    train = make_step("early_exit_train", label, {**model, **experiment.train.model_dump(), **overrides, **data,
                                                  **redundant}, model=label)
    steps = [train]
    for i, (form, threads) in enumerate((f, t) for f in ee.forms for t in ee.threads):
        settings = {"form": form, "threads": threads, "threshold": ee.threshold, "redundancy": ee.redundancy,
                    "repeats": ee.repeats, "limit": ee.limit, "sweep": ee.sweep and i == 0, **machine}
        steps.append(make_step("early_exit_eval", f"{label} {form} {threads}t", settings, (train,), model=label))
    return steps


@functools.cache
def _versions() -> dict[str, str]:  # asked for every step: looking up package metadata takes milliseconds
    return library_versions()


@functools.cache
def _default_input_size(arch: str) -> int:
    from convbench import models

    return models.defaults(arch).input_size


def fingerprint(spec: str | None) -> str | None:
    """A content fingerprint of a data spec's files: a file's SHA-256, a folder's listing (names, sizes, times)."""
    if spec is None:
        return None
    from convbench.data import DataSpec

    path = DataSpec.parse(spec).path
    if path is None:
        return "embedded"
    path = path.resolve()
    stat = path.stat()
    return _fingerprint(str(path), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _fingerprint(path: str, size: int, mtime_ns: int) -> str:  # size and time: a changed file misses the memo
    from convbench.io import sha256_file

    root = Path(path)
    if root.is_file():
        return sha256_file(root)
    digest = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            digest.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()
