"""A study's results, gathered from its finished steps into one JSON-ready dict (``results.json``).

``models``: one row per trained candidate (parameters, MACs, accuracies, training time).
``latency``: one row per model file × runtime × thread count (every phase's median, the inference
CI and percentiles, size, SHA-256, accuracy of that very file, its environment).
``early_exit``: the early-exit evaluation, when the study has one.
``rows``: the flat rows of results.csv and of the history (latency and early-exit rows).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convbench.env import environment
from convbench.experiment.cache import StudyFolder
from convbench.experiment.plan import Step
from convbench.experiment.schema import Experiment
from convbench.io import read_json

SCHEMA = "convbench.study_results/1"
PHASE_COLUMNS = {"load": "load_ms", "first_inference": "first_inference_ms", "preprocess": "preprocess_ms"}


def collect(experiment: Experiment, plan: list[Step], folder: StudyFolder, study: Any, *, command: str,
            started: str) -> dict[str, Any]:
    """Everything the report shows, from the done-records and output files of ``plan``'s finished steps."""
    from convbench.data import DataSpec
    from convbench.report.study import recommend

    records = {s.key: rec for s in plan if (rec := folder.done(s)) is not None}
    dataset = DataSpec.parse(experiment.data.main).name
    models = {s.key: _model_row(s, records[s.key], dataset, folder.root) for s in plan
              if s.kind == "train" and s.key in records}
    exports = {s.key: s for s in plan if s.kind == "export"}
    parity = {s.needs[1]: records[s.key]["outputs"] for s in plan if s.kind == "parity" and s.key in records}
    train_of = {s.key: s.needs[0] for s in exports.values()}
    latency = []
    for s in plan:
        if s.kind != "bench" or s.key not in records:
            continue
        source = s.needs[0]
        model = models[train_of.get(source, source)]
        export = exports.get(source)
        latency.append(_latency_row(records[s.key], folder.root, model, export, parity.get(source)))
    early_exit = [_early_exit(s, records[s.key], records[s.needs[0]], folder.root) for s in plan
                  if s.kind == "early_exit_eval" and s.key in records]
    early_exit_rows = [_early_exit_row(ee, row, dataset) for ee in early_exit for row in ee["rows"]]
    errors = [{"step": s.describe(), "error": study.failed.get(s.key) or study.skipped.get(s.key)} for s in plan
              if s.key in study.failed or s.key in study.skipped]
    return {
        "schema": SCHEMA,
        "study": {"name": experiment.name, "description": experiment.description, "command": command,
                  "out": str(folder.root), "started": started, "wall_seconds": round(study.wall_seconds, 1),
                  "steps": {"total": len(plan), "cached": len(study.cached), "ran": len(study.ran),
                            "failed": len(study.failed), "skipped": len(study.skipped)},
                  "experiment": experiment.model_dump(mode="json")},
        "environment": environment(),
        "models": list(models.values()),
        "latency": latency,
        "early_exit": early_exit,
        "recommendation": recommend(latency, experiment.report.model_dump()),
        "rows": latency + early_exit_rows,
        "errors": errors,
    }


def _model_row(step: Step, record: dict[str, Any], dataset: str, root: Path) -> dict[str, Any]:
    out, s = record["outputs"], step.settings
    shape = out.get("input_shape") or [s["input_size"], s["input_size"], s["channels"]]
    return {"model": step.model, "arch": s["arch"], "width": s["width"], "input_size": shape[0], "channels": shape[2],
            "dataset": dataset, **{k: out.get(k) for k in ("params", "macs", "train_accuracy", "val_accuracy",
                                                            "test_accuracy", "epochs_run", "best_epoch",
                                                            "train_seconds", "test_images")},
            "epochs": s["epochs"], "file": str(Path(record["folder"]) / out["model"])}


def _latency_row(record: dict[str, Any], root: Path, model: dict[str, Any], export: Step | None,
                 parity: dict[str, Any] | None) -> dict[str, Any]:
    from convbench.bench import BenchResult

    bench_file = Path(record["folder"]) / record["outputs"]["result"]
    result = BenchResult.load(root / bench_file)
    inference = result.inference
    ms = 1e3
    fmt, quantize = (export.settings["to"], export.settings["quantize"]) if export else ("keras", "none")
    accuracy = parity["accuracy"] if parity else (model["test_accuracy"] if export is None else None)
    return {
        "kind": "latency", "model": model["model"], "arch": model["arch"], "width": model["width"],
        "input_size": model["input_size"], "dataset": model["dataset"], "format": fmt, "quantize": quantize,
        "runtime": result.runtime["name"], "runtime_version": result.runtime.get("version"),
        "threads": result.runtime["threads"], "delegate": result.runtime.get("delegate"),
        "params": model["params"], "macs": model["macs"], "size_bytes": result.model["size_bytes"],
        "sha256": result.model["sha256"], "accuracy": accuracy, "keras_accuracy": model["test_accuracy"],
        "agreement": parity["agreement"] if parity else (1.0 if export is None else None),
        "max_abs_diff": parity["max_abs_diff"] if parity else (0.0 if export is None else None),
        "median_ms": inference.median * ms, "ci95_low_ms": inference.ci95.low * ms,
        "ci95_high_ms": inference.ci95.high * ms, "p90_ms": inference.p90 * ms, "p99_ms": inference.p99 * ms,
        "iqr_ms": inference.iqr * ms, "n": inference.n, "unstable": inference.unstable,
        **{column: result.phases[phase].median * ms for phase, column in PHASE_COLUMNS.items()},
        "attained_gflops": result.attained_gflops, "file": _relative(result.model["path"], root),
        "bench_file": str(bench_file),
        "environment": result.environment,
    }


def _relative(path: str, root: Path) -> str:
    """``path`` relative to the study folder when inside it (results stay valid when the folder moves)."""
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return path


def _early_exit(step: Step, record: dict[str, Any], trained: dict[str, Any], root: Path) -> dict[str, Any]:
    """One early-exit evaluation (its ``eval.json``) with the training figures of both models."""
    from convbench.report.early_exit_section import early_exit_summary

    evaluation = read_json(root / record["folder"] / record["outputs"]["evaluation"])
    evaluation = {k: v for k, v in evaluation.items() if k != "directory"}
    ee = {"model": step.model, "training": trained["outputs"], **evaluation}
    return ee | {"summary": early_exit_summary(ee)}


def _early_exit_row(ee: dict[str, Any], row: dict[str, Any], dataset: str) -> dict[str, Any]:
    """A results.csv / history row: one model (baseline or early exit) of one evaluation."""
    mix = ee.get("mix", {})
    is_exit = row["model"] != "baseline"
    return {"kind": "early_exit", "model": ee["model"], "variant": row["model"], "arch": ee["training"]["backbone"],
            "width": ee["training"]["width"], "dataset": dataset,
            "format": "tflite", "quantize": "none", "runtime": "litert", "threads": ee["threads"],
            "form": ee["form"], "threshold": ee["threshold"], "invert_redundant": mix.get("invert_redundant"),
            **{k: row.get(k) for k in ("redundancy", "images", "loss", "accuracy", "exit_accuracy", "exit_precision",
                                       "exit_recall", "exit_share", "total_s", "time_ms_per_image")},
            "params": ee["training"]["params" if is_exit else "baseline_params"],
            "saving": ee["analytic"]["saving"] if is_exit else None,
            "ideal_saving": ee["analytic"]["ideal_saving"] if is_exit else None,
            "environment": ee.get("environment")}
