"""Early exit vs baseline accuracy, paired (issue 14, item 6): same data, same budget, same seeds.

For each pair (MNIST / Omniglot at 57 % redundancy, CIFAR-10 / GTSRB at 28.6 %: the pairs of
``benchmarks/early_exit.py``) and each seed, :func:`convbench.early_exit.training.train_early_exit` trains the
early-exit VGG-19 (exit after block 1) and its baseline (the same VGG-19 without the exit, same C classes) on
the same mix, splits, width, training images, epochs, batch size, patience and seed. Validation (a seeded,
stratified tenth of the training part) alone steers training: early stopping on it, and the exit threshold
(0.5, or calibrated on it with ``--max-false-exit``). The test split is scored once, at the end: the
early-exit model under its deployed decision rule, the baseline by its argmax over the C classes.

Reported per pair: test images, both accuracies, their difference with a 95 % bootstrap CI over images and
McNemar's exact test, per seed and pooled over seeds (:mod:`convbench.early_exit.accuracy`). Targets:
early exit ≥ baseline on every pair (the pooled difference ≥ 0), and ≥ 99.3 % on MNIST / Omniglot (the
reference study's baseline).

Budgets (``--budget``; any of ``--width``, ``--max-train``, ``--epochs``, ``--patience``, ``--seeds``,
``--augment`` overrides):

- ``quick``: smoke test (600 images, 1 epoch, 1 seed);
- ``study``: what the ``mnist-omniglot-early-exit`` study trains (width 0.25, 12,000 training images, ≤ 10
  epochs, patience 3), 3 seeds: ~10 min per seed and pair on 2 cores (its one run gave 98.9 % early exit
  against 99.3 % baseline on MNIST / Omniglot: short of the target);
- ``full``: width 0.25, every training image of the mix (24,316 for MNIST / Omniglot, bounded by Omniglot's
  share at 57 % redundancy; 35,014 for CIFAR-10 / GTSRB), ≤ 15 epochs, patience 4, 3 seeds: at most ~30 min
  per seed for MNIST / Omniglot and ~40 min for CIFAR-10 / GTSRB on 2 cores (estimated from the ~2.6 ms per
  training image, epoch and model that ``benchmarks/early_exit.py``'s recorded run implies; early
  stopping shortens it).

``--augment`` trains both models of a pair on randomly flipped and shifted images. Without it, the CIFAR-10 /
GTSRB models overfit from about epoch 8 (training accuracy 0.91–0.93 against validation 0.79–0.80 at the best
epoch), so which epoch early stopping keeps decides more than the exit does. With it, training and validation
accuracy stay level through 15 epochs (seed 0's early-exit model: 0.82 and 0.82 at epoch 14). A flipped digit is
no longer a digit, so MNIST / Omniglot trains without.

``--l1-weight`` sets the exit loss's weight (the reference: 1). A variant (``--l1-weight``, ``--max-false-exit``)
reuses the baseline the reference run of the same pair, budget and seed trained: the baseline does not depend on
either, and its checkpoint resumes only the very same run.

Trained models stay in ``--runs`` (one folder per pair, budget and seed; an existing one is reused, so an
interrupted run continues where it stopped). Writes ``benchmarks/results/early_exit_accuracy.{json,md}``; each
pair records its own budget, and a run of some ``--pairs`` keeps the other pairs' results already in the file, so
pairs may be run one at a time with different budgets.

Usage:
    nohup nice -n 5 python benchmarks/early_exit_accuracy.py --budget full --pairs mnist/omniglot \
        > runs/early_exit_accuracy.log 2>&1 &
    nohup nice -n 5 python benchmarks/early_exit_accuracy.py --budget full --augment --pairs cifar10/gtsrb \
        > runs/early_exit_accuracy_cifar.log 2>&1 &
    python benchmarks/early_exit_accuracy.py --budget quick --pairs mnist/omniglot   # smoke test
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from early_exit_pairs import PAIRS, Pair

from convbench.checks import TrainingOptions, calibration_goal
from convbench.data import held_out_mix
from convbench.early_exit.accuracy import PairedComparison, paired_comparison, pooled_comparison
from convbench.early_exit.evaluation import TrainedFolder
from convbench.early_exit.measurement import decide
from convbench.early_exit.training import BASELINE_DIR, MixOptions, NetworkOptions, train_early_exit
from convbench.env import environment
from convbench.io import read_json, write_json, write_text
from convbench.models.early_exit import EXIT_OUTPUT, EXIT_REDUNDANT, MAIN_OUTPUT
from convbench.report.document import Document, Paragraph, Section, Table
from convbench.report.markdown import render_markdown
from convbench.train.evaluation import keras_probabilities, load_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BATCH_SIZE = 64  # as the study trains


@dataclass(frozen=True)
class Budget:
    """What each model of a pair gets: the same for the early-exit model and its baseline."""

    width: float
    max_train: int | None  # None: every training image of the mix
    epochs: int
    patience: int
    seeds: tuple[int, ...]
    augment: bool = False  # random flips and shifts of the training images (convbench.train.pipeline)

    @property
    def tag(self) -> str:
        return f"w{self.width:g}-n{self.max_train or 'all'}-e{self.epochs}-p{self.patience}{'-aug' * self.augment}"


BUDGETS = {"quick": Budget(0.25, 600, 1, 1, (0,)), "study": Budget(0.25, 12000, 10, 3, (0, 1, 2)),
           "full": Budget(0.25, None, 15, 4, (0, 1, 2))}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data folder")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "early_exit_accuracy", help="trained models")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="study", help="preset budget (study)")
    parser.add_argument("--width", type=float, help="width multiplier of both networks (from --budget)")
    parser.add_argument("--max-train", type=int, help="training mix cap, stratified; 0: all (from --budget)")
    parser.add_argument("--epochs", type=int, help="most epochs per model (from --budget)")
    parser.add_argument("--patience", type=int, help="early-stopping patience on validation (from --budget)")
    parser.add_argument("--augment", action="store_true", default=None,
                        help="train both models on randomly flipped and shifted images (from --budget: no)")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds: one training run of both models each "
                                                             "(from --budget)")
    parser.add_argument("--max-false-exit", type=float,
                        help="calibrate the exit threshold on validation: at most this share of main images exits "
                             "(default: threshold 0.5)")
    parser.add_argument("--l1-weight", type=float, default=1.0,
                        help="weight of the exit loss L1 in L = w·L1 + δ·L2 (the reference: 1)")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (10000)")
    parser.add_argument("--pairs", nargs="*", default=[p.name for p in PAIRS], help="pairs to run")
    return parser.parse_args()


def budget_of(args: argparse.Namespace) -> Budget:
    """The ``--budget`` preset with the options given on the command line in place of its own."""
    overrides = {"width": args.width, "epochs": args.epochs, "patience": args.patience, "augment": args.augment,
                 "seeds": tuple(args.seeds) if args.seeds else None}
    chosen = replace(BUDGETS[args.budget], **{k: v for k, v in overrides.items() if v is not None})
    if args.max_train is not None:
        chosen = replace(chosen, max_train=args.max_train or None)  # 0: every training image
    return chosen


def main() -> None:
    args = parse_args()
    budget = budget_of(args)
    started = time.perf_counter()
    suffix = "" if args.budget != "quick" else "_quick"
    path = RESULTS / f"early_exit_accuracy{suffix}.json"
    ran = {pair.name: run_pair(pair, budget, args) for pair in PAIRS if pair.name in args.pairs}
    kept = {p["pair"]: p for p in (read_json(path)["pairs"] if path.is_file() else []) if p["pair"] not in ran}
    pairs = [ran.get(pair.name) or kept[pair.name] for pair in PAIRS if pair.name in ran or pair.name in kept]
    report = {"pairs": pairs, "targets": targets(pairs), "wall_seconds": round(time.perf_counter() - started, 1),
              "environment": environment()}
    write_json(path, report)
    write_text(path.with_suffix(".md"), markdown(report))
    log(f"wrote {path} and .md in {report['wall_seconds']} s")


def run_pair(pair: Pair, budget: Budget, args: argparse.Namespace) -> dict[str, Any]:
    """Train (or reuse) both models per seed, score each on its test split once, and compare them paired."""
    seeds, outcomes = [], []
    for seed in budget.seeds:
        reference = args.runs / f"{pair.name.replace('/', '-')}-{budget.tag}-s{seed}"
        folder = reference.with_name(reference.name + variant_tag(args))
        if not (folder / "training.json").is_file():  # written last: both models are trained
            log(f"== {pair.name} seed {seed}: training in {folder}")
            reuse_baseline(reference, folder)
            training = TrainingOptions(width=budget.width, epochs=budget.epochs, batch_size=BATCH_SIZE,
                                       patience=budget.patience, seed=seed, input_size=32, channels=pair.channels,
                                       augment=budget.augment)
            train_early_exit(pair.main.format(data=args.data), pair.redundant.format(data=args.data), out=folder,
                             network=NetworkOptions(l1_weight=args.l1_weight), training=training,
                             mix=MixOptions(pair.redundancy, max_train=budget.max_train),
                             calibration=calibration_goal(args.max_false_exit, None), progress=False)
        else:
            log(f"== {pair.name} seed {seed}: reusing {folder}")
        early, base, facts = score(folder)
        outcomes.append((early, base))
        comparison = paired_comparison(early, base, resamples=args.resamples, seed=seed)
        seeds.append({"seed": seed, "folder": str(folder), **facts, "comparison": comparison.to_dict()})
        log(f"   {summary_line(comparison)}")
    pooled = pooled_comparison(outcomes, resamples=args.resamples)
    log(f"== {pair.name} pooled over {len(outcomes)} seed(s): {summary_line(pooled)}")
    return {"pair": pair.name, "redundancy": pair.redundancy, "reference_accuracy": pair.reference,
            "budget": {**vars(budget), "seeds": list(budget.seeds), "batch_size": BATCH_SIZE,
                       "max_false_exit": args.max_false_exit, "l1_weight": args.l1_weight,
                       "resamples": args.resamples},
            "seeds": seeds, "pooled": pooled.to_dict(),
            "wall_seconds": round(sum(s["training_seconds"] for s in seeds), 1),
            "environment": environment()}


def variant_tag(args: argparse.Namespace) -> str:
    """What sets the early-exit model apart from the reference's (threshold 0.5, L1 weight 1), for its folder name."""
    return (("" if args.max_false_exit is None else f"-fe{args.max_false_exit:g}")
            + ("" if args.l1_weight == 1 else f"-l1w{args.l1_weight:g}"))


def reuse_baseline(reference: Path, folder: Path) -> None:
    """Start ``folder`` with the baseline the ``reference`` folder trained (same pair, budget and seed): the
    baseline does not depend on the exit's threshold or loss weight, so a variant's pair shares it rather than
    training it again. Its checkpoint resumes only the very same run (:mod:`convbench.train.checkpoint` checks the
    identity), so a baseline trained differently is refused, never reused."""
    source, target = reference / BASELINE_DIR, folder / BASELINE_DIR
    if folder != reference and (reference / "training.json").is_file() and not target.exists():
        log(f"   baseline reused from {reference}")
        shutil.copytree(source, target)


def score(folder: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Per test image: is the early-exit model right (deployed rule), is the baseline right; and what they cost."""
    trained = TrainedFolder.open(folder)
    test = held_out_mix(*trained.pools(), trained.mix.redundancy, trained.mix.seed)  # the training's test split
    early, card = load_model(trained.model)
    baseline, _ = load_model(trained.baseline)
    x = card.preprocessing(test.images)
    outputs = early.predict(x, batch_size=256, verbose=0)
    predicted = decide(outputs[EXIT_OUTPUT][:, EXIT_REDUNDANT], outputs[MAIN_OUTPUT], early.threshold)
    baseline_predicted = np.argmax(keras_probabilities(baseline, x), axis=1)
    redundant = len(card.class_names) - 1
    report = read_json(folder / "training.json")
    exits = predicted == redundant
    facts = {"test_images": len(test), "redundant_images": int(np.sum(test.labels == redundant)),
             "threshold": early.threshold, "exit_accuracy": float(np.mean(exits == (test.labels == redundant))),
             "train_images": report["sizes"]["train"], "training_seconds": report["wall_seconds"],
             "epochs_run": {k: report[k]["epochs_run"] for k in ("early_exit", "baseline")},
             "best_epoch": {k: report[k]["best_epoch"] for k in ("early_exit", "baseline")},
             "val_accuracy": {k: report[k]["val_accuracy"] for k in ("early_exit", "baseline")}}
    early_right, base_right = predicted == test.labels, baseline_predicted == test.labels
    recorded = (report["early_exit"]["test_accuracy"], report["baseline"]["test_accuracy"])
    if not np.allclose(recorded, (early_right.mean(), base_right.mean()), atol=1e-6):  # the same split, scored twice
        raise RuntimeError(f"{folder}: test accuracies {early_right.mean():.6f}, {base_right.mean():.6f} differ from "
                           f"the ones training recorded {recorded}: not the training's test split")
    return early_right, base_right, facts


def targets(pairs: list[dict[str, Any]]) -> dict[str, bool]:
    """Early exit ≥ baseline per pair (pooled difference ≥ 0); ≥ the reference accuracy where the pair has one
    (the mean over seeds, and every seed)."""
    result = {f"{p['pair']}: early exit >= baseline": p["pooled"]["difference"] >= 0 for p in pairs}
    for p in (p for p in pairs if p["reference_accuracy"] is not None):
        reference, accuracies = p["reference_accuracy"], [s["comparison"]["accuracy_a"] for s in p["seeds"]]
        result[f"{p['pair']}: early exit >= {reference:.1%}, mean over seeds"] = p["pooled"]["accuracy_a"] >= reference
        result[f"{p['pair']}: early exit >= {reference:.1%}, every seed"] = min(accuracies) >= reference
    return result


def markdown(report: dict[str, Any]) -> str:
    rows = []
    for p in report["pairs"]:
        for s in p["seeds"]:
            epochs = f"{s['epochs_run']['early_exit']} / {s['epochs_run']['baseline']}"
            rows.append(_row(p["pair"], f"seed {s['seed']}", PairedComparison(**s["comparison"]),
                             f"{s['train_images']}", epochs))
        seeds = f"{len(p['seeds'])} seed{'s' * (len(p['seeds']) > 1)}"
        rows.append(_row(p["pair"], f"pooled ({seeds})", PairedComparison(**p["pooled"]), "", ""))
    table = Table(["pair", "run", "test images", "early exit", "baseline", "difference [95 % CI]",
                   "only EE / only base", "McNemar p", "training images", "epochs run (EE / base)"], rows,
                  align="llrrrrrrrr",
                  caption="Accuracy over the C classes on the test split (early exit under its deployed decision rule)")
    budgets = [Paragraph(f"**{p['pair']}**: width {b['width']:g}, training mix {b['max_train'] or 'uncapped'} "
                         f"images, at most {b['epochs']} epochs (early stopping on validation accuracy, patience "
                         f"{b['patience']}), {'flip and shift augmentation, ' * b.get('augment', False)}"
                         f"batch {b['batch_size']}, seeds {', '.join(map(str, b['seeds']))}; "
                         f"threshold {'calibrated on validation' if b['max_false_exit'] else '0.5'}; exit loss weight "
                         f"{b.get('l1_weight', 1.0):g} (L = w·L1 + δ·L2); training "
                         f"{p['wall_seconds'] / 60:.0f} min in all on {p['environment'].get('cpu', '?')}, "
                         f"{p['environment'].get('cores', '?')} cores.")
               for p in report["pairs"] for b in (p["budget"],)]
    note = ("Same data, splits, budget and seed for both models of a pair; the test split scored once, at the end. "
            "Pooled: the mean over seeds of the paired differences, bootstrap stratified by seed (95 %).")
    targets_text = "; ".join(f"{k}: {'met' if met else 'NOT met'}" for k, met in report["targets"].items())
    doc = Document("Early exit vs baseline: paired accuracy", note,
                   [Section("Results", [table]), Section("Budgets", budgets),
                    Section("Targets", [Paragraph(targets_text)])])
    return render_markdown(doc, RESULTS)


def _row(pair: str, run: str, c: PairedComparison, train: str, epochs: str) -> list[str]:
    return [pair, run, f"{c.images:,}", pct(c.accuracy_a), pct(c.accuracy_b),
            f"{100 * c.difference:+.2f} pp [{100 * c.ci_low:+.2f}, {100 * c.ci_high:+.2f}]", f"{c.only_a} / {c.only_b}",
            "—" if c.mcnemar_p is None else f"{c.mcnemar_p:.3g}", train, epochs]


def summary_line(c: PairedComparison) -> str:
    return (f"early exit {pct(c.accuracy_a)} vs baseline {pct(c.accuracy_b)} on {c.images} images: "
            f"{100 * c.difference:+.2f} pp [{100 * c.ci_low:+.2f}, {100 * c.ci_high:+.2f}]")


def pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


if __name__ == "__main__":
    main()
