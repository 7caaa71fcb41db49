"""Does the tf.data input pipeline keep the model busy? Training on it against training on in-memory arrays.

Both sides train the same model (same architecture, seed, batch size, epochs) on the same images:

- ``pipeline``: :func:`convbench.train.make_dataset` (uint8 cache, seeded shuffle, normalise, batch, prefetch),
  as :func:`convbench.train.train` uses it;
- ``in_memory``: the images already resized and normalised into one float32 array, given to ``model.fit``.

The first epoch of every fit (tracing, warm-up) is left out; the rest are timed per epoch. The two sides
alternate, ``--repeats`` times each, so that a change in machine load hits both. The claim to check:
the pipeline's median epoch is within 10 % of the in-memory one. Results go to
``benchmarks/results/pipeline_speed.json`` and ``.md``.

Usage:
    python benchmarks/pipeline_speed.py [--data SPEC] [--arch mobilenet_v2 --width 0.35 --input-size 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from convbench.data import Preprocessing, Split, load
from convbench.env import environment
from convbench.io import write_json, write_text
from convbench.models import build, defaults
from convbench.train import make_dataset
from convbench.train.pipeline import steps_per_epoch

ROOT = Path(__file__).resolve().parents[1]
DATA = f"fruits360:{ROOT.parent / 'shared' / 'data' / 'fruits-360-apples-pears.zip'}"
TOLERANCE = 0.10  # the pipeline may be at most this much slower than in-memory training


class EpochTimes(keras.callbacks.Callback):
    """Wall time of every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._started)


def fit_seconds(source: str, split: Split, preprocessing: Preprocessing, args: argparse.Namespace,
                num_classes: int) -> list[float]:
    """Epoch times (first epoch left out) of one training run fed from ``source``."""
    keras.utils.set_random_seed(0)
    model = build(args.arch, preprocessing.input_shape, num_classes, width=args.width)
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimes()
    if source == "pipeline":
        batches = make_dataset(split, preprocessing, batch_size=args.batch_size, shuffle=True, seed=0,
                               epochs=args.epochs)
        model.fit(batches, epochs=args.epochs, steps_per_epoch=steps_per_epoch(split, args.batch_size),
                  callbacks=[timer], shuffle=False, verbose=0)
    else:
        images = preprocessing(split.images)  # (N, H, W, C) float32, ready for the model
        model.fit(images, split.labels, batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
                  callbacks=[timer], verbose=0)
    return timer.seconds[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DATA, help=f"data spec (default: {DATA})")
    parser.add_argument("--arch", default="mobilenet_v2", help="architecture (default: mobilenet_v2)")
    parser.add_argument("--width", type=float, default=0.35, help="width multiplier (default: 0.35)")
    parser.add_argument("--input-size", type=int, default=32, help="input side in pixels (default: 32)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit, the first not timed (default: 3)")
    parser.add_argument("--repeats", type=int, default=3, help="fits per side, alternating (default: 3)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                        help="where pipeline_speed.json/.md go (default: benchmarks/results)")
    args = parser.parse_args()

    dataset = load(args.data)
    arch_defaults = defaults(args.arch)
    preprocessing = Preprocessing((args.input_size, args.input_size), channels=dataset.image_shape[2],
                                  scale=arch_defaults.scale, offset=arch_defaults.offset)
    load_before = os.getloadavg()
    epochs: dict[str, list[float]] = {"pipeline": [], "in_memory": []}
    for repeat in range(args.repeats):
        for source in epochs:
            seconds = fit_seconds(source, dataset.train, preprocessing, args, dataset.num_classes)
            epochs[source] += seconds
            print(f"repeat {repeat + 1}/{args.repeats} {source}: epochs {', '.join(f'{s:.2f}' for s in seconds)} s",
                  flush=True)
    load_after = os.getloadavg()
    medians = {source: statistics.median(seconds) for source, seconds in epochs.items()}
    ratio = medians["pipeline"] / medians["in_memory"]
    result = {
        "benchmark": "pipeline_speed", "data": args.data, "images": len(dataset.train),
        "config": {k: v for k, v in vars(args).items() if k not in ("data", "results")},
        "epoch_seconds": epochs, "median_epoch_seconds": medians, "ratio": ratio, "tolerance": TOLERANCE,
        "within_tolerance": ratio <= 1 + TOLERANCE, "load_average_before": load_before,
        "load_average_after": load_after, "environment": environment()}
    write_json(args.results / "pipeline_speed.json", result)
    write_text(args.results / "pipeline_speed.md", _markdown(result))
    print(f"pipeline / in-memory = {ratio:.3f} (within {TOLERANCE:.0%}: {result['within_tolerance']})")


def _markdown(result: dict[str, Any]) -> str:
    config, env = result["config"], result["environment"]
    rows = [f"| {source} | {len(seconds)} | {statistics.median(seconds):.3f} | {min(seconds):.3f} "
            f"| {np.percentile(seconds, 75) - np.percentile(seconds, 25):.3f} |"
            for source, seconds in result["epoch_seconds"].items()]
    busy = result["load_average_before"][0]
    return "\n".join([
        "# Training input pipeline vs data already in memory",
        "",
        f"{config['arch']} α{config['width']} at {config['input_size']}x{config['input_size']}, batch "
        f"{config['batch_size']}, on `{result['data']}` ({result['images']:,} training images); "
        f"{config['repeats']} fits per side, alternating, {config['epochs']} epochs each, first epoch not timed.",
        "",
        "| input | timed epochs | median epoch (s) | fastest (s) | IQR (s) |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"**Pipeline / in-memory median epoch: {result['ratio']:.3f}** (target ≤ {1 + result['tolerance']:.2f}: "
        f"{'met' if result['within_tolerance'] else 'NOT met'}).",
        "",
        f"Machine: {env['cpu']}, {env['cores']} cores; TensorFlow "
        f"{env['libraries'].get('tensorflow-cpu', env['libraries'].get('tensorflow', '?'))}. "
        f"Load average (1/5/15 min) before: {', '.join(f'{v:.2f}' for v in result['load_average_before'])}; "
        f"after: {', '.join(f'{v:.2f}' for v in result['load_average_after'])} — the machine was "
        f"{'idle' if busy < 0.5 else 'shared with other work'} when the run started.",
        "",
    ])


if __name__ == "__main__":
    main()
