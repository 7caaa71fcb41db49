"""Wall time of a whole study, as a user runs it: ``convbench run NAME`` in a fresh process and output folder.

The command runs twice into the same new folder: the first run does every step (train, export, parity,
bench, report); the second should find every step cached and only rewrite the report. Both are timed
from outside the process (imports and TensorFlow's start-up included), so the figure is what a person
waits for. The claim to check for ``default``: the first run finishes in under 10 minutes on 2 cores.
Results go to ``benchmarks/results/study_NAME.json`` and ``.md``, with the study's plots in
``benchmarks/results/study_NAME/``; the study's own report stays in ``runs/study/NAME`` (not committed).

Usage:
    python benchmarks/study_run.py [default | fruits360-architectures | FILE.toml] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from convbench.io import write_json, write_text

ROOT = Path(__file__).resolve().parents[1]
TARGETS_S = {"default": 600.0}  # the wall-time budget, where it sets one


def timed_run(experiment: str, out: Path, history: Path) -> dict[str, Any]:
    """Run ``convbench run`` once in a new process; its wall time and the step counts it reported."""
    command = [sys.executable, "-m", "convbench", "run", experiment, "--out", str(out), "--history", str(history),
               "--quiet"]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        sys.exit(f"study_run: {' '.join(command[2:])} failed (exit {done.returncode}): {last[0]}")
    study = json.loads((out / "results.json").read_text())["study"]
    return {"wall_seconds": round(wall, 1), "study_seconds": study["wall_seconds"], "steps": study["steps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", nargs="?", default="default", help="shipped name or TOML file (default: default)")
    parser.add_argument("--out", type=Path, help="study output folder (default: runs/study/NAME; emptied first)")
    parser.add_argument("--rewrite", action="store_true",
                        help="run nothing: rewrite the summary from the recorded timings and the study folder's "
                             "results.json (after a report-only change)")
    args = parser.parse_args()
    name = Path(args.experiment).stem
    out = args.out or ROOT / "runs" / "study" / name
    stem = ROOT / "benchmarks" / "results" / f"study_{name}"
    if args.rewrite:
        recorded = json.loads(stem.with_suffix(".json").read_text())
        first, second = recorded["first_run"], recorded["second_run"]
    else:
        if out.exists():
            shutil.rmtree(out)
        with tempfile.TemporaryDirectory() as scratch:
            history = Path(scratch) / "history.sqlite"  # keep the user's own history out of a benchmark
            first = timed_run(args.experiment, out, history)
            second = timed_run(args.experiment, out, history)
    write_summary(stem, name, args.experiment, first, second, out)


def write_summary(stem: Path, name: str, experiment: str, first: dict[str, Any], second: dict[str, Any],
                  out: Path) -> None:
    """``stem``.json and .md from the two timed runs and the study's final results.json."""
    results = json.loads((out / "results.json").read_text())
    target = TARGETS_S.get(name)
    models = [{"model": m["model"], "params": m["params"], "test_accuracy": m["test_accuracy"]}
              for m in results["models"]]
    summary = {
        "benchmark": "study_run", "experiment": name, "command": f"convbench run {experiment}",
        "first_run": first, "second_run": second,
        "target_seconds": target, "met": None if target is None else first["wall_seconds"] < target,
        "recommendation": results["recommendation"]["sentence"] if results["latency"] else None,
        "early_exit": [ee["summary"] for ee in results["early_exit"]], "models": models,
        "errors": results["errors"], "report": str(out / "report.html"), "environment": results["environment"],
    }
    plots = stem.parent / stem.name  # the study's plots, kept beside the summary for review
    shutil.rmtree(plots, ignore_errors=True)
    if (out / "plots").is_dir():  # a study without plots (an early exit without its sweep) has none
        shutil.copytree(out / "plots", plots)
    summary["plots"] = sorted(p.name for p in plots.glob("*.png"))
    write_json(stem.with_suffix(".json"), summary)
    env = summary["environment"]
    tensorflow = env["libraries"].get("tensorflow-cpu", env["libraries"].get("tensorflow"))
    lines = [
        f"# `convbench run {experiment}`: wall time",
        "",
        f"Machine: {env.get('cpu')}, {env.get('cores')} cores; Python {env.get('python')}; "
        f"TensorFlow {tensorflow}. Timed from outside the process (start-up included).",
        "",
        "| run | wall time | steps run | steps cached |",
        "|---|---:|---:|---:|",
        f"| first (fresh folder) | {first['wall_seconds']:.0f} s | {first['steps']['ran']} | "
        f"{first['steps']['cached']} |",
        f"| second (same folder) | {second['wall_seconds']:.0f} s | {second['steps']['ran']} | "
        f"{second['steps']['cached']} |",
        "",
        *([f"Target: first run under {target:.0f} s — {'met' if summary['met'] else 'NOT met'}.", ""]
          if target is not None else []),
        *([f"Recommendation: {summary['recommendation']}", ""] if summary["recommendation"] else []),
        *[f"- {sentence}" for sentence in summary["early_exit"]],
        *([""] if summary["early_exit"] else []),
        *(["| model | parameters | test accuracy (Keras) |", "|---|---:|---:|",
           *[f"| {m['model']} | {m['params']:,} | {100 * m['test_accuracy']:.2f} % |" for m in models], ""]
          if models else []),
        *([f"Failed steps: {len(summary['errors'])}", ""] if summary["errors"] else []),
        *(["The study's plots (from its report.html):", "",
           *[f"![{Path(png).stem}]({stem.name}/{png})" for png in summary["plots"]], ""] if summary["plots"] else []),
    ]
    write_text(stem.with_suffix(".md"), "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
