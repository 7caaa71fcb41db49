"""Train the four seed architectures on Fruits-360 apple vs pear, each shrunk until it just beats its reference.

The reference (accuracy, parameters) of each architecture is the figure to beat: every model here must
reach at least that test accuracy (the official ``Test`` split, 2,281 images) with no more parameters.
Each is trained by :func:`convbench.train.train` into ``RUNS/<arch>/`` (git-ignored; the latency
benchmark exports and times these models), and the results go to ``benchmarks/results/train_fruits.json``
(``rows``: one per architecture) and ``train_fruits.md``.

Usage:
    python benchmarks/train_fruits.py                       # all four
    python benchmarks/train_fruits.py --arch mobilenet_v2   # just one (its row replaces the old one)
    python benchmarks/train_fruits.py --fresh               # ignore checkpoints of earlier runs
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from convbench.data import load
from convbench.env import environment
from convbench.io import read_json, write_json, write_text
from convbench.train import train

ROOT = Path(__file__).resolve().parents[1]
DATA = f"fruits360:{ROOT.parent / 'shared' / 'data' / 'fruits-360-apples-pears.zip'}"  # labels=group: apple / pear

# arch -> train() options: width, input size and model options shrunk as far as the reference allows.
CONFIGS: dict[str, dict[str, Any]] = {
    "alexnet": {"width": 0.125, "input_size": 32},
    "alexnet_separable": {"width": 0.25, "input_size": 64, "pooling": "avg"},
    "mobilenet_v1": {"width": 0.25, "input_size": 100},
    "mobilenet_v2": {"width": 0.15, "input_size": 64, "last_channels": 256, "augment": True},
}
COMMON = {"epochs": 20, "patience": 5, "batch_size": 32, "seed": 0}  # shared by every architecture unless overridden

# arch -> (test accuracy, parameters) to beat.
REFERENCE = {
    "alexnet": (0.971, 952_835),
    "alexnet_separable": (0.998, 866_750),
    "mobilenet_v1": (0.992, 801_795),
    "mobilenet_v2": (0.998, 98_379),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", choices=list(CONFIGS), default=list(CONFIGS),
                        help="architectures to train (default: all four)")
    parser.add_argument("--data", default=DATA, help=f"data spec (default: {DATA})")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "fruits",
                        help="where the trained models go, one folder per arch (default: runs/fruits)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                        help="where train_fruits.json/.md go (default: benchmarks/results)")
    parser.add_argument("--fresh", action="store_true", help="start over instead of resuming from checkpoints")
    args = parser.parse_args()

    load_average = os.getloadavg()[0]
    started = time.perf_counter()
    dataset = load(args.data)
    load_seconds = time.perf_counter() - started
    print(f"loaded {args.data}: {len(dataset.train)} training, {len(dataset.test)} test images "
          f"({load_seconds:.1f} s)", flush=True)

    json_path = args.results / "train_fruits.json"
    rows = {row["arch"]: row for row in read_json(json_path)["rows"]} if json_path.exists() else {}
    for arch in args.arch:
        options = {**COMMON, **CONFIGS[arch]}
        print(f"\n== {arch} {options}", flush=True)
        result = train(arch, dataset, out=args.runs / arch, resume=not args.fresh, **options)
        rows[arch] = _row(arch, options, result.report, result.model_path, len(dataset.test))
        print(f"{arch}: test accuracy {rows[arch]['test_accuracy']:.4f} ({rows[arch]['test_errors']} errors), "
              f"{rows[arch]['params']:,} params, target met: {rows[arch]['meets_target']}", flush=True)
        _write(args.results, [rows[a] for a in CONFIGS if a in rows], args.data, load_average)


def _row(arch: str, options: dict[str, Any], report: dict[str, Any], model_path: Path,
         test_count: int) -> dict[str, Any]:
    reference_accuracy, reference_params = REFERENCE[arch]
    return {
        "arch": arch, "config": options, "params": report["params"], "macs": report["macs"],
        "test_accuracy": report["test_accuracy"], "test_errors": round((1 - report["test_accuracy"]) * test_count),
        "test_count": test_count, "val_accuracy": report["val_accuracy"], "train_accuracy": report["train_accuracy"],
        "epochs": report["epochs_run"], "best_epoch": report["best_epoch"], "train_seconds": report["train_seconds"],
        "reference_accuracy": reference_accuracy, "reference_params": reference_params,
        "meets_target": report["test_accuracy"] >= reference_accuracy and report["params"] <= reference_params,
        "model": os.path.relpath(model_path, ROOT), "timestamp": report["environment"]["timestamp"],
    }


def _write(results: Path, rows: list[dict[str, Any]], data: str, load_average: float) -> None:
    env = environment()
    write_json(results / "train_fruits.json", {
        "benchmark": "train_fruits", "data": data, "common_config": COMMON, "configs": CONFIGS,
        "reference": {arch: {"test_accuracy": acc, "params": params} for arch, (acc, params) in REFERENCE.items()},
        "rows": rows, "load_average_at_start": load_average, "environment": env})
    lines = [
        "# Training on Fruits-360 apple vs pear",
        "",
        f"Data: `{data}` (official Test split as test set: {rows[0]['test_count']:,} images). Each architecture "
        "is shrunk (width α, input size, options) until it just beats its reference accuracy with no more "
        "parameters. Seed 0; Adam 1e-3; early stopping on validation accuracy (10 % of Training, stratified).",
        "",
        "| architecture | config | params (reference) | MACs | test accuracy (reference) | errors | epochs (best) "
        "| training time | target met |",
        "|---|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for row in rows:
        config = ", ".join(f"{k}={v}" for k, v in row["config"].items() if k not in COMMON or v != COMMON[k])
        lines.append(
            f"| {row['arch']} | {config} | {row['params']:,} ({row['reference_params']:,}) | {row['macs']:,} "
            f"| {row['test_accuracy']:.2%} ({row['reference_accuracy']:.1%}) | {row['test_errors']} "
            f"| {row['epochs']} ({row['best_epoch']}) | {row['train_seconds']:.0f} s "
            f"| {'yes' if row['meets_target'] else '**no**'} |")
    lines += [
        "",
        f"Machine: {env['cpu']}, {env['cores']} cores, {env['os']}; Python {env['python']}, "
        f"TensorFlow {env['libraries'].get('tensorflow-cpu', env['libraries'].get('tensorflow', '?'))}, "
        f"Keras {env['libraries'].get('keras', '?')}. Load average {load_average:.1f} at the start"
        + (" (the cores were shared with other work, so training times are indicative only)."
           if load_average > 1.0 else "."),
        "",
    ]
    write_text(results / "train_fruits.md", "\n".join(lines))


if __name__ == "__main__":
    main()
