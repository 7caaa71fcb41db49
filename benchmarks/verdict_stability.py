"""Does a verdict survive a rerun? The default study and two `convbench bench A B` pairs, timed again and again.

Issue 29: two runs of the default study on one commit (identical trained models) called opposite files "clearly
ahead", each backed by 95 % intervals a few microseconds wide: every file was timed in its own stretch, and the
rule (Mann-Whitney U on every call, disjoint median CIs) measured the noise of one stretch. This script reruns
the timing under both protocols and rules, interleaved run by run so both see the same machine:

- **before**: each file in one stretch (``bench.rounds = 1``) and the old rule, re-implemented here
  (:func:`old_rule`) since the library no longer has it;
- **after**: every file in 10 interleaved rounds (the default) and :func:`convbench.bench.verdict.verdict`.

Part 1, the default study: trained once, then its timing step redone ``--runs`` times per protocol; during one run
of each protocol (``--busy-run``) a CPU-bound neighbour process runs beside it. Target: no two runs give
different "clearly ahead" verdicts; every run names the same file or says there is no clear winner.

Part 2, ``convbench compare`` of two pairs, each timed ``--reruns`` times in a fresh process with
``convbench bench A B`` (its defaults): two copies of one file (must never be called different beyond the stated
false-positive rate, 5 %) and two files about 3 % apart (the same architecture at two close widths): its verdict
must not flip.

Usage:
    python benchmarks/verdict_stability.py [--runs 5] [--reruns 10] [--out runs/verdict_stability]

Writes ``benchmarks/results/verdict_stability.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "verdict_stability"
NEIGHBOUR = "import time\nwhile True: sum(i * i for i in range(10_000))"  # one core, fully busy
# The same architecture at two close widths, ~4 % apart in time (probed side by side on this machine; an odd input
# size, 33 against 32, was 60 % apart: XNNPACK's kernels step with the shapes).
NEAR_PAIR = (("mobilenet_v2", 0.35, 32), ("mobilenet_v2", 0.37, 32))


def old_rule(a: Any, b: Any) -> bool:
    """The rule before issue 29: Mann-Whitney U on every call (p < 0.05) and disjoint 95 % median CIs."""
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(a.times_s, b.times_s, alternative="two-sided").pvalue)
    return p < 0.05 and not (a.ci95.low <= b.ci95.high and b.ci95.low <= a.ci95.high)


def study_run(out: Path, rounds: int, busy: bool) -> dict[str, Any]:
    """Redo the default study's timing (every other step cached) and read its recommendation."""
    from convbench.bench import BenchResult
    from convbench.bench.verdict import verdict

    shutil.rmtree(out / "steps" / "bench", ignore_errors=True)
    neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR]) if busy else None
    try:
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "convbench", "run", "default", "--out", str(out), "--quiet",
                               "--no-history", "--set", f"bench.rounds={rounds}"], capture_output=True, text=True)
        wall = time.perf_counter() - began
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    if done.returncode != 0:
        sys.exit(f"verdict_stability: the default study failed: {(done.stderr or done.stdout).strip()[-400:]}")
    results = json.loads((out / "results.json").read_text())
    rec = results["recommendation"]
    rows = sorted((r for r in results["latency"] if r["accuracy"] >= results["study"]["experiment"]["report"]
                   ["accuracy_floor"]), key=lambda r: r["median_ms"])
    first, second = rows[0], rows[1]
    a, b = (BenchResult.load(out / r["bench_file"]) for r in (first, second))
    if rounds == 1:  # before: the fastest by median, "clearly ahead" by the old rule
        clear = old_rule(a.inference, b.inference)
        shipped, said = _label(first), ("clearly ahead of " if clear else "not clearly ahead of ") + _label(second)
    else:
        clear = bool(rec["clear"])
        shipped = _label(rec["shipped"]) if rec["shipped"] else "nothing"
        said = rec["sentence"].split(":")[0] if not clear else f"clearly ahead of {_label(second)}"
    load = a.machine_load
    return {"rounds": rounds, "busy_neighbour": busy, "wall_seconds": round(wall, 1), "shipped": shipped,
            "clear": clear, "said": said, "fastest": _label(first), "runner_up": _label(second),
            "fastest_ms": first["median_ms"], "runner_up_ms": second["median_ms"],
            "paired": verdict(_label(first), a.inference, _label(second), b.inference).to_dict() if rounds > 1
            else None,
            "other_cores": load.other_cores if load else None, "machine_busy": bool(load and load.busy)}


def _label(row: dict[str, Any]) -> str:
    return f"{row['model']} {row['format']} {row['quantize']} {row['runtime']} t{row['threads']}"


def make_files(folder: Path) -> dict[str, tuple[Path, Path]]:
    """Two copies of one float32 file, and two files of one architecture at close input sizes."""
    from convbench.export import export
    from convbench.train import train

    files = []
    for arch, width, size in NEAR_PAIR:
        trained = train(arch, data="digits", out=folder / f"{arch}-{width}-{size}", width=width, input_size=size,
                        epochs=1, progress=False)
        files.append(export(trained.model_path, to="tflite", quantize="none").path)
    copy = folder / "copy" / files[0].name
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(files[0], copy)
    shutil.copy(files[0].with_name(files[0].name + ".json"), copy.with_name(copy.name + ".json"))
    return {"identical": (files[0], copy), "about 3 % apart": (files[0], files[1])}


def pair_rerun(a: Path, b: Path, out: Path) -> dict[str, Any]:
    """``convbench bench A B --json OUT`` in a fresh process (its defaults), then both rules on its results."""
    from convbench.bench import BenchResult
    from convbench.bench.verdict import verdict

    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run([sys.executable, "-m", "convbench", "bench", str(a), str(b), "--json", str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"verdict_stability: bench failed: {(done.stderr or done.stdout).strip()[-400:]}")
    ra, rb = (BenchResult.load(p) for p in sorted(out.glob("*.json")))
    v = verdict("A", ra.inference, "B", rb.inference)
    old_faster = "A" if ra.inference.median <= rb.inference.median else "B"
    return {"verdict": v.to_dict(), "new_clear": v.clear, "new_faster": v.faster,
            "old_clear": old_rule(ra.inference, rb.inference), "old_faster": old_faster,
            "median_a_ms": 1e3 * ra.inference.median, "median_b_ms": 1e3 * rb.inference.median}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timing reruns of the default study per protocol")
    parser.add_argument("--busy-run", type=int, default=2, help="which rerun (0-based) has a CPU-bound neighbour")
    parser.add_argument("--reruns", type=int, default=10, help="reruns of each compare pair")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "verdict_stability")
    args = parser.parse_args()
    from convbench.env import environment
    from convbench.io import write_json, write_text

    args.out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    study = args.out / "study"
    shutil.rmtree(study, ignore_errors=True)
    first_began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "convbench", "run", "default", "--out", str(study), "--quiet",
                    "--no-history"], check=True, capture_output=True)  # trains, exports, checks parity once
    first_run_seconds = round(time.perf_counter() - first_began, 1)
    runs = []
    for i in range(args.runs):  # before and after alternate, so both protocols see the same stretch of machine
        for rounds in (1, 10):
            runs.append(study_run(study, rounds, busy=i == args.busy_run) | {"run": i})
            print(json.dumps(runs[-1])[:300], flush=True)
    files = make_files(args.out / "files")
    pairs: dict[str, list[dict[str, Any]]] = {name: [] for name in files}
    for i in range(args.reruns):
        for name, (a, b) in files.items():
            pairs[name].append(pair_rerun(a, b, args.out / "pairs" / f"{name.split()[0]}-{i}") | {"rerun": i})
            print(name, json.dumps(pairs[name][-1])[-300:], flush=True)
    report = {"first_run_seconds": first_run_seconds, "runs": runs, "pairs": pairs,
              "near_pair": [list(p) for p in NEAR_PAIR],
              "wall_seconds": round(time.perf_counter() - began, 1), "environment": environment(),
              "targets": targets(runs, pairs)}
    write_json(RESULTS.with_suffix(".json"), report)
    write_text(RESULTS.with_suffix(".md"), markdown(report))
    print(markdown(report))


def targets(runs: list[dict[str, Any]], pairs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Each target of issue 29, before and after, from the runs."""
    found: dict[str, Any] = {}
    for when, rounds in (("before", 1), ("after", 10)):
        clear = {r["shipped"] for r in runs if r["rounds"] == rounds and r["clear"]}
        named = {r["shipped"] for r in runs if r["rounds"] == rounds}
        found[f"study_{when}"] = {"clear_verdicts": sorted(clear), "files_named": sorted(named),
                                  "met": len(clear) <= 1 and (not clear or all(
                                      r["shipped"] in clear or not r["clear"]
                                      for r in runs if r["rounds"] == rounds))}
        key, faster = ("old_clear", "old_faster") if when == "before" else ("new_clear", "new_faster")
        same = pairs["identical"]
        near = pairs["about 3 % apart"]
        near_clear = {r[faster] for r in near if r[key]}
        found[f"identical_{when}"] = {"called_different": sum(r[key] for r in same), "reruns": len(same),
                                      "met": sum(r[key] for r in same) <= 0.05 * len(same)}
        found[f"near_{when}"] = {"called_clear": sum(r[key] for r in near), "faster_named": sorted(near_clear),
                                 "reruns": len(near), "met": len(near_clear) <= 1}
    return found


def markdown(r: dict[str, Any]) -> str:
    env = r["environment"]
    t = r["targets"]
    lines = ["# Verdict stability: does \"clearly ahead\" survive a rerun?", "",
             f"Machine: {env.get('cpu')}, {env.get('cores')} cores; {r['wall_seconds']:.0f} s in all (the first, "
             f"full run of the default study: {r['first_run_seconds']:.0f} s). Before: each "
             "file timed in one stretch, Mann-Whitney U on every call and disjoint median CIs. After: every file in "
             "10 interleaved rounds, the paired-rounds verdict (`convbench.bench.verdict`). Before and after runs "
             "alternate; one run of each had a CPU-bound neighbour process.", "",
             "## The default study, timing redone each run", "",
             "| run | protocol | neighbour | other processes (cores) | fastest (median ms) | runner-up (median ms) "
             "| shipped | verdict |", "|---:|---|---|---:|---|---|---|---|"]
    for run in r["runs"]:
        other = "–" if run["other_cores"] is None else f"{run['other_cores']:.2f}"
        lines.append(f"| {run['run']} | {'before' if run['rounds'] == 1 else 'after'} | "
                     f"{'yes' if run['busy_neighbour'] else ''} | {other} | {run['fastest']} ({run['fastest_ms']:.4f})"
                     f" | {run['runner_up']} ({run['runner_up_ms']:.4f}) | {run['shipped']} | "
                     f"{'**clearly ahead**' if run['clear'] else run['said']} |")
    lines += ["", "## `convbench bench A B`, rerun in fresh processes", "",
              "| pair | rerun | A ms | B ms | before: clear? | after: verdict |", "|---|---:|---:|---:|---|---|"]
    for name, reruns in r["pairs"].items():
        for x in reruns:
            v = x["verdict"]
            lines.append(f"| {name} | {x['rerun']} | {x['median_a_ms']:.4f} | {x['median_b_ms']:.4f} | "
                         f"{x['old_faster'] + ' ahead' if x['old_clear'] else 'no'} | "
                         f"{(v['faster'] + ' clearly ahead') if x['new_clear'] else 'no clear winner'} "
                         f"({v['ratio'] - 1:+.1%}, p = {v['p_value']:.2g}{', busy' if v['busy'] else ''}) |")
    lines += ["", "## Targets", "", "| target | before | after |", "|---|---|---|",
              f"| study: no two runs give different clear verdicts | {_met(t['study_before'])} "
              f"{t['study_before']['clear_verdicts']} | {_met(t['study_after'])} "
              f"{t['study_after']['clear_verdicts']} |",
              f"| identical pair called different ≤ 5 % of reruns | {_met(t['identical_before'])} "
              f"{t['identical_before']['called_different']}/{t['identical_before']['reruns']} | "
              f"{_met(t['identical_after'])} {t['identical_after']['called_different']}/"
              f"{t['identical_after']['reruns']} |",
              f"| ~3 % pair: the verdict never flips | {_met(t['near_before'])} {t['near_before']['faster_named']} | "
              f"{_met(t['near_after'])} {t['near_after']['faster_named']} |"]
    return "\n".join(lines) + "\n"


def _met(target: dict[str, Any]) -> str:
    return "met" if target["met"] else "**not met**"


if __name__ == "__main__":
    main()
