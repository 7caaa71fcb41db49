"""Fast stand-ins for a study's steps, and a small experiment file (shared by the study tests).

The stand-ins write files shaped like the real steps' outputs (a bench.json that is a real BenchResult), so
the runner, the cache, the results collection and the report run for real; only training, conversion and
timing are faked. They count their calls per kind, which is what the caching tests check.
"""

from __future__ import annotations

import collections
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convbench.bench import BenchResult, Measurement, TaskSpec
from convbench.experiment import list_kinds, step_kind
from convbench.io import write_json

# Small, two-model study on the embedded digits (what the stand-ins and the real reduced run both use).
SMALL_TOML = """
name = "small"
description = "two tiny models"

[data]
main = "digits"

[train]
epochs = 2
patience = 1

[[models]]
arch = "mobilenet_v2"
width = 0.35
input_size = 32

[[models]]
arch = "alexnet_separable"
width = 0.25
input_size = 32

[export]
quantize = ["none", "int8"]

[bench]
runtimes = { litert = [1], onnxruntime = [1] }
runs = 5
min_seconds = 0.0
warmup = 1
warmup_seconds = 0.0

[report]
accuracy_floor = 0.5
"""

EARLY_EXIT_TOML = """
name = "ee"

[data]
main = "digits"
redundant = "digits"

[train]
epochs = 2

[early_exit]
width = 0.25
redundancy = 0.57
forms = ["single", "chained"]
sweep = true
"""


class FakeSteps:
    """Fast stand-ins for the step executors; ``calls[kind]`` lists the step names each kind ran."""

    def __init__(self) -> None:
        self.calls: dict[str, list[str]] = collections.defaultdict(list)
        self.fail: dict[str, Exception] = {}  # step name → the exception its executor raises

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeSteps:
        for kind in list_kinds():
            fake = getattr(self, kind)
            outputs = step_kind(kind).Outputs
            monkeypatch.setattr(step_kind(kind), "run", lambda step, ctx, fake=fake, outputs=outputs:
                                outputs.model_validate(fake(step, ctx)))
        return self

    def _enter(self, step: Any) -> None:
        self.calls[step.kind].append(step.name)
        if step.name in self.fail:
            raise self.fail[step.name]

    def train(self, step: Any, ctx: Any) -> dict[str, Any]:
        self._enter(step)
        (ctx.dir / "model.keras").write_bytes(b"keras " + step.key.encode())
        s = step.settings
        params = int(10_000 * s.width)
        return {"model": "model.keras", "train_accuracy": 0.99, "val_accuracy": 0.95,
                "test_accuracy": 0.9 + s.width / 10, "params": params, "macs": params * 50,
                "epochs_run": s.epochs, "best_epoch": s.epochs,
                "train_seconds": 1.0, "input_shape": [32, 32, 1], "test_images": 360}

    def export(self, step: Any, ctx: Any) -> dict[str, Any]:
        self._enter(step)
        s = step.settings
        path = ctx.dir / f"model.{s.to}"
        path.write_bytes(f"{s.to} {s.quantize} {ctx.needs[0].step.key}".encode() * 100)
        return {"model": path.name, "size_bytes": path.stat().st_size, "sha256": _sha(path)}

    def parity(self, step: Any, ctx: Any) -> dict[str, Any]:
        self._enter(step)
        runtime = step.settings.runtime or ("onnxruntime" if " onnx " in step.name else "litert")
        accuracy = 0.91 if runtime == "openvino" else 0.93 if "int8" in step.name else 0.95
        return {"accuracy": accuracy, "agreement": 0.99, "max_abs_diff": 1e-6, "test_images": 360,
                "runtime": runtime}

    def bench(self, step: Any, ctx: Any) -> dict[str, Any]:
        """Every configuration of the step, as one interleaved run with 10 rounds would leave them."""
        from convbench.bench.machine_load import MACHINE_KEY, MachineLoad
        from convbench.bench.rounds import INTERLEAVING_KEY

        self._enter(step)
        s = step.settings
        machine = MachineLoad((0.1, 0.1), 0.01, 1.0, 2).to_dict()
        files, medians = [], []
        for i, config in enumerate(s.configs):
            source = ctx.needs[config.source]
            path = source.path(source.outputs.model)
            name = f"{source.step.name} {config.runtime}"
            rng = np.random.default_rng([len(name), i])
            base = 1e-3 * (1 + len(name) % 7) / config.threads
            phases = {name: Measurement(TaskSpec(source.step.model, config.runtime, name, config.threads),
                                        base * scale * (1 + 0.02 * rng.random(20)))
                      for name, scale in (("load", 5.0), ("first_inference", 2.0), ("preprocess", 0.1))}
            rounds = [Measurement(TaskSpec(source.step.model, config.runtime, "inference", config.threads),
                                  base * (1 + 0.02 * rng.random(20))) for _ in range(10)]
            phases["inference"] = Measurement.merge(rounds)[0]
            phases["inference"].metadata.update({INTERLEAVING_KEY: step.key, MACHINE_KEY: machine})
            result = BenchResult(
                model={"path": str(path), "name": path.name, "size_bytes": path.stat().st_size, "sha256": _sha(path),
                       "format": path.suffix[1:], "arch": source.step.model, "quantize": "none", "macs": 1000},
                runtime={"name": config.runtime, "version": "0", "threads": config.threads, "delegate": None},
                protocol={"runs": s.runs, "rounds": s.rounds, MACHINE_KEY: machine}, image={}, phases=phases,
                environment={"cpu": "fake cpu", "cores": 2, "timestamp": "2025-01-01T00:00:00+00:00"})
            files.append(result.save(ctx.dir / f"bench-{i}.json").name)
            medians.append(result.inference.median * 1e3)
        return {"results": files, "median_ms": medians, "busy": False}

    def memory(self, step: Any, ctx: Any) -> dict[str, Any]:
        self._enter(step)
        return {"baseline_bytes": 40_000_000, "peak_bytes": 40_000_000 + 1000 * len(step.name)}

    def op_profile(self, step: Any, ctx: Any) -> dict[str, Any]:
        """LiteRT has no profiler (as the real one); the others write a real OpProfile and its node data."""
        from convbench.bench.profile import OpProfile, OpTime
        from convbench.report.op_profile import write_model_explorer

        self._enter(step)
        s = step.settings
        if s.runtime == "litert":
            return {"unavailable": "no per-op profiler in Python"}
        times = (("conv1", "Conv", 0.6), ("conv2", "Conv", 0.3), ("pool1", "MaxPool", 0.1))
        profile = OpProfile(str(ctx.needs[0].path(ctx.needs[0].outputs.model)), s.runtime, "0", s.threads, s.runs,
                            tuple(OpTime(node, op, share * 1e-3 * s.runs, s.runs, share) for node, op, share in times))
        profile.save(ctx.dir / "op_profile.json")
        write_model_explorer(profile, ctx.dir / "op_profile.model_explorer.json")
        return {"profile": "op_profile.json", "node_data": "op_profile.model_explorer.json"}

    def early_exit_train(self, step: Any, ctx: Any) -> dict[str, Any]:
        self._enter(step)
        s = step.settings
        return {"model": "early_exit/model.keras", "baseline": "baseline/model.keras", "training": "training.json",
                "test_accuracy": 0.994, "baseline_test_accuracy": 0.993, "exit_accuracy": 0.997, "threshold": 0.5,
                "params": 5000, "baseline_params": 4000, "stem_share": 0.06, "exit_share": 0.02,
                "backbone": s.backbone, "width": s.width, "exit_after": s.exit_after}

    def early_exit_export(self, step: Any, ctx: Any) -> dict[str, Any]:
        self._enter(step)
        files = {form: f"early_exit_{form}.tflite" for form in step.settings.forms}
        for name in [*files.values(), "baseline.tflite"]:
            (ctx.dir / name).write_bytes(name.encode())
        return {"forms": files, "baseline": "baseline.tflite"}

    def early_exit_eval(self, step: Any, ctx: Any) -> dict[str, Any]:
        """An ``eval.json`` shaped as the real step writes it (``Evaluation.to_dict`` with ``by_source``)."""
        self._enter(step)
        s = step.settings
        r = s.redundancy or 0.5
        threshold = 0.5 if s.threshold is None else s.threshold
        rows = [{"model": name, "redundancy": r, "images": 100, "loss": 0.05, **losses, "accuracy": acc,
                 "exit_accuracy": 0.997, "exit_precision": 0.99, "exit_recall": 0.99, "exit_share": r,
                 "total_s": total, "time_ms_per_image": 10 * total} for name, acc, total, losses in
                (("baseline", 0.993, 0.4, {}), ("early exit", 0.994, 0.22, {"l1": 0.03, "l2": 0.02}))]
        rejection = {"images": 100, "redundant_images": 57, "exit_accuracy": 0.997, "exit_precision": 0.99,
                     "exit_recall": 0.99, "false_exit_rate": 0.01, "auroc": 0.999, "fpr_at_95_tpr": 0.005}
        evaluation = {"form": s.form, "threshold": threshold, "threads": s.threads,
                      "runtime": "litert 2.3.0 (XNNPACK)", "repeats": s.repeats,
                      "mix": {"main": "digits", "redundant": "digits", "redundancy": r, "invert_redundant": False,
                              "size": [32, 32], "channels": 1, "max_train": None, "seed": 0},
                      "rows": rows,
                      "timing": {"images": 100, "exit_path_images": 57, "full_path_images": 43, "total_s": 0.22,
                                 "baseline_total_s": 0.4, "time_ms_per_image": 2.2, "baseline_time_ms_per_image": 4.0,
                                 "saving": 0.45, "exit_path_ms": 0.3, "full_path_ms": 4.1},
                      "paths": {k: {"median_ms": v, "iqr_ms": 0.01, "n": 100, "unstable": False}
                                for k, v in (("exit_path", 0.3), ("full_path", 4.1), ("baseline", 4.0))},
                      "analytic": {"stem_share": 0.06, "exit_share": 0.02, "ideal_saving": 0.5, "saving": 0.45,
                                   "saving_vs_ideal": 0.9, "saving_from_paths": 0.44},
                      "rejection": rejection,
                      "by_source": [{"source": "digits", "redundancy": r, "threshold": threshold, "accuracy": 0.994,
                                     **rejection, "saving": 0.45, "ideal_saving": 0.5}],
                      "environment": {"cpu": "fake cpu", "cores": 2}}
        write_json(ctx.dir / "eval.json", evaluation)
        return {"evaluation": "eval.json", "saving": 0.45, "ideal_saving": 0.5}

    def early_exit_sweep(self, step: Any, ctx: Any) -> dict[str, Any]:
        self._enter(step)
        by_redundancy = []
        for x in range(10):
            r, ms = x / 10, 4 - 2 * x / 10
            by_redundancy.append({"redundancy": r, "images": 100, "exit_path_images": x * 10,
                                  "full_path_images": 100 - x * 10, "total_s": ms / 10, "baseline_total_s": 0.4,
                                  "time_ms_per_image": ms, "baseline_time_ms_per_image": 4.0, "saving": 1 - ms / 4,
                                  "exit_path_ms": 0.3 if x else None, "full_path_ms": 4.1,
                                  "ideal_saving": 0.9 * r - 0.02})
        sweep = {"by_redundancy": by_redundancy,
                 "by_threshold": [{"threshold": t, "accuracy": 0.99, "exit_accuracy": 0.99, "exit_precision": 0.98,
                                   "exit_recall": 0.97, "exit_share": 1 - t} for t in (0.1, 0.5, 0.9)]}
        write_json(ctx.dir / "sweep.json", sweep)
        return {"sweep": "sweep.json", "redundancies": 10, "thresholds": 3}

    def search(self, step: Any, ctx: Any) -> dict[str, Any]:
        """The fake studies hold no ``[search]``; a real search is tested end to end in ``tests/search``."""
        raise AssertionError(f"FakeSteps has no stand-in for a search step ({step.name}); see tests/search")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                     "0000000d49444154789c63f8ffff3f0005fe02fea7d6a4a50000000049454e44ae426082")  # a valid 1x1 PNG


def blank_png(*args: Any, **kwargs: Any) -> Path:
    """Stands in for a plot function: writes a 1x1 PNG at the first Path argument."""
    path = Path(next(a for a in args if isinstance(a, Path)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_PNG)
    return path

