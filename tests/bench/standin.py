"""Test helpers: a model file with a card, and a stand-in runner (the Runner contract without a real runtime)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench.artifacts import ModelCard, read_card, write_card
from convbench.data import Preprocessing
from convbench.errors import ConfigError, ModelError

FAST = {"runs": 5, "min_seconds": 0.0, "warmup": 1, "warmup_seconds": 0.0, "load_repeats": 2}


class StandInRunner:
    """The Runner contract of ``convbench.runtime`` with numpy standing in for an interpreter."""

    name = "standin"
    version = "0.0"
    delegate = "none"

    def __init__(self, path: Path, runtime: str | None = None, threads: int = 1) -> None:
        if runtime not in (None, "standin"):
            raise ConfigError(f"unknown runtime {runtime!r}; known: standin")
        self.path, self.threads, self.card = Path(path), threads, read_card(path)
        self.calls = {"load": 0, "invoke": 0}

    def load(self) -> None:
        self.calls["load"] += 1
        self._weights = np.frombuffer(self.path.read_bytes(), np.uint8).astype(np.float32)

    def set_input(self, x: np.ndarray) -> None:
        if x.shape != (1, *self.card.input_shape):
            raise ModelError(f"input shape {x.shape} != {(1, *self.card.input_shape)}")
        self._x = x

    def invoke(self) -> None:
        self.calls["invoke"] += 1
        self._out = np.tanh(self._x.sum() + self._weights[:64].sum())

    def get_output(self) -> np.ndarray:
        return np.array([[self._out, 1 - self._out]], np.float32)


def make_model_file(directory: Path, *, size: tuple[int, int] = (8, 8), input_shape=(8, 8, 1)) -> Path:
    path = directory / "tiny.tflite"
    path.write_bytes(np.arange(256, dtype=np.uint8).tobytes())
    write_card(path, ModelCard(arch="tiny", width=1.0, input_shape=input_shape, class_names=("a", "b"),
                               preprocessing=Preprocessing(size, channels=1), params=10, macs=1000, format="tflite",
                               quantize="none", metrics={"test_accuracy": 0.9}))
    return path


def synthetic_result(arch: str, median_s: float, *, seed: int, n: int = 400, spread: float = 0.02,
                     runtime: str = "litert", size_bytes: int = 100_000, accuracy: float | None = 0.9,
                     run: str | None = None, rounds: int = 10, busy: bool = False):
    """A BenchResult with log-normal inference samples around ``median_s`` (no model, no timing).

    With ``run``, the samples come in ``rounds`` interleaved rounds of that run: every result of one run shares
    its rounds' drift (±40 %, seeded by the run's name) as configurations timed side by side do, and carries the
    run's id and machine load (``busy``: one CPU-bound neighbour) for a verdict.
    """
    from convbench.bench import BenchResult, Measurement, TaskSpec
    from convbench.bench.machine_load import MACHINE_KEY, MachineLoad
    from convbench.bench.rounds import INTERLEAVING_KEY

    times = median_s * np.exp(np.random.default_rng(seed).normal(0.0, spread, n))
    phases = {phase: Measurement(TaskSpec(arch, f"{runtime} t1", phase), times if phase == "inference" else [1e-3])
              for phase in ("load", "first_inference", "preprocess", "inference")}
    model = {"path": f"/m/{arch}.tflite", "name": f"{arch}.tflite", "size_bytes": size_bytes, "sha256": "ab" * 32,
             "format": "tflite", "arch": arch, "width": 1.0, "quantize": "none", "params": 1234, "macs": 10**6,
             "accuracy": accuracy, "input_shape": [8, 8, 1], "metrics": {}}
    protocol: dict = {"runs": n, "batch_size": 1}
    if run is not None:
        drift = np.random.default_rng(sum(run.encode())).uniform(0.6, 1.4, rounds)
        per_round = [Measurement(TaskSpec(arch, f"{runtime} t1", "inference"), chunk * factor)
                     for chunk, factor in zip(np.array_split(times, rounds), drift, strict=True)]
        machine = MachineLoad((0.2, 0.3), 0.97 if busy else 0.02, 10.0, 2).to_dict()
        phases["inference"] = Measurement.merge(per_round)[0]
        phases["inference"].metadata.update({INTERLEAVING_KEY: run, MACHINE_KEY: machine})
        protocol |= {"rounds": rounds, MACHINE_KEY: machine}
    return BenchResult(model, {"name": runtime, "version": "1", "threads": 1, "delegate": "xnnpack"},
                       protocol, {"path": "x.png", "source": "test"}, phases, {"cpu": "test"})
