"""What each kind of step does: a thin call into the area that owns the work (train, export, bench, early exit).

Every executor takes the step and a :class:`StepContext` and returns the step's outputs: file names
relative to the step's folder plus the figures the report needs, all JSON values. The runner writes
them into the step's done-marker. Executors are looked up in :data:`EXECUTORS` at run time (tests
swap in fast fakes there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convbench.data import Dataset, Split
from convbench.experiment.plan import Step

PREDICT_CHUNK = 256  # images per predict call in parity checks (bounds memory at large input sizes)


@dataclass
class DataCache:
    """Datasets loaded once per run (a study trains several models on the same data)."""

    loaded: dict[str, Dataset] = field(default_factory=dict)

    def __call__(self, spec: str) -> Dataset:
        if spec not in self.loaded:
            from convbench.data import load

            self.loaded[spec] = load(spec)
        return self.loaded[spec]


@dataclass
class StepContext:
    """What an executor may use: its folder, the done-records of the steps it needs, the data, progress."""

    root: Path
    dir: Path
    needs: list[dict[str, Any]]
    datasets: DataCache
    progress: bool = True

    def path(self, record: dict[str, Any], output: str = "model") -> Path:
        """The absolute path of ``output`` of a finished step's ``record``."""
        return self.root / record["folder"] / record["outputs"][output]


Executor = Callable[[Step, StepContext], dict[str, Any]]


def run_train(step: Step, ctx: StepContext) -> dict[str, Any]:
    """Train one candidate; also keep the Keras test-set probabilities, the reference for parity steps."""
    from convbench.train import train

    s = step.settings
    dataset = ctx.datasets(s["data"])
    result = train(s["arch"], dataset, out=ctx.dir, width=s["width"], input_size=s["input_size"],
                   channels=s["channels"], epochs=s["epochs"], batch_size=s["batch_size"], patience=s["patience"],
                   seed=s["seed"], augment=s["augment"], val_fraction=s["val_fraction"], resume=True,
                   progress=ctx.progress, **s.get("options", {}))
    test = _splits(dataset, result.model_path)["test"]
    probabilities = _keras_probabilities(result.model, test, result.card.preprocessing)
    np.save(ctx.dir / "test_probabilities.npy", probabilities)
    report = result.report
    return {"model": result.model_path.name, "training": result.report_path.name,
            "test_probabilities": "test_probabilities.npy",
            **{k: report.get(k) for k in ("train_accuracy", "val_accuracy", "test_accuracy", "params", "macs",
                                          "epochs_run", "best_epoch", "stopped_early", "train_seconds")},
            "input_shape": list(result.card.input_shape), "class_names": list(result.card.class_names),
            "test_images": len(test)}


def run_export(step: Step, ctx: StepContext) -> dict[str, Any]:
    """Export the trained model to one format and quantisation mode (int8 calibrates on training images)."""
    from convbench.export import export

    s = step.settings
    (trained,) = ctx.needs
    model_path = ctx.path(trained)
    # The splits training used (already loaded): calibration never sees test images, parity never training ones.
    splits = _splits(ctx.datasets(s["data"]), model_path)
    result = export(model_path, to=s["to"], quantize=s["quantize"], out=ctx.dir / f"model.{s['to']}",
                    calibration=splits["train"] if s["quantize"] == "int8" else None, data=splits["test"],
                    check=True)
    card = result.card
    return {"model": Path(result.path).name, "size_bytes": Path(result.path).stat().st_size, "sha256": card.sha256,
            "format": card.format, "quantize": card.quantize, "card_metrics": card.metrics}


def run_parity(step: Step, ctx: StepContext) -> dict[str, Any]:
    """Accuracy of an exported file on the test split, in its runtime, and its agreement with Keras."""
    from convbench.artifacts import read_card
    from convbench.runtime import open_runner

    trained, exported = ctx.needs
    path = ctx.path(exported)
    card = read_card(path)
    test = _splits(ctx.datasets(step.settings["data"]), ctx.path(trained))["test"]
    reference = np.load(ctx.path(trained, "test_probabilities"))
    runner = open_runner(path)
    runner.load()
    probabilities = np.concatenate([runner.predict(card.preprocessing(test.images[i:i + PREDICT_CHUNK]))
                                    for i in range(0, len(test), PREDICT_CHUNK)])
    predicted = probabilities.argmax(axis=1)
    return {"accuracy": float(np.mean(predicted == test.labels)),
            "agreement": float(np.mean(predicted == reference.argmax(axis=1))),
            "max_abs_diff": float(np.max(np.abs(probabilities - reference))), "test_images": len(test),
            "runtime": runner.name}


def run_bench(step: Step, ctx: StepContext) -> dict[str, Any]:
    """Time one model file in one runtime at one thread count, phase by phase."""
    from convbench.bench import bench

    s = step.settings
    (source,) = ctx.needs
    result = bench(ctx.path(source), runtime=s["runtime"], threads=s["threads"], runs=s["runs"],
                   min_seconds=s["min_seconds"], warmup=s["warmup"], warmup_seconds=s["warmup_seconds"],
                   data=s["data"])
    result.save(ctx.dir / "bench.json")
    inference = result.inference
    return {"result": "bench.json", "median_ms": inference.median * 1e3, "unstable": inference.unstable}


def run_early_exit_train(step: Step, ctx: StepContext) -> dict[str, Any]:
    """Train the early-exit model and its baseline on the main + redundant mix."""
    from convbench.train.early_exit import train_early_exit

    s = step.settings
    options = {k: s[k] for k in ("redundancy", "width", "exit_after", "backbone", "input_size", "channels",
                                 "invert_redundant", "max_train", "dropout", "epochs", "batch_size", "patience", "seed",
                                 "augment", "val_fraction")}
    result = train_early_exit(ctx.datasets(s["data"]), ctx.datasets(s["redundant"]), out=ctx.dir, resume=True,
                              progress=ctx.progress, **options)
    report = result.report
    return {"model": str(result.model_path.relative_to(ctx.dir)),
            "baseline": str(result.baseline_path.relative_to(ctx.dir)),
            "training": str(result.report_path.relative_to(ctx.dir)),
            "test_accuracy": report["early_exit"]["test_accuracy"],
            "baseline_test_accuracy": report["baseline"]["test_accuracy"],
            "exit_accuracy": report["early_exit"]["test_metrics"].get("exit_accuracy"),
            "params": report["early_exit"]["params"], "baseline_params": report["baseline"]["params"],
            "stem_share": report["stem_share"], "exit_share": report["exit_share"],
            **{k: s[k] for k in ("backbone", "width", "exit_after")}}


def run_early_exit_eval(step: Step, ctx: StepContext) -> dict[str, Any]:
    """Time the early-exit model against its baseline in LiteRT, image by image, on the test mix."""
    from convbench.bench.early_exit import RESULT_FILE, evaluate_early_exit

    s = step.settings
    (trained,) = ctx.needs
    result = evaluate_early_exit(ctx.root / trained["folder"], redundancy=s["redundancy"], threshold=s["threshold"],
                                 form=s["form"], sweep=s["sweep"], repeats=s["repeats"], limit=s["limit"],
                                 threads=s["threads"], out=ctx.dir)
    analytic = result["analytic"]
    return {"evaluation": RESULT_FILE, "saving": analytic["saving"], "ideal_saving": analytic["ideal_saving"]}


def _splits(dataset: Dataset, model_path: Path) -> dict[str, Split]:
    """The train/val/test splits a model was trained on, rebuilt from the settings in its card."""
    from convbench.artifacts import read_card
    from convbench.train.splits import training_splits

    settings = read_card(model_path).extra.get("split", {})
    return training_splits(dataset, val_fraction=settings.get("val_fraction", 0.1), seed=settings.get("seed", 0))


def _keras_probabilities(model: Any, split: Split, preprocessing: Any) -> np.ndarray:
    from convbench.train import make_dataset

    images = make_dataset(split, preprocessing, batch_size=PREDICT_CHUNK, shuffle=False).map(lambda x, _: x)
    return np.asarray(model.predict(images, verbose=0), dtype=np.float32)


EXECUTORS: dict[str, Executor] = {"train": run_train, "export": run_export, "parity": run_parity, "bench": run_bench,
                                  "early_exit_train": run_early_exit_train, "early_exit_eval": run_early_exit_eval}
OWN_PROGRESS = {"train", "early_exit_train"}  # kinds that draw their own bars (the runner's display pauses meanwhile)
