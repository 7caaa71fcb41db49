"""Measurement a performance engineer would sign (issue 13): repeatable medians, agreement with the official
LiteRT tool, every CPU runtime side by side, peak memory and where the time goes inside each model.

Models: the four architectures of the fruits study at their shipped configuration
(``experiments/fruits360-architectures.toml``), trained for ``--epochs`` on Fruits-360 apples vs pears
(latency does not depend on how well a model is trained; the files are the study's shapes and export
modes), exported to ``.tflite`` float32 and int8 and to ``.onnx``; and VGG-19 α 0.25 at 32 px trained on the
embedded digits, whose median is above the 0.5 ms below which the official tool's two-decimal figures are
too coarse. Models and files are cached in ``runs/measurement/`` (delete it to start afresh).

1. Repeatability: the eight ``.tflite`` files timed in LiteRT (1 thread) by ``convbench bench`` in three
   separate processes, one after another; in each, the files run in interleaved shuffled rounds. Target:
   max/min − 1 of a file's three medians ≤ 5 %, for every file.
2. The official tool: each float32 file timed by ``ai_edge_litert.tools.benchmark_litert_model`` (CompiledModel
   API, random input) and by ``convbench bench`` in the Interpreter and in CompiledModel, with the same runs,
   warm-up runs and threads, each in its own process, the three alternating in a shuffled order, three
   times. Target: convbench's median within ±5 % of the tool's on files at ≥ 0.5 ms.
3. Runtimes: the four float32 models in LiteRT Interpreter, LiteRT CompiledModel, ONNX Runtime and OpenVINO at
   1 and 2 threads, all 32 configurations in one process in interleaved rounds; per architecture and thread
   count the fastest runtime, and whether it is significantly faster than the runner-up (compare's rule).
4. Peak memory of a fresh process per model and runtime, and the per-operator profile of each model in every
   runtime whose Python API offers one.

Writes ``benchmarks/results/measurement.json`` and ``.md``. Run it on an otherwise idle machine. convbench is
imported inside the functions on purpose: the timing processes this script starts import only the runtimes
they time, never TensorFlow.

Usage:
    python benchmarks/measurement.py [--epochs 1] [--runs 200] [--min-seconds 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = f"fruits360:{ROOT.parent / 'shared' / 'data' / 'fruits-360-apples-pears.zip'}"
WORK = ROOT / "runs" / "measurement"
REPEAT_TARGET = 0.05  # max/min − 1 of one file's medians in separate processes
AGREEMENT_TARGET = 0.05  # |convbench / official − 1|
OFFICIAL_MIN_MS = 0.5  # below this the official tool's 2-decimal milliseconds are too coarse to compare
RUNTIMES = (("litert", "tflite"), ("litert_compiled", "tflite"), ("onnxruntime", "onnx"), ("openvino", "tflite"))


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.child is not None:  # one timing process of a repeatability run or of the runtime table
        return _child(args)
    files = prepare(args.epochs)
    load_before = os.getloadavg()
    result: dict[str, Any] = {"protocol": {"runs": args.runs, "min_seconds": args.min_seconds, "rounds": args.rounds,
                                           "epochs": args.epochs}}
    result["repeatability"] = repeatability(files, args)
    result["official"] = official_crosscheck(files, args)
    result["runtimes"] = runtime_table(files, args)
    result["memory"] = memory_table(files)
    result["op_profiles"] = op_profiles(files)
    from convbench.env import environment
    from convbench.io import write_json, write_text

    result["environment"] = environment() | {"load_average_1min": [load_before[0], os.getloadavg()[0]]}
    args.results.mkdir(parents=True, exist_ok=True)
    write_json(args.results / "measurement.json", result)
    write_text(args.results / "measurement.md", _markdown(result))
    print(f"wrote {args.results / 'measurement.json'} and .md")
    return 0


# -- the files -------------------------------------------------------------------------------------------------


def prepare(epochs: int) -> dict[str, dict[str, Path]]:
    """``{arch: {"none": .tflite, "int8": .tflite, "onnx": .onnx}}`` for the four study models, plus VGG-19's
    float32 ``.tflite`` under ``"vgg19"``; trained and exported once, then reused from ``runs/measurement``."""
    from convbench.experiment import load_experiment
    from convbench.export import export
    from convbench.train import model_splits, train

    study = load_experiment("fruits360-architectures", data={"main": DATA})
    files: dict[str, dict[str, Path]] = {}
    for m in study.models:
        out = WORK / m.arch
        model = out / "model.keras"
        if not model.is_file():
            train(m.arch, DATA, out=out, width=m.width, input_size=m.input_size, epochs=epochs, progress=False,
                  **m.options)
        files[m.arch] = {}
        for name, to, mode in (("none", "tflite", "none"), ("int8", "tflite", "int8"), ("onnx", "onnx", "none")):
            path = out / (f"model.{mode}.tflite" if to == "tflite" else "model.onnx")
            if not path.is_file():
                from convbench.artifacts import read_card
                from convbench.data import load

                splits = model_splits(read_card(model), load(DATA))
                export(model, to=to, quantize=mode, out=path, data=splits["test"],
                       calibration=splits["train"] if mode == "int8" else None)
            files[m.arch][name] = path
    vgg = WORK / "vgg19" / "model.keras"
    if not vgg.is_file():
        train("vgg19", "digits", out=vgg.parent, width=0.25, input_size=32, epochs=epochs, progress=False)
    vgg_file = vgg.parent / "model.none.tflite"
    if not vgg_file.is_file():
        export(vgg, to="tflite", out=vgg_file)
    files["vgg19"] = {"none": vgg_file}
    return files


# -- 1. repeatability ------------------------------------------------------------------------------------------


def repeatability(files: dict[str, dict[str, Path]], args: argparse.Namespace) -> dict[str, Any]:
    """The eight study ``.tflite`` files in three separate processes; each file's spread of medians."""
    paths = [files[a][mode] for a in files if a != "vgg19" for mode in ("none", "int8")]
    targets = [{"model": str(p), "runtime": "litert", "threads": 1} for p in paths]
    processes = [_run_child(targets, args) for _ in range(3)]
    rows = []
    for i, path in enumerate(paths):
        medians = [p[i]["median_ms"] for p in processes]
        rows.append({"file": _label(path), "medians_ms": medians, "spread": max(medians) / min(medians) - 1,
                     "round_spreads": [p[i]["round_spread"] for p in processes]})
    return {"rows": rows, "target": REPEAT_TARGET, "met": all(r["spread"] <= REPEAT_TARGET for r in rows),
            "worst": max(r["spread"] for r in rows)}


# -- 2. the official tool --------------------------------------------------------------------------------------


def official_crosscheck(files: dict[str, dict[str, Path]], args: argparse.Namespace) -> dict[str, Any]:
    """convbench (Interpreter and CompiledModel) against ``benchmark_litert_model``, alternating, three times."""
    rows = []
    runs, warmup = args.runs, 10
    for arch in files:
        path = files[arch]["none"]
        samples: dict[str, list[float]] = {"official": [], "litert": [], "litert_compiled": []}
        for _ in range(3):
            order = list(samples)
            random.Random(len(rows)).shuffle(order)
            for who in order:
                samples[who].append(_official_median(path, runs, warmup) if who == "official" else
                                    _convbench_median(path, who, runs, warmup))
        medians = {who: sorted(v)[1] for who, v in samples.items()}
        rows.append({"file": _label(path), "medians_ms": medians, "samples_ms": samples,
                     "ratio_interpreter": medians["litert"] / medians["official"],
                     "ratio_compiled": medians["litert_compiled"] / medians["official"],
                     "checked": medians["official"] >= OFFICIAL_MIN_MS})
    checked = [r for r in rows if r["checked"]]
    return {"rows": rows, "runs": runs, "warmup_runs": warmup, "threads": 1, "target": AGREEMENT_TARGET,
            "met": bool(checked) and all(abs(r["ratio_compiled"] - 1) <= AGREEMENT_TARGET
                                         and abs(r["ratio_interpreter"] - 1) <= AGREEMENT_TARGET for r in checked)}


def _official_median(path: Path, runs: int, warmup: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "official.json"
        subprocess.run([sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model", f"--model={path}",
                        f"--num_runs={runs}", f"--warmup_runs={warmup}", "--num_threads=1",
                        f"--result_json={out}"], check=True, capture_output=True)
        return float(json.loads(out.read_text())["latency"]["median_ms"])


def _convbench_median(path: Path, runtime: str, runs: int, warmup: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        subprocess.run([sys.executable, "-m", "convbench", "bench", str(path), "--runtime", runtime, "--threads", "1",
                        "--runs", str(runs), "--min-seconds", "0", "--warmup", str(warmup), "--warmup-seconds", "0",
                        "--load-repeats", "1", "--json", str(out)], check=True, capture_output=True)
        return 1e3 * float(json.loads(out.read_text())["phases"]["inference"]["stats"]["median"])


# -- 3. runtimes side by side ----------------------------------------------------------------------------------


def runtime_table(files: dict[str, dict[str, Path]], args: argparse.Namespace) -> dict[str, Any]:
    """The four float32 models × four runtimes × 1 and 2 threads, interleaved in one process."""
    archs = [a for a in files if a != "vgg19"]
    targets = [{"model": str(files[a]["onnx" if fmt == "onnx" else "none"]), "runtime": runtime, "threads": t}
               for a in archs for runtime, fmt in RUNTIMES for t in (1, 2)]
    timed = _run_child(targets, args, keep_samples=True)
    rows = [{"arch": a, "runtime": t["runtime"], "threads": t["threads"], **{k: v for k, v in r.items()
                                                                              if k != "samples_s"}}
            for t, r, a in zip(targets, timed, [a for a in archs for _ in RUNTIMES for _ in (1, 2)], strict=True)]
    from convbench.bench import Measurement, TaskSpec
    from convbench.report.compare import pair_test

    verdicts = []
    for arch in archs:
        for threads in (1, 2):
            cells = sorted((i for i, r in enumerate(rows) if r["arch"] == arch and r["threads"] == threads),
                           key=lambda i: rows[i]["median_ms"])
            first, second = cells[0], cells[1]
            m = {i: Measurement(TaskSpec(arch, rows[i]["runtime"], "inference", threads), timed[i]["samples_s"],
                                metadata={"replicate_medians": timed[i]["round_medians_s"]}) for i in (first, second)}
            test = pair_test(rows[first]["runtime"], m[first], rows[second]["runtime"], m[second])
            verdicts.append({"arch": arch, "threads": threads, "fastest": rows[first]["runtime"],
                             "runner_up": rows[second]["runtime"], "relative_difference": test.relative_difference,
                             "p_value": test.p_value, "cis_overlap": test.cis_overlap,
                             "significant": test.significant})
    return {"rows": rows, "fastest": verdicts}


# -- 4. memory and per-op profiles ----------------------------------------------------------------------------


def memory_table(files: dict[str, dict[str, Path]]) -> list[dict[str, Any]]:
    from convbench.bench.memory import peak_memory

    rows = []
    for arch in (a for a in files if a != "vgg19"):
        for runtime, fmt in (("litert", "tflite"), ("onnxruntime", "onnx"), ("openvino", "tflite")):
            path = files[arch]["onnx" if fmt == "onnx" else "none"]
            rows.append({"arch": arch, "runtime": runtime, **peak_memory(path, runtime=runtime).to_dict()})
    return rows


def op_profiles(files: dict[str, dict[str, Path]]) -> list[dict[str, Any]]:
    from convbench.bench.profile import profile_ops
    from convbench.errors import ConvbenchError

    profiles = []
    for arch in (a for a in files if a != "vgg19"):
        for runtime, fmt in (("onnxruntime", "onnx"), ("openvino", "tflite"), ("litert", "tflite")):
            path = files[arch]["onnx" if fmt == "onnx" else "none"]
            try:
                profile = profile_ops(path, runtime=runtime, runs=50)
            except ConvbenchError as e:
                profiles.append({"arch": arch, "runtime": runtime, "available": False, "why": str(e)})
                continue
            profiles.append({"arch": arch, "runtime": runtime, "available": True, **profile.to_dict()})
    return profiles


# -- child processes ------------------------------------------------------------------------------------------


def _run_child(targets: list[dict[str, Any]], args: argparse.Namespace, keep_samples: bool = False) -> list[dict]:
    """Time ``targets`` with ``bench_interleaved`` in a fresh process; its figures per target."""
    command = [sys.executable, __file__, "--child", json.dumps(targets), "--runs", str(args.runs),
               "--min-seconds", str(args.min_seconds), "--rounds", str(args.rounds)]
    done = subprocess.run(command + (["--keep-samples"] if keep_samples else []), check=True, capture_output=True,
                          text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child(args: argparse.Namespace) -> int:
    from convbench.bench import BenchTarget, bench_interleaved

    targets = [BenchTarget(t["model"], t["runtime"], t["threads"]) for t in json.loads(args.child)]
    results = bench_interleaved(targets, rounds=args.rounds, runs=args.runs, min_seconds=args.min_seconds,
                                load_repeats=1)  # preprocessing timed on each card's own data
    figures = []
    for r in results:
        m = r.inference
        figures.append({"median_ms": 1e3 * m.median, "ci95_ms": [1e3 * m.ci95.low, 1e3 * m.ci95.high], "n": m.n,
                        "round_spread": m.replicate_spread, "rounds_disagree": m.replicates_disagree,
                        "load_ms": 1e3 * r.phases["load"].median, "version": r.runtime["version"],
                        **({"samples_s": list(m.times_s), "round_medians_s": m.replicate_medians}
                           if args.keep_samples else {})})
    print(json.dumps(figures))
    return 0


# -- report -------------------------------------------------------------------------------------------------


def _label(path: Path) -> str:
    return f"{path.parent.name} {path.name}"


def _markdown(result: dict[str, Any]) -> str:
    env, p = result["environment"], result["protocol"]
    rep, off, rt = result["repeatability"], result["official"], result["runtimes"]
    lines = ["# Measurement: repeatability, the official tool, runtimes, memory, per-op profiles", "",
             f"Machine: {env.get('cpu')}, {env.get('cores')} cores; load average (1 min) "
             f"{env['load_average_1min'][0]:.2f} before, {env['load_average_1min'][1]:.2f} after. "
             f"Protocol: at least {p['runs']} calls and {p['min_seconds']} s per configuration in {p['rounds']} "
             f"interleaved rounds; models trained {p['epochs']} epoch(s) (timing does not depend on accuracy).", "",
             "## 1. Repeatability (LiteRT, 1 thread, three separate processes)", "",
             f"Target: max/min − 1 ≤ {rep['target']:.0%} for every file — **{'met' if rep['met'] else 'not met'}** "
             f"(worst {rep['worst']:.1%}).", "", "| file | medians ms | spread | round spreads |", "|---|---|---:|---|"]
    lines += [f"| {r['file']} | {', '.join(f'{m:.4f}' for m in r['medians_ms'])} | {r['spread']:.1%} | "
              f"{', '.join(f'{s:.1%}' for s in r['round_spreads'])} |" for r in rep["rows"]]
    lines += ["", "## 2. convbench against `benchmark_litert_model` (1 thread)", "",
              f"Same {off['runs']} runs and {off['warmup_runs']} warm-up runs; each figure is the middle of three "
              f"alternating runs in separate processes. Target: within ±{off['target']:.0%} on files at ≥ "
              f"{OFFICIAL_MIN_MS} ms — **{'met' if off['met'] else 'not met'}**.", "",
              "| file | official ms | convbench Interpreter ms | ratio | convbench CompiledModel ms | ratio | "
              "checked |", "|---|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {r['file']} | {r['medians_ms']['official']:.2f} | {r['medians_ms']['litert']:.4f} | "
              f"{r['ratio_interpreter']:.3f} | {r['medians_ms']['litert_compiled']:.4f} | {r['ratio_compiled']:.3f} | "
              f"{'yes' if r['checked'] else 'below 0.5 ms'} |" for r in off["rows"]]
    lines += ["", "## 3. Runtimes side by side (float32, interleaved rounds in one process)", "",
              "| arch | runtime | threads | median ms [95 % CI] | load ms | rounds disagree |",
              "|---|---|---:|---|---:|---|"]
    lines += [f"| {r['arch']} | {r['runtime']} {r['version']} | {r['threads']} | {r['median_ms']:.4f} "
              f"[{r['ci95_ms'][0]:.4f}, {r['ci95_ms'][1]:.4f}] | {r['load_ms']:.2f} | "
              f"{'yes' if r['rounds_disagree'] else ''} |" for r in rt["rows"]]
    lines += ["", "| arch | threads | fastest | runner-up | difference | significant (Mann–Whitney and CIs) |",
              "|---|---:|---|---|---:|---|"]
    lines += [f"| {v['arch']} | {v['threads']} | {v['fastest']} | {v['runner_up']} | {v['relative_difference']:.1%} "
              f"| {'yes' if v['significant'] else 'no'} (p={v['p_value']:.2g}) |" for v in rt["fastest"]]
    lines += ["", "## 4. Peak memory of a fresh process", "", "| arch | runtime | peak MB | of it for the model MB |",
              "|---|---|---:|---:|"]
    lines += [f"| {r['arch']} | {r['runtime']} | {r['peak_bytes'] / 1e6:.1f} | {r['model_bytes'] / 1e6:.1f} |"
              for r in result["memory"]]
    lines += ["", "## 5. Where the time goes (top 5 operators)", ""]
    for prof in result["op_profiles"]:
        if not prof["available"]:
            lines.append(f"- {prof['arch']} in {prof['runtime']}: not available ({prof['why']})")
            continue
        top = ", ".join(f"{o['op_type']} {o['node']} {o['share']:.0%}" for o in prof["nodes"][:5])
        lines.append(f"- {prof['arch']} in {prof['runtime']}: {top}")
    return "\n".join(lines) + "\n"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1, help="training epochs of each model (default: 1)")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per configuration, at least")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="timed seconds per configuration, at least")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--keep-samples", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
