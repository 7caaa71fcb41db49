"""Early-exit savings up to the ideal (issue 14, item 5): where the saving short of the analytic ideal goes.

For each pair (MNIST / Omniglot at 57 % redundancy, CIFAR-10 / GTSRB at 28.6 %: the pairs and mixes of
``benchmarks/early_exit.py``) and both deployed forms (one ``.tflite`` with an ``IF`` op; two chained
segments), at batch 1 in LiteRT, 1 thread:

1. **The per-path breakdown** (:mod:`convbench.early_exit.paths`): the exit path (a test image that exits),
   the continue path (one that does not), each part alone (stem, exit head, rest, and the backbone without
   the exit, from the same weights) and the chained form's copy of the features, all timed in interleaved
   rounds (every item once per round, in a fresh shuffled order) so that drift hits every item alike.
2. **The measured saving** on the test mix, one call per image, as a deployment sees it: the mix is timed in
   interleaved rounds, each model processing the stream by itself in chunks of 50 images, the two taking turns
   chunk by chunk in a seeded shuffled order, so that drift hits both alike (each image's time is its median over
   the rounds: :func:`convbench.early_exit.measurement.time_mix`).
3. **Where the missing saving goes**: the ideal at the study's redundancy minus the measured saving, split into
   rows that add up to it exactly (the parts' time shares against their MAC shares, the cut, each path's
   overhead, the copy, exits that do not match the redundancy, and the mix's distinct images vs the paths' one
   image called over and over).

Target: measured saving ≥ 0.9 of the ideal for both pairs and both forms.

Models (``--models WIDTH:HEAD …``): the width multiplier α of both networks, and the exit head: the exit block's
hidden Dense layers (default VGG-19's fc1, fc2 scaled by the width, ``none`` for MaxPool, Flatten and the softmax
Dense alone, as the reference study describes its exit block). At batch 1 a Dense layer reads each weight once, so the
head runs far slower than its MAC share (2.1 % of the backbone's time against 0.6 % of its MACs in the 4d5936f run)
and every image pays it. The width matters for the same reason: what every call pays whatever the network (the
branch's glue ops, the ``IF`` op, a delegate partition's entry, the memory-bound first convolutions) weighs more in a
network a quarter wide (0.3 ms per image at 32 px) than in one half wide, and the reference study's VGG-19 is full
width. Several models are trained and timed in one run.

Trained models: the ones ``benchmarks/early_exit.py`` trained (``runs/early_exit/<pair>-reference-polarity-w<width>``)
are reused when present; otherwise they are trained there with the same settings (stated budget: training mix capped
at 8,000 images, at most 6 epochs, patience 2, seed 0: ~4-6 min per pair on 2 cores at width 0.25).
Writes ``benchmarks/results/early_exit_savings.{json,md}``. Timing needs an idle machine: the load average
around each timing is recorded and the report says when it was busy.

Usage:
    nohup nice -n 5 python benchmarks/early_exit_savings.py --models 0.25:512,512 0.25:none 0.5:none \
        > runs/savings.log 2>&1 &
    python benchmarks/early_exit_savings.py --quick        # smoke test: tiny training, few images, short timing
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from early_exit_pairs import PAIRS, Pair

from convbench.checks import TrainingOptions
from convbench.cli.early_exit_cmd import parse_exit_head
from convbench.data import held_out_mix
from convbench.early_exit.evaluation import TrainedFolder, export_for_evaluation
from convbench.early_exit.measurement import MIX_CHUNK, time_mix
from convbench.early_exit.paths import PARTS, PartRunners, path_images, time_breakdown
from convbench.early_exit.training import MixOptions, NetworkOptions, train_early_exit
from convbench.env import environment
from convbench.export.early_exit import export_parts
from convbench.io import write_json, write_text
from convbench.report.document import Document, Paragraph, Section, Table
from convbench.report.early_exit_paths import missing_table, timings_table
from convbench.report.markdown import render_markdown
from convbench.runtime import open_runner
from convbench.runtime.early_exit import open_early_exit_runner
from convbench.vocabulary import DEFAULT_EXIT_HEAD

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SAVING_TARGET = 0.9  # measured saving / analytic ideal
BUSY_LOAD = 1.5  # a 1-minute load average above this on 2 cores: other processes competed with the timing
FORMS = ("single", "chained")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data folder")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "early_exit",
                        help="trained models (those of benchmarks/early_exit.py are reused)")
    parser.add_argument("--epochs", type=int, default=6, help="most epochs when training (6)")
    parser.add_argument("--patience", type=int, default=2, help="early-stopping patience when training (2)")
    parser.add_argument("--max-train", type=int, default=8000, help="training mix cap when training (8000)")
    parser.add_argument("--threads", type=int, default=1, help="LiteRT threads (1)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds of the breakdown (7)")
    parser.add_argument("--calls", type=int, default=700, help="timed calls per item over all rounds, at least (700)")
    parser.add_argument("--seconds", type=float, default=3.5,
                        help="timed seconds per item over all rounds, at least (3.5)")
    parser.add_argument("--limit", type=int, default=1000, help="test-mix images timed one by one (1000)")
    parser.add_argument("--repeats", type=int, default=11,
                        help="interleaved rounds of the test-mix streams: timed calls per image (11)")
    parser.add_argument("--pairs", nargs="*", default=[p.name for p in PAIRS], help="pairs to run")
    parser.add_argument("--models", nargs="+", type=parse_model, default=[(0.25, DEFAULT_EXIT_HEAD)],
                        help="models to train and time, each WIDTH:HEAD: the width multiplier and the exit head's "
                             "hidden units comma-separated or 'none' (default: "
                             f"0.25:{_head_text(DEFAULT_EXIT_HEAD)}, VGG-19's fc1, fc2 at a quarter of its width)")
    parser.add_argument("--train-only", action="store_true",
                        help="train (or reuse) the models and stop: training may share the machine, timing may not")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny training, few images, short timing")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.quick:
        args.epochs, args.max_train, args.limit, args.repeats = 1, 600, 60, 1
        args.rounds, args.calls, args.seconds = 2, 10, 0.0
        args.runs = args.runs.with_name(args.runs.name + "_quick")
    started = time.perf_counter()
    if args.train_only:
        for pair, model in ((pair, model) for pair in PAIRS if pair.name in args.pairs for model in args.models):
            trained_folder(pair, *model, args)
        return
    pairs = [run_pair(pair, *model, args) for pair in PAIRS if pair.name in args.pairs for model in args.models]
    report = {"pairs": pairs, "targets": targets(pairs),
              "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "wall_seconds": round(time.perf_counter() - started, 1), "environment": environment()}
    suffix = "_quick" if args.quick else ""
    write_json(RESULTS / f"early_exit_savings{suffix}.json", report)
    write_text(RESULTS / f"early_exit_savings{suffix}.md", markdown(report, pairs))
    log(f"wrote {RESULTS / f'early_exit_savings{suffix}.json'} and .md in {report['wall_seconds']} s")


def parse_model(text: str) -> tuple[float, tuple[int, ...]]:
    """``--models``'s ``WIDTH:HEAD`` → ``(width, head)``: ``0.5:none`` → ``(0.5, ())``."""
    width, _, head = text.partition(":")
    try:
        return float(width), parse_exit_head(head or _head_text(DEFAULT_EXIT_HEAD))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTH:HEAD (e.g. 0.25:512,512 or 0.5:none), got {text!r}") \
            from None


def trained_folder(pair: Pair, width: float, head: tuple[int, ...], args: argparse.Namespace) -> tuple[Path, bool]:
    """The folder of the pair's models at this width with this exit head, trained now unless it already holds them;
    and whether they were reused."""
    suffix = "" if head == DEFAULT_EXIT_HEAD else f"-head-{_head_text(head).replace(',', '-')}"
    folder = args.runs / f"{pair.name.replace('/', '-')}-reference-polarity-w{width:g}{suffix}"
    reused = (folder / "training.json").is_file()  # written last: both models are trained
    log(f"== {pair.name}, width {width:g}, exit head {_head_text(head)}: {'reusing' if reused else 'training'} "
        f"{folder}")
    if not reused:
        train_early_exit(pair.main.format(data=args.data), pair.redundant.format(data=args.data), out=folder,
                         network=NetworkOptions(exit_head=head),
                         training=TrainingOptions(width=width, input_size=32, channels=pair.channels,
                                                  epochs=args.epochs, patience=args.patience),
                         mix=MixOptions(pair.redundancy, max_train=args.max_train), progress=False)
    return folder, reused


def run_pair(pair: Pair, width: float, head: tuple[int, ...], args: argparse.Namespace) -> dict[str, Any]:
    """Train or reuse the pair's models at this width with this exit head, export both forms, the parts and the
    baseline, and time everything."""
    folder, reused = trained_folder(pair, width, head, args)
    trained = TrainedFolder.open(folder)
    pools = trained.pools()
    out = folder / "savings"
    files = export_for_evaluation(trained, pools, out, FORMS)
    part_files = export_parts(trained.model, out / "parts")
    runners = [open_early_exit_runner(files.forms[form], threads=args.threads) for form in FORMS]
    parts = PartRunners(*(open_runner(getattr(part_files, name), threads=args.threads) for name in PARTS))
    baseline = open_runner(files.baseline, threads=args.threads)
    for runner in (*runners, *vars(parts).values(), baseline):
        runner.load()
    test = held_out_mix(*pools, trained.mix.redundancy, trained.mix.seed, args.limit)
    images = runners[0].card.preprocessing(test.images)
    redundant = test.labels == len(runners[0].card.class_names) - 1

    log("-- breakdown (interleaved rounds)")
    load_before = os.getloadavg()[0]
    breakdown = time_breakdown(runners, parts, path_images(runners[0], images), rounds=args.rounds, runs=args.calls,
                               min_seconds=args.seconds)
    forms, analyses = {}, []
    for runner in runners:
        log(f"-- {runner.form}: {len(images)} test-mix images in rounds, chunk by chunk with the baseline")
        mix = time_mix(runner, baseline, images, args.repeats)
        summary = mix.summary()
        analysis = breakdown.analyse(runner.form, trained.mix.redundancy, exit_fraction=float(mix.exited.mean()),
                                     measured=summary["saving"])
        analyses.append(analysis)
        forms[runner.form] = {"mix": summary, "exit_accuracy": float(np.mean(mix.exited == redundant)),
                              "analysis": analysis.to_dict()}
        log(f"   saving {pct(summary['saving'])} measured, {pct(analysis.from_paths)} from the paths, ideal "
            f"{pct(analysis.ideal)}: {ratio(analysis.ratio)} of it")
    return {"pair": pair.name, "width": width, "exit_head": _head_text(head), "folder": str(folder), "reused": reused,
            "redundancy": trained.mix.redundancy,
            "images": len(images), "budget": _budget(folder), "breakdown": breakdown.to_dict(samples=False),
            "forms": forms,
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "tables": {"timings": _table(timings_table(breakdown)), "missing": _table(missing_table(analyses))}}


def _budget(folder: Path) -> dict[str, Any]:
    """What the reused or trained models cost: width, training images and epochs run (from ``training.json``)."""
    from convbench.io import read_json

    report = read_json(folder / "training.json")
    return {"width": report["width"], "train_images": report["sizes"]["train"],
            "epochs_run": {k: report[k]["epochs_run"] for k in ("early_exit", "baseline")}}


def _table(table: Table) -> dict[str, Any]:
    return {"columns": table.columns, "rows": table.rows, "align": table.alignment(), "caption": table.caption}


def targets(pairs: list[dict[str, Any]]) -> dict[str, bool]:
    """Measured saving ≥ 0.9 of the ideal, per pair, width, exit head and form."""
    return {_target_key(p, form): (f["analysis"]["ratio"] or 0) >= SAVING_TARGET
            for p in pairs for form, f in p["forms"].items()}


def _target_key(p: dict[str, Any], form: str) -> str:
    return f"{p['pair']} width {p['width']:g} head {p['exit_head']} {form}"


def _head_text(head: tuple[int, ...]) -> str:
    """``(512, 512)`` → ``512,512``; ``()`` → ``none`` (the bare exit block: MaxPool, Flatten, softmax Dense)."""
    return ",".join(map(str, head)) or "none"


def markdown(report: dict[str, Any], pairs: list[dict[str, Any]]) -> str:
    summary = Table(["pair", "width", "exit head", "form", "redundancy r", "exiting f", "ideal", "from paths",
                     "measured", "measured / ideal", "paths / ideal", "target ≥ 0.9"],
                    [[p["pair"], f"{p['width']:g}", p["exit_head"], form, f"{a['redundancy']:.3f}",
                      f"{a['exit_fraction']:.3f}", pct(a["ideal"]),
                      pct(a["from_paths"]), pct(a["measured"]), ratio(a["ratio"]),
                      ratio(a["from_paths"] / a["ideal"] if a["ideal"] > 0 else None),
                      "met" if report["targets"][_target_key(p, form)] else "NOT met"]
                     for p in pairs for form, f in p["forms"].items() for a in (f["analysis"],)],
                    caption="Saving against the analytic ideal, batch 1, LiteRT 1 thread")
    sections = [Section("Summary", [summary])]
    for p in pairs:
        busy = max(p["load_average"]) > BUSY_LOAD
        sections.append(Section(f"{p['pair']}, width {p['width']:g}, exit head {p['exit_head']} "
                                f"(r = {p['redundancy']:.3f}, {p['images']} test-mix images)", [
            Paragraph(f"Models {'reused from' if p['reused'] else 'trained in'} `{Path(p['folder']).name}`: width "
                      f"{p['budget']['width']:g}, {p['budget']['train_images']} training images, epochs run "
                      f"{p['budget']['epochs_run']}. Load average around the timing "
                      f"{' → '.join(f'{x:.2f}' for x in p['load_average'])} ({'busy' if busy else 'quiet'}); "
                      f"path images took their path by themselves: {p['breakdown']['images']}."),
            *(Table(t["columns"], t["rows"], t["align"], t["caption"]) for t in p["tables"].values())]))
    env, settings = report["environment"], report["settings"]
    note = (f"Breakdown: {settings['rounds']} interleaved rounds, at least {settings['calls']} calls and "
            f"{settings['seconds']} s per item over all rounds; mix: {settings['limit']} images timed in "
            f"{settings['repeats']} rounds, one call per image, each model running the stream by itself in chunks "
            f"of {MIX_CHUNK} images, the two taking turns chunk by chunk in a seeded shuffled order (each chunk "
            f"re-warmed by one untimed call); median per image over the rounds. "
            f"The measured saving is against the trained baseline file (the same VGG-19 without the exit, C "
            f"classes), timed in the same rounds; the breakdown's backbone is "
            f"the early-exit model's own stem + rest in one graph. Machine: {env.get('cpu', '?')}, "
            f"{env.get('cores', '?')} cores; wall time {report['wall_seconds']:.0f} s.")
    return render_markdown(Document("Early exit: where the saving short of the ideal goes", note, sections), RESULTS)


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


if __name__ == "__main__":
    main()
