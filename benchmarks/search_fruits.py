"""Issue 11's targets: one architecture search on Fruits-360 apples vs pears, against the models shrunk by hand.

One ``convbench.search`` with a budget (default 60 minutes) from an empty output folder, validating on held-out
runs of 8 frames (``val_split="groups"``: a random split of near-identical frames saturates at 100 % and cannot
tell candidates apart) with a floor of 99.8 % (see "The validation and the floor" below) over a narrowed space
(see "The space"), then:

- the found model (the recommendation) and the hand-shrunk models of ``benchmarks/results/train_fruits.json``
  exported to float32 .tflite and timed side by side with ``bench_interleaved`` (LiteRT, 1 thread, shuffled
  rounds) in the same run: target 1 is a found model with test accuracy ≥ 99.8 % faster than every hand-shrunk
  model with ≥ 99.8 %;
- for each reference point (AlexNet 952,835 parameters / 97.1 %, …) the fastest scored trial with at least that
  test accuracy and at most a tenth of those parameters (the scored trials: the recommendation and the Pareto
  front, the only ones the search scores on the test split);
- with ``--compare-ray``, target 3: two more searches with the same settings but validation on runs of 32 frames
  (:data:`COMPARE_DATA`) and an equal, shorter budget
  (``--ray-budget``, default 10 minutes), each from an empty folder, one in-process and one through a local Ray
  cluster (a head holding the timing slot and one worker, on loopback, 1 CPU each), and the ratio of their trial
  rates (finished trials per hour). Equal budgets from the start compare like with like: the main search's later
  phase, where most trials end at the latency screen in seconds, would make any rate comparison screen-bound
  (the 60-minute run at 76c1b33 compared a 60-minute in-process search, 566 of 581 trials screened out, with a
  shorter Ray one: ratio 0.74). The target asks for the rate when trials are training-bound, and a search is
  that only while no trial meets the floor (the screen then has nothing to prune against): on runs of 32 frames
  no small model met 99.8 % in the 40-minute run, so every trial trains. Each comparison search reports how many
  of its trials trained, so the table shows whether the pair was training-bound;
- that the test split never steered: the search read it only after its last trial ended, and the recommendation
  recomputed from the trials' validation figures alone (no test figure exists in them) is the same trial.

The validation and the floor. Target 1 asks for ≥ 99.8 % on the *test* split, and the search must choose on
validation only. Which validation, and which floor on it:

- Not ``random``: Training holds interleaved frames of the same videos (``convbench.data.fruits360``), so a random
  part of it is near-copies of the images beside it; it saturates at 100 % within a few epochs and a floor on it
  cannot tell candidates apart (``benchmarks/results/validation_split.md``: 3 of 4 small stagenets at 100.00 %).
- Not ``groups`` with the loader's default runs of 32 frames: the middle of a held-out run is ~17° of rotation
  from the nearest training view, whereas Test's frames are interleaved with Training's, a degree or so from a
  training frame; it is harder than the deployment it stands for, its errors come in runs of neighbouring frames,
  and a 99.8 % floor on it admitted no small model (the 40-minute run could only recommend a near-full-size one,
  alexnet_separable α0.99 at 96 px, 8.25 ms; ``validation_split.md``: none of 4 small stagenets).
- ``groups`` with runs of :data:`SEQUENCE_FRAMES` = 8 frames (chosen): a held-out view is at most ~4° from a
  training view, close to Test's relation to Training yet never a near-copy of a training image (runs of 4
  frames leave every held-out view beside a training one); on it the small stagenets of ``validation_split.md``
  spread from 99.56 % to 100 % and a 100 % tie is broken by validation loss. The run length follows from the
  data's geometry above; the floor is the target's 99.8 % unchanged (at most one error in ~680 held-out
  images). ``validation_split.md`` reports test accuracies beside its validation figures; they are shown, and
  nothing here was tuned to them.
- On :data:`VAL_REPEATS` = 3 such splits (``val_repeats``; the worst counts). One split is not enough: the
  60-minute run at 76c1b33 (one split) recommended a 24,450-parameter stagenet at 100 % validation that scored
  99.39 % on Test, and ``validation_split.md`` shows one configuration's accuracy moving by up to 3 points from
  one split to another. Three splits ask a configuration to meet the floor however its validation falls; only
  trials meeting it on the first split pay for the other two.
- Each split a quarter of Training (:data:`VAL_FRACTION`, about 1,700 images), not the trainer's default tenth
  (about 680). A floor of 99.8 % is a claim about one image in 500: 680 images with no error put the accuracy
  above only 99.56 % (one-sided 95 % bound, 0.95^(1/680)), so a tenth cannot vouch for the floor at all, and in
  a run stopped after 8 minutes (not kept) the cheapest seed, a 4,506-parameter stagenet, scored 100 % on all
  three tenth-sized splits, after which the latency screen pruned every larger candidate. With 1,700 images a
  perfect score bounds the accuracy above 99.82 %. Validation figures alone decided this.

The space. The registry's default space on 2 cores spends whole epochs of a 60-minute budget on VGG-19, AlexNet
and MobileNets at up to 128 px and α 1.5 (the 40-minute run: 13 trials, 8 pruned). The targets want a model
faster than the hand-shrunk MobileNetV1 (0.31 ms) and, for MobileNetV2's reference point, under 9,838 parameters,
which the registry's small stagenets reach (1.5–7 k parameters at 48 px in ``validation_split.md``). So unless
``--space`` says otherwise the search runs :data:`SPACE`: stagenet (every registered option; α 0.75–1.5, as α
below that rounds stages to 4–8 channels) and MobileNetV2 at the small widths (0.1–0.35) the hand-shrunk one
uses, at 32, 48 and 64 px, exported float32, float16 or int8. It is written into the output folder and named in
the results. The cheap seeds (one per architecture at its smallest point) come from it: its first values are
listed first (regular convolutions: at a few thousand parameters they were the most accurate in
``validation_split.md``).

Writes ``benchmarks/results/search_fruits.json`` and ``search_fruits.md``. Run it on an idle machine: another busy
process nearly doubles a median. The hand-shrunk models are read from ``runs/fruits/<arch>/model.keras`` (what
``benchmarks/train_fruits.py`` writes); ``--train-missing`` trains any that is absent with its recorded config.

Usage:
    python benchmarks/search_fruits.py                                  # the 60-minute search
    python benchmarks/search_fruits.py --compare-ray                    # plus target 3: 10 min in-process, 10 on Ray
    python benchmarks/search_fruits.py --budget 2m --trials 3 --out /tmp/sf  # a quick check of the script
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from convbench.bench import BenchCase, bench_interleaved
from convbench.data import Dataset, load
from convbench.env import environment
from convbench.export import export
from convbench.io import read_json, write_json, write_text
from convbench.report.search_section import HandShrunk, write_search_report
from convbench.search import SearchResult, recommend, search
from convbench.train import train

ROOT = Path(__file__).resolve().parents[1]
SEQUENCE_FRAMES = 8  # the groups validation split's held-out runs (see "The validation and the floor")
DATA = (f"fruits360:{ROOT.parent / 'shared' / 'data' / 'fruits-360-apples-pears.zip'}"
        f"?sequence_frames={SEQUENCE_FRAMES}")
TEST_TARGET = 0.998  # target 1: the found model's test accuracy, and the hand-shrunk models it must beat
FLOOR = 0.998  # validation accuracy on the groups split the search must reach (see "The validation and the floor")
VAL_REPEATS = 3  # validation splits a trial must meet the floor on, the worst counting (same section)
VAL_FRACTION = 0.25  # ~1,700 held-out images per split: enough for a perfect score to vouch for the floor (same)
COMPARE_DATA = f"fruits360:{ROOT.parent / 'shared' / 'data' / 'fruits-360-apples-pears.zip'}"  # runs of 32 frames
TARGET = "litert:1"
SPACE = """\
# search_fruits.py's space: small stagenets and small MobileNetV2s (see the script's docstring)
input_sizes = [32, 48, 64]
quantize = ["none", "float16", "int8"]

[architectures.stagenet]
width = [0.75, 1.5]
options = { conv = ["regular", "separable"], stage_channels = [[8, 16, 32], [16, 32, 64], [8, 16, 32, 64], \
[16, 32, 64, 128], [32, 64, 128]], depths = [1, 2], stem_channels = [8, 16], downsample = ["max", "stride"], \
pooling = ["avg", "max"] }

[architectures.mobilenet_v2]
width = [0.1, 0.35]
"""
REFERENCE = {  # arch → (test accuracy, parameters) of the reference study
    "alexnet": (0.971, 952_835),
    "alexnet_separable": (0.998, 866_750),
    "mobilenet_v1": (0.992, 801_795),
    "mobilenet_v2": (0.998, 98_379),
}
PARAMS_SHARE = 0.1  # a found model may have at most this share of a reference's parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="60m", help="search budget (default: 60m)")
    parser.add_argument("--trials", type=int, default=None, help="stop after this many trials (default: budget only)")
    parser.add_argument("--data", default=DATA, help=f"data spec (default: {DATA})")
    parser.add_argument("--floor", type=float, default=FLOOR, help=f"validation accuracy floor (default: {FLOOR})")
    parser.add_argument("--val-split", default="groups", help="validation split (default: groups)")
    parser.add_argument("--val-fraction", type=float, default=VAL_FRACTION,
                        help=f"share of Training held out per validation split (default: {VAL_FRACTION})")
    parser.add_argument("--compare-data", default=COMPARE_DATA,
                        help="data spec of the two searches compared for target 3 (default: runs of 32 frames)")
    parser.add_argument("--val-repeats", type=int, default=VAL_REPEATS,
                        help=f"validation splits a trial must meet the floor on (default: {VAL_REPEATS})")
    parser.add_argument("--space", type=Path, default=None,
                        help="search space TOML (default: SPACE, written to OUT/space.toml)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "search_fruits",
                        help="the searches' output folder, empty at the start (default: runs/search_fruits)")
    parser.add_argument("--compare-ray", action="store_true", help="also run the search on a local Ray cluster")
    parser.add_argument("--ray-budget", default="10m",
                        help="budget of each of the two searches compared for target 3 (default: 10m)")
    parser.add_argument("--hand-shrunk", type=Path, default=ROOT / "runs" / "fruits",
                        help="folder of the hand-shrunk models, one per arch (default: runs/fruits)")
    parser.add_argument("--train-missing", action="store_true",
                        help="train absent hand-shrunk models with their train_fruits.json config")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (default: 5)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                        help="where search_fruits.json/.md go (default: benchmarks/results)")
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        sys.exit(f"{args.out} is not empty: the benchmark starts from an empty output folder")
    if args.space is None:
        args.out.mkdir(parents=True, exist_ok=True)
        args.space = write_text(args.out / "space.toml", SPACE)

    load_average = os.getloadavg()[0]
    dataset = load(args.data)
    print(f"loaded {args.data}: {len(dataset.train)} training, {len(dataset.test or [])} test images", flush=True)
    options = dict(floor=args.floor, target=TARGET, val_split=args.val_split, val_repeats=args.val_repeats,
                   val_fraction=args.val_fraction, space=args.space, max_trials=args.trials)
    started = time.perf_counter()
    result = search(dataset, out=args.out / "in_process", budget=args.budget, **options)
    wall_s = time.perf_counter() - started
    print(_summary_line(result), flush=True)

    ray = None
    if args.compare_ray:
        compared = load(args.compare_data)
        local = search(compared, out=args.out / "compare_in_process", budget=args.ray_budget, **options)
        with local_ray_cluster() as address:
            ray_result = search(compared, out=args.out / "compare_ray", budget=args.ray_budget, ray=address,
                                **options)
        ray = _rate_comparison(local, ray_result)
        print(f"trial rate: in-process {ray['in_process_per_hour']:.1f}/h, Ray {ray['ray_per_hour']:.1f}/h "
              f"(× {ray['ratio']:.2f})", flush=True)

    hand = _hand_shrunk(args, dataset)
    side_by_side = _side_by_side(result, hand, dataset, args.out, args.rounds)
    write_search_report(result, args.out / "in_process",
                        [HandShrunk(h["arch"], h["params"], h["test_accuracy"], _latency_of(side_by_side, h["arch"]))
                         for h in hand])
    report = _report(args, result, wall_s, hand, side_by_side, ray, load_average)
    write_json(args.results / "search_fruits.json", report)
    write_text(args.results / "search_fruits.md", _markdown(report))
    print(f"→ {args.results / 'search_fruits.json'}, {args.results / 'search_fruits.md'}")


def _summary_line(result: SearchResult) -> str:
    best = result.recommended
    ran = f"{len(result.trials)} trials ({result.count('complete')} complete, {result.count('pruned')} pruned)"
    if best is None or best.latency is None:
        return f"no trial met the floor; {ran}"
    return (f"recommended #{best.number} {best.params.label}: {best.latency.median_ms:.4g} ms, val "
            f"{best.val_accuracy:.4f}, test {result.test_accuracy(best.number):.4f}; {ran}")


# -- a local Ray cluster: a head holding the timing slot and one worker, each in its own process group ---------------

@contextlib.contextmanager
def local_ray_cluster(start_within_s: float = 120) -> Iterator[str]:
    ray_cli = str(Path(sys.executable).with_name("ray"))
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    common = ["--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]
    processes = [subprocess.Popen([ray_cli, "start", "--head", "--port", str(port), "--temp-dir", temp,
                                   "--include-dashboard", "false", "--resources", '{"timing_slot": 1}', *common],
                                  start_new_session=True)]
    try:
        deadline = time.monotonic() + start_within_s
        while not _listening(port):
            if time.monotonic() > deadline or processes[0].poll() is not None:
                raise RuntimeError("the Ray head did not start")
            time.sleep(0.5)
        processes.append(subprocess.Popen([ray_cli, "start", "--address", f"127.0.0.1:{port}", *common],
                                          start_new_session=True))
        time.sleep(10)  # the worker registers with the head
        yield f"127.0.0.1:{port}"
    finally:
        for process in reversed(processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)  # Ray drains up to 30 s; the group is ours alone
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _rate_comparison(local: SearchResult, ray: SearchResult) -> dict[str, Any]:
    """Finished trials (complete or pruned) per hour of each of the two equal-budget searches, and how many of
    each one's trials trained (the rest ended at the latency screen: a pair mostly trained is training-bound)."""
    def rate(result: SearchResult) -> float:
        return (result.count("complete") + result.count("pruned")) / result.search_seconds * 3600

    def trained(result: SearchResult) -> int:
        return sum(t.epochs_run > 0 for t in result.trials)

    return {"budget_s": local.settings.budget_s, "in_process_per_hour": rate(local), "ray_per_hour": rate(ray),
            "ratio": rate(ray) / max(rate(local), 1e-9),
            "in_process_trials": len(local.trials), "in_process_trained": trained(local),
            "ray_trials": len(ray.trials), "ray_trained": trained(ray),
            "ray_nodes_trained": sorted({t.trained_on for t in ray.trials if t.trained_on}),
            "ray_nodes_timed": sorted({t.timed_on for t in ray.trials if t.timed_on}),
            "ray_recommendation": ray.recommended.params.label if ray.recommended else None}


# -- the hand-shrunk models, timed side by side with the found one ----------------------------------------------------

def _hand_shrunk(args: argparse.Namespace, dataset: Dataset) -> list[dict[str, Any]]:
    """train_fruits.json's rows, each with its model file when present (trained now with --train-missing)."""
    recorded = ROOT / "benchmarks" / "results" / "train_fruits.json"
    rows = read_json(recorded)["rows"] if recorded.exists() else []
    hand = []
    for row in rows:
        model = args.hand_shrunk / row["arch"] / "model.keras"
        if not model.exists() and args.train_missing:
            print(f"training the hand-shrunk {row['arch']} {row['config']}", flush=True)
            train(row["arch"], dataset, out=model.parent, **row["config"])
        hand.append({"arch": row["arch"], "params": row["params"], "test_accuracy": row["test_accuracy"],
                     "config": row["config"], "model": str(model) if model.exists() else None})
    return hand


def _side_by_side(result: SearchResult, hand: list[dict[str, Any]], dataset: Dataset, out: Path,
                  rounds: int) -> list[dict[str, Any]]:
    best = result.recommended
    files: list[tuple[str, Path]] = []
    if best is not None and best.model_file:
        files.append(("found", out / "in_process" / best.model_file))
    for h in hand:
        if h["model"]:
            exported = export(h["model"], to="tflite", quantize="none", data=dataset,  # parity on its test split
                              out=out / "hand_shrunk" / f"{h['arch']}.tflite")
            files.append((h["arch"], exported.path))
    if not files:
        return []
    runtime, threads = TARGET.split(":")
    timed = bench_interleaved([BenchCase(path, runtime, int(threads)) for _, path in files], rounds=rounds)
    return [{"model": name, "file": str(path), **r.figures_ms(), "size_bytes": r.model["size_bytes"]}
            for (name, path), r in zip(files, timed, strict=True)]


def _latency_of(side_by_side: list[dict[str, Any]], name: str) -> float | None:
    return next((row["median_ms"] for row in side_by_side if row["model"] == name), None)


# -- the report --------------------------------------------------------------------------------------------------------

def _report(args: argparse.Namespace, result: SearchResult, wall_s: float, hand: list[dict[str, Any]],
            side_by_side: list[dict[str, Any]], ray: dict[str, Any] | None, load_average: float) -> dict[str, Any]:
    best = result.recommended
    best_test = result.test_accuracy(best.number) if best else None
    found_ms = _latency_of(side_by_side, "found")
    rivals = [h for h in hand if h["test_accuracy"] >= TEST_TARGET]
    rival_ms = {h["arch"]: _latency_of(side_by_side, h["arch"]) for h in rivals}
    faster = (best_test is not None and best_test >= TEST_TARGET and found_ms is not None and bool(rival_ms)
              and all(ms is not None and found_ms < ms for ms in rival_ms.values()))
    scored = [(result.trial(s.number), s.accuracy) for s in result.test_scores]
    references = []
    for arch, (accuracy, params) in REFERENCE.items():
        fits = [(t, acc) for t, acc in scored if acc >= accuracy and (t.params_count or 0) <= PARAMS_SHARE * params]
        pick = min(fits, key=lambda f: f[0].latency.median_ms, default=None)  # type: ignore[union-attr]
        references.append({"reference": arch, "reference_accuracy": accuracy, "reference_params": params,
                           "max_params": int(PARAMS_SHARE * params), "met": pick is not None,
                           **({"trial": pick[0].number, "model": pick[0].params.label, "params": pick[0].params_count,
                               "test_accuracy": pick[1], "latency_ms": pick[0].latency.median_ms} if pick else {})})
    # the trials hold validation figures only
    hidden = recommend(result.trials, result.settings.floor, result.settings.max_latency_ms)
    return {
        "benchmark": "search_fruits", "command": shlex.join(["python", "benchmarks/search_fruits.py", *sys.argv[1:]]),
        "data": args.data, "floor": args.floor, "target": TARGET,
        "budget": args.budget, "val_split": args.val_split, "val_repeats": args.val_repeats,
        "val_fraction": args.val_fraction, "compare_data": args.compare_data if ray else None,
        "wall_seconds": round(wall_s, 1),
        "hand_shrunk_models": str(args.hand_shrunk),
        "search_seconds": result.search_seconds, "trials": len(result.trials),
        "states": {s: result.count(s) for s in ("complete", "pruned", "failed", "infeasible")},
        "pruned_before_training": result.pruned_before_training,
        "seeds": [t.number for t in result.trials if t.seeded], "space": str(args.space),
        "recommended": None if best is None else {
            "trial": best.number, "model": best.params.label, "params": best.params_count,
            "file_size_bytes": best.file_size_bytes, "val_accuracy": best.val_accuracy, "test_accuracy": best_test,
            "latency_ms_search": best.latency.median_ms if best.latency else None, "latency_ms_side_by_side": found_ms},
        "target_faster_than_hand_shrunk": {"met": faster, "found_ms": found_ms, "hand_shrunk_ms": rival_ms,
                                           "hand_shrunk_missing": [h["arch"] for h in hand if not h["model"]]},
        "reference_points": references,
        "ray": ray,
        "side_by_side": side_by_side,
        "test_split": {"trials_ended_at": result.trials_ended_at, "test_read_at": result.test_read_at,
                       "read_after_the_search": result.test_read_at is None
                       or result.test_read_at >= result.trials_ended_at,
                       "recommendation_from_validation_only": hidden, "same_choice": hidden == result.recommendation},
        "search_result": str(args.out / "in_process" / "search.json"),
        "load_average_at_start": load_average, "environment": environment(),
    }


def _markdown(r: dict[str, Any]) -> str:
    best = r["recommended"]
    pct = lambda x: "–" if x is None else f"{100 * x:.2f} %"  # noqa: E731
    ms = lambda x: "–" if x is None else f"{x:.4g}"  # noqa: E731
    lines = [f"# Architecture search on Fruits-360 apples vs pears (`{r['budget']}` budget)", "",
             f"`{r['command']}` on {r['environment']['cpu']} "
             f"({r['environment']['cores']} cores), load average {r['load_average_at_start']:.2f} at the start; "
             f"floor {pct(r['floor'])} validation accuracy on each of {r['val_repeats']} validation splits "
             f"(`{r['val_split']}`) of {pct(r['val_fraction'])} of Training (the worst counts), data `{r['data']}`, "
             f"target {r['target']}.",
             f"Hand-shrunk models timed from `{r['hand_shrunk_models']}` (their accuracies: `train_fruits.json`).",
             "", f"{r['trials']} trials in {r['search_seconds'] / 60:.1f} min: "
             + ", ".join(f"{n} {s}" for s, n in r["states"].items())
             + f" ({r['pruned_before_training']} pruned before training by the latency screen); cheap seeds: trials "
             + (", ".join(f"#{n}" for n in r["seeds"]) or "none") + f". Space: `{r['space']}`.", ""]
    if best:
        lines += [f"**Recommended**: {best['model']} (trial #{best['trial']}): {best['params']:,} parameters, "
                  f"{best['file_size_bytes']:,} B, validation {pct(best['val_accuracy'])}, test "
                  f"{pct(best['test_accuracy'])}, {ms(best['latency_ms_side_by_side'])} ms side by side.", ""]
    t = r["target_faster_than_hand_shrunk"]
    lines += [f"## Target 1: test ≥ {pct(TEST_TARGET)} and faster than every hand-shrunk model with ≥ "
              f"{pct(TEST_TARGET)}", "",
              f"Met: **{t['met']}** (found {ms(t['found_ms'])} ms; "
              + ", ".join(f"{a} {ms(v)} ms" for a, v in t["hand_shrunk_ms"].items()) + ")"
              + (f"; hand-shrunk models not found here: {', '.join(t['hand_shrunk_missing'])}"
                 if t["hand_shrunk_missing"] else "") + ".", "",
              "| model | median ms | 95 % CI | size |", "|---|---:|---:|---:|"]
    lines += [f"| {row['model']} | {row['median_ms']:.4g} | {row['ci95_low_ms']:.4g}–{row['ci95_high_ms']:.4g} | "
              f"{row['size_bytes']:,} |" for row in r["side_by_side"]]
    lines += ["", "## Target 2: each reference point with a tenth of its parameters", "",
              "| reference | its accuracy | its parameters | at most | found | parameters | test accuracy | ms |",
              "|---|---:|---:|---:|---|---:|---:|---:|"]
    lines += [f"| {p['reference']} | {pct(p['reference_accuracy'])} | {p['reference_params']:,} | "
              f"{p['max_params']:,} | {p.get('model', 'none')} | {p.get('params', 0) or 0:,} | "
              f"{pct(p.get('test_accuracy'))} | {ms(p.get('latency_ms'))} |" for p in r["reference_points"]]
    if r["ray"]:
        ray = r["ray"]
        lines += ["", "## Target 3: Ray (head + one worker) against in-process", "",
                  f"Two searches of {ray['budget_s'] / 60:g} min each, from empty folders, the main search's "
                  f"settings on `{r['compare_data']}` (runs of 32 frames): in-process "
                  f"{ray['in_process_trials']} trials ({ray['in_process_trained']} trained), "
                  f"Ray {ray['ray_trials']} trials ({ray['ray_trained']} trained).", "",
                  f"Trial rate: in-process {ray['in_process_per_hour']:.1f}/h, Ray {ray['ray_per_hour']:.1f}/h: "
                  f"ratio **{ray['ratio']:.2f}**. Trained on {', '.join(ray['ray_nodes_trained'])}; timed on "
                  f"{', '.join(ray['ray_nodes_timed'])}."]
    ts = r["test_split"]
    lines += ["", "## The test split never steered", "",
              f"The search read the test split only after its last trial had ended (read after the search: "
              f"{ts['read_after_the_search']}); every choice used validation only. The recommendation recomputed from "
              f"the trials' validation figures alone is trial #{ts['recommendation_from_validation_only']} "
              f"(same choice: {ts['same_choice']}): hiding the test split would not change it.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
