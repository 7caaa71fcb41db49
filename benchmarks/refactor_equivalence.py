"""Is the pipeline redesign (issue 10) behaviour-preserving? The current tree against a base revision.

1. Plans: every shipped experiment whose data is here, planned by both trees: step kinds, names, order and
   cache keys compared (the early-exit evaluations are expected to change: a documented one-time migration).
2. Reports: the same small study (and the early-exit study) run by both trees with the test suite's
   stand-ins for training, export and timing (``tests/experiment/fakes.py`` of each tree), then
   ``report.md``, ``report.html``, ``results.csv``, ``results.json`` and the plots compared after
   normalising the output paths and timestamps.
3. Test suite: both trees' suites, one after the other in this run, on the same machine (wall time).
4. Significance: a fresh ``convbench run default`` by the current tree; on every neighbouring pair of its
   latency ranking, the old verdict (disjoint 95 % CIs) against the new one (compare's pair test).

The base tree is a git worktree beside the project (``../cb-base``, so that ``../shared/data`` resolves
alike) and is removed afterwards. Writes ``benchmarks/results/refactor_equivalence.{json,md}``.
Run it on an otherwise idle machine (the suite timings).

Usage:
    python benchmarks/refactor_equivalence.py [--base 0ca73a3] [--no-suite]
"""

from __future__ import annotations

import argparse
import filecmp
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATA = {"fruits360-architectures": {"main": f"fruits360:{SHARED / 'fruits-360-apples-pears.zip'}"},
        "mnist-omniglot-early-exit": {"main": f"mnist:{SHARED / 'mnist'}",
                                      "redundant": f"omniglot:{SHARED / 'omniglot' / 'images_background.zip'}"},
        "cifar10-gtsrb-early-exit": {"main": f"cifar10:{SHARED / 'cifar10-jpeg.zip'}",
                                     "redundant": f"gtsrb:{SHARED / 'gtsrb'}"}}
REPORT_FILES = ("report.md", "report.html", "results.csv", "results.json")

PLAN_SCRIPT = """
import json, sys
from convbench.experiment import load_experiment, make_plan, shipped_experiments
data = json.loads(sys.argv[1])
out = {}
for name in shipped_experiments():
    try:
        exp = load_experiment(name, data=data.get(name))
    except Exception as e:  # an experiment whose data is not here
        continue
    out[name] = [[s.kind, s.name, s.key] for s in make_plan(exp)]
print(json.dumps(out))
"""

STUDY_SCRIPT = """
import json, sys, pathlib
sys.path.insert(0, sys.argv[2] + "/tests")
import pytest
from experiment.fakes import EARLY_EXIT_TOML, SMALL_TOML, FakeSteps
from convbench.experiment import run
fixed = {"cpu": "cpu", "cores": 2, "os": "os", "python": "3", "libraries": {}, "git_commit": "x", "timestamp": "t"}
with pytest.MonkeyPatch.context() as mp:
    FakeSteps().install(mp)
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("convbench") and hasattr(module, "environment"):
            mp.setattr(module, "environment", lambda: dict(fixed))
    out = pathlib.Path(sys.argv[1])
    toml = out.parent / (out.name + ".toml")
    toml.parent.mkdir(parents=True, exist_ok=True)
    toml.write_text(EARLY_EXIT_TOML if sys.argv[3] == "early_exit" else SMALL_TOML)
    run(toml, out=out, record_history=False, progress=False)
"""


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    base = ROOT.parent / "cb-base"
    subprocess.run(["git", "worktree", "add", "-q", "--force", str(base), args.base], cwd=ROOT, check=True)
    try:
        result: dict[str, Any] = {"base": args.base, "head": _git("rev-parse", "HEAD")}
        result["plans"] = compare_plans(base)
        result["reports"] = compare_reports(base)
        result["suite"] = time_suites(base) if args.suite else None
        result["verdicts"] = significance_verdicts()
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    from convbench.env import environment
    from convbench.io import write_json, write_text

    result["environment"] = environment()
    write_json(args.results / "refactor_equivalence.json", result)
    write_text(args.results / "refactor_equivalence.md", _markdown(result))
    print(f"wrote {args.results / 'refactor_equivalence.json'} and .md")
    return 0


def _python(tree: Path, *arguments: str, cwd: Path | None = None) -> str:
    """Run Python with ``tree``'s sources first on the path; its stdout."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "CONVBENCH_HISTORY": os.devnull}
    done = subprocess.run([sys.executable, *arguments], env=env, cwd=cwd or tree, capture_output=True, text=True,
                          check=True)
    return done.stdout


def compare_plans(base: Path) -> list[dict[str, Any]]:
    before, after = (json.loads(_python(tree, "-c", PLAN_SCRIPT, json.dumps(DATA)).strip().splitlines()[-1])
                     for tree in (base, ROOT))
    rows = []
    for name in sorted(before):
        old, new = before[name], after.get(name, [])
        old_keys = {key for _, _, key in old}
        rows.append({"experiment": name, "steps_before": len(old), "steps_after": len(new), "identical": old == new,
                     "kept_keys": sum(key in old_keys for _, _, key in new),
                     "changed": sorted({f"{kind} {step}" for kind, step, key in new if key not in old_keys}),
                     "training_keys_kept": all(key in old_keys for kind, _, key in new if kind.endswith("train"))})
    return rows


def compare_reports(base: Path) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for study in ("small", "early_exit"):
            outs = {}
            for label, tree in (("before", base), ("after", ROOT)):
                out = Path(tmp) / label / study
                _python(tree, "-c", STUDY_SCRIPT, str(out), str(tree), study)
                outs[label] = out
            for name in REPORT_FILES:
                texts = [_normalise((outs[label] / name).read_text(), outs[label]) for label in ("before", "after")]
                differing = [f"{a.strip()} → {b.strip()}" for a, b in zip(*(t.splitlines() for t in texts),
                                                                          strict=False) if a != b]
                rows.append({"study": study, "file": name, "identical": texts[0] == texts[1],
                             "differing_lines": differing[:5]})
            plots = sorted(p.name for p in (outs["before"] / "plots").glob("*.png"))
            rows.append({"study": study, "file": f"plots ({len(plots)})",
                         "identical": all(filecmp.cmp(outs["before"] / "plots" / p, outs["after"] / "plots" / p,
                                                      shallow=False) for p in plots), "differing_lines": []})
    return rows


def _normalise(text: str, out: Path) -> str:
    """Output paths, timestamps and wall times, which differ between any two runs, made alike."""
    text = re.sub(r"TMP/(before|after)", "TMP", text.replace(str(out.parent.parent), "TMP"))
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:+.]+", "TIME", text)
    text = re.sub(r"took \d+ s", "took N s", text)
    return re.sub(r'"wall_seconds": [\d.]+', '"wall_seconds": N', text)


def time_suites(base: Path) -> dict[str, Any]:
    suites = {}
    for label, tree in (("before", base), ("after", ROOT)):
        started = time.perf_counter()
        output = _python(tree, "-m", "pytest", "-q", "-p", "no:cacheprovider")
        summary = next(line for line in reversed(output.splitlines()) if "passed" in line)
        suites[label] = {"seconds": time.perf_counter() - started, "summary": summary.strip("= ")}
    return suites


def significance_verdicts() -> dict[str, Any]:
    """Both rules on every neighbouring pair of a fresh default study's latency ranking."""
    from convbench.bench import BenchResult
    from convbench.bench.verdict import verdict
    from convbench.experiment import run

    with tempfile.TemporaryDirectory() as tmp:
        study = run("default", out=Path(tmp) / "study", record_history=False, progress=False)
        rows = sorted(study.results["latency"], key=lambda r: r["median_ms"])
        pairs = []
        for a, b in itertools.pairwise(rows):
            ma, mb = (BenchResult.load(study.out / r["bench_file"]).inference for r in (a, b))
            pairs.append({"faster": f"{a['model']} {a['format']} {a['quantize']} {a['runtime']} t{a['threads']}",
                          "slower": f"{b['model']} {b['format']} {b['quantize']} {b['runtime']} t{b['threads']}",
                          "cis_disjoint": a["ci95_high_ms"] < b["ci95_low_ms"],
                          "verdict": verdict("a", ma, "b", mb).clear})
    return {"pairs": pairs, "changed": sum(p["cis_disjoint"] != p["verdict"] for p in pairs),
            "recommendation": study.results["recommendation"]["sentence"]}


def _git(*arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def _markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = [f"# Pipeline redesign: {result['head'][:10]} against {result['base']}", "",
             f"Machine: {env.get('cpu')}, {env.get('cores')} cores.", "", "## Plans of the shipped experiments", "",
             "| experiment | steps before → after | identical | keys kept | training keys kept | new keys |",
             "|---|---|---|---:|---|---|"]
    lines += [f"| {p['experiment']} | {p['steps_before']} → {p['steps_after']} | {'yes' if p['identical'] else 'no'} "
              f"| {p['kept_keys']} | {'yes' if p['training_keys_kept'] else 'no'} | {'; '.join(p['changed']) or '–'} |"
              for p in result["plans"]]
    lines += ["", "## Reports from the same results (stand-ins for training, export and timing)", "",
              "| study | file | identical (paths, times normalised) | first differing lines |", "|---|---|---|---|"]
    lines += [f"| {r['study']} | {r['file']} | {'yes' if r['identical'] else 'no'} | "
              f"{'<br>'.join(r['differing_lines']) or '–'} |" for r in result["reports"]]
    if result["suite"]:
        lines += ["", "## Test suite, both trees back to back", "", "| tree | wall time | result |", "|---|---:|---|"]
        lines += [f"| {label} | {s['seconds']:.0f} s | {s['summary']} |" for label, s in result["suite"].items()]
    v = result["verdicts"]
    lines += ["", "## Significance verdicts on a fresh `convbench run default`", "",
              f"{len(v['pairs'])} neighbouring pairs of the latency ranking; {v['changed']} verdicts differ between "
              "disjoint CIs alone and compare's rule (Mann–Whitney and disjoint CIs).", "",
              f"Recommendation: {v['recommendation']}"]
    return "\n".join(lines) + "\n"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="0ca73a3", help="the revision before the redesign (default: 0ca73a3)")
    parser.add_argument("--no-suite", dest="suite", action="store_false", help="skip timing both test suites")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
